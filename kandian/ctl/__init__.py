"""``kandianctl``: the operator's command line (PRODUCT.md "kandianctl").

    kandianctl [--config F] migrate
    kandianctl [--config F] user add MOBILE --password P [--max-devices N]
    kandianctl [--config F] user list
    kandianctl [--config F] user set MOBILE --max-devices N
    kandianctl [--config F] user del MOBILE
    kandianctl [--config F] device add DEVID --key KEY [--type 1|2|3] [--model M] [--channels N]
    kandianctl [--config F] device list
    kandianctl [--config F] device logs DEVID [--wait S] [--no-request]
    kandianctl [--config F] firmware add FILE --manufacturer NO --model M --version VER
    kandianctl [--config F] firmware list
    kandianctl [--config F] upgrade start --firmware ID [--devices A,B | --model M] [--batch N] [--max-failures K]
    kandianctl [--config F] upgrade status|pause|resume|cancel ID
    kandianctl [--config F] upgrade list
    kandianctl [--config F] device rotate-ftp DEVID
    kandianctl [--config F] alarm list [--devid DEVID] [--limit N]
    kandianctl [--config F] operator add NAME --password P [--role admin|viewer]
    kandianctl [--config F] group status|report|pending|retry [ID]|drop ID
    kandianctl [--config F] province add CMSNO --province-no P --password PW [--mcu-url U] [--dev-url U]
    kandianctl [--config F] province list
    kandianctl [--config F] client set android|ios|windows --version V --url U
    kandianctl [--config F] client list
    kandianctl [--config F] apikey add NAME [--master] | list | revoke NAME
    kandianctl [--config F] user set MOBILE --alarm-sms on|off
    kandianctl [--config F] device send-key DEVID
    kandianctl [--config F] sms list [--status S] [--limit N]
    kandianctl [--config F] recording list [--devid D] [--channel N] [--from T] [--to T] [--limit N]
    kandianctl [--config F] recording delete ID [ID ...]
    kandianctl [--config F] channel add-proxy --url rtsp://IP[:PORT]/PATH --name NAME
    kandianctl [--config F] channel proxies

One module per command group (:data:`GROUPS`), each adding its sub-commands
with ``add_commands(subparsers)`` and a ``handler(args, ctx, out)`` per
command; *ctx* (:class:`Context`) carries the config, the reactor, the
database and the store over it.  It talks to the same database as the
daemon: the configured ``dsn``, or the embedded server under ``data_dir``
(attached to if the daemon runs, started and stopped around the command
otherwise).  Exit status 0 on success; on failure one line on stderr and
status 1 (2 for a usage error).
"""

from __future__ import annotations

import argparse
import sys

import attrs
from twisted.internet import defer, task
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from ..config import ConfigError, load
from ..store.connector import Store
from ..store.service import StoreError, StoreService
from . import (
    alarms,
    apikeys,
    channels,
    devices,
    firmware,
    group,
    grouprole,
    operators,
    recordings,
    schema,
    sms,
    upgrades,
    users,
)
from .output import CommandError

GROUPS = (schema, users, devices, alarms, operators, group, grouprole, sms, channels, firmware, upgrades, recordings,
          apikeys)

__all__ = ["CommandError", "Context", "main", "run"]


@attrs.define
class Context:
    config: object
    reactor: object
    db: object
    store: Store


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kandianctl", description="Operate a kandian platform.")
    parser.add_argument("--config", "-c", default=None, help="INI configuration file (default: built-in defaults)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log what the store does")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in GROUPS:
        module.add_commands(commands)
    return parser


@defer.inlineCallbacks
def run(reactor, args, out=sys.stdout):
    """Run one parsed command; CommandError for an expected failure."""
    try:
        config = load(args.config, reactor)
    except ConfigError as e:
        raise CommandError("config error: %s" % (e,)) from None
    store = StoreService(config, reactor, owner=False, migrate_on_start=getattr(args, "migrate_on_start", True))
    try:
        db = yield store.start()
    except StoreError as e:
        yield store.stopService()
        raise CommandError(str(e)) from None
    try:
        yield args.handler(args, Context(config=config, reactor=reactor, db=db, store=Store(db)), out)
    finally:
        yield store.stopService()


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
