"""``kandianctl``: the operator's command line (PRODUCT.md "kandianctl").

    kandianctl [--config F] migrate
    kandianctl [--config F] user add MOBILE --password P [--max-devices N]
    kandianctl [--config F] user list
    kandianctl [--config F] device add DEVID --key KEY [--type 1|2|3] [--model M] [--channels N]
    kandianctl [--config F] device list

It talks to the same database as the daemon: the configured ``dsn``, or the
embedded server under ``data_dir`` (attached to if the daemon runs, started
and stopped around the command otherwise).  Exit status 0 on success; on
failure one line on stderr and status 1 (2 for a usage error).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import unicodedata

from twisted.internet import defer, task
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from .config import ConfigError, load
from .core.accounts import Accounts
from .core.errors import AccountExists, BadValue
from .store import migrate as migrations
from .store.devices import DEV_TYPES, DeviceExists, DeviceStore
from .store.service import StoreError, StoreService


class CommandError(Exception):
    """A failure to report in one line."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kandianctl", description="Operate a kandian platform.")
    parser.add_argument("--config", "-c", default=None, help="INI configuration file (default: built-in defaults)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log what the store does")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("migrate", help="apply pending schema migrations")

    user = commands.add_parser("user", help="MCU users").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="create a user")
    add.add_argument("mobile", metavar="MOBILE")
    add.add_argument("--password", help="the password (prompted for when omitted)")
    add.add_argument("--max-devices", type=int, default=4, metavar="N", help="devices the user may bind (default 4)")
    user.add_parser("list", help="list users")

    device = commands.add_parser("device", help="devices").add_subparsers(dest="action", required=True)
    add = device.add_parser("add", help="provision a device")
    add.add_argument("dev_id", metavar="DEVID")
    add.add_argument("--key", required=True, help="the device's DevKey")
    add.add_argument("--type", type=int, choices=sorted(DEV_TYPES), default=1, help="1 IPC, 2 DVR, 3 NVR")
    add.add_argument("--model", default="", help="model (REGISTER_REQ Mode)")
    add.add_argument("--channels", type=int, default=1, metavar="N", help="video channels (default 1)")
    device.add_parser("list", help="list devices")
    return parser


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _width(text: str) -> int:
    # CJK manufacturer names take two terminal columns per character
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(out, header: list[str], rows: list[list[object]]) -> None:
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(_width(cell) for cell in column) for column in zip(*cells)]
    for row in cells:
        out.write("  ".join(cell + " " * (width - _width(cell))
                            for cell, width in zip(row, widths)).rstrip() + "\n")


@defer.inlineCallbacks
def run(reactor, args, out=sys.stdout):
    """Run one parsed command; CommandError for an expected failure."""
    try:
        config = load(args.config, reactor)
    except ConfigError as e:
        raise CommandError("config error: %s" % (e,)) from None
    store = StoreService(config, reactor, owner=False, migrate_on_start=(args.command != "migrate"))
    try:
        db = yield store.start()
    except StoreError as e:
        yield store.stopService()
        raise CommandError(str(e)) from None
    try:
        yield _dispatch(args, db, out)
    finally:
        yield store.stopService()


@defer.inlineCallbacks
def _dispatch(args, db, out):
    if args.command == "migrate":
        applied = yield migrations.migrate(db)
        version = len(migrations.available())
        if applied:
            out.write("applied %s; schema at version %d\n" % (", ".join("%04d" % v for v in applied), version))
        else:
            out.write("schema at version %d; nothing to apply\n" % (version,))
    elif args.command == "user" and args.action == "add":
        password = args.password
        if password is None:
            password = getpass.getpass("password for %s: " % (args.mobile,))
        if not password:
            raise CommandError("the password must not be empty")
        try:
            yield _accounts(db).add(args.mobile, password, args.max_devices)
        except (AccountExists, BadValue) as e:
            raise CommandError(str(e)) from None
        out.write("user %s added\n" % (args.mobile,))
    elif args.command == "user" and args.action == "list":
        users = yield _accounts(db).list()
        _table(out, ["MOBILE", "MAX_DEVICES", "DEVICES", "STATUS", "CREATED"],
               [[u.mobile, u.max_devices, u.devices, u.status, _when(u.created_at)] for u in users])
    elif args.command == "device" and args.action == "add":
        try:
            yield DeviceStore(db).add(args.dev_id, args.key, args.type, args.model, args.channels)
        except (DeviceExists, ValueError) as e:
            raise CommandError(str(e)) from None
        out.write("device %s added\n" % (args.dev_id,))
    elif args.command == "device" and args.action == "list":
        devices = yield DeviceStore(db).list()
        _table(out, ["DEVID", "TYPE", "MODEL", "MANUFACTURER", "CHANNELS", "ONLINE", "FIRMWARE", "LAST_SEEN"],
               [[d.dev_id, DEV_TYPES[d.dev_type], d.model or "-", d.manufacturer or "-", d.channels,
                 "yes" if d.online else "no", d.dev_ver or "-", _when(d.last_seen_at)] for d in devices])


def _accounts(db) -> Accounts:
    """The core's accounts for the operator's commands (no sessions are opened here)."""
    from twisted.internet import reactor

    from .store.connector import Store
    return Accounts(Store(db), reactor, passwords=None, throttle=None, sms=None, session_timeout=0,
                    version_floors={}, sms_interval=0, sms_daily_limit=0)


def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    level = LogLevel.info if args.verbose else LogLevel.warn
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(textFileLogObserver(sys.stderr),
                              [LogLevelFilterPredicate(defaultLogLevel=level)])],
        redirectStandardIO=False)

    status = []

    @defer.inlineCallbacks
    def command(reactor):
        try:
            yield run(reactor, args)
        except CommandError as e:
            sys.stderr.write("kandianctl: %s\n" % (e,))
            status.append(1)
        except Exception as e:
            if args.verbose:
                import traceback
                traceback.print_exc()
            sys.stderr.write("kandianctl: unexpected error: %s\n" % (" ".join(str(e).split()) or type(e).__name__,))
            status.append(1)

    try:
        task.react(command)
    except SystemExit as e:
        if e.code not in (0, None) or not status:
            raise
    sys.exit(status[0] if status else 0)
