"""``kandianctl user …``: MCU users (§8; PRODUCT.md "kandianctl")."""

from __future__ import annotations

import getpass

from twisted.internet import defer

from ..core.accounts import Accounts
from ..core.errors import AccountExists, BadValue, NoSuchAccount
from .group import tell
from .output import CommandError, table, when


def add_commands(commands) -> None:
    user = commands.add_parser("user", help="MCU users").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="create a user")
    add.add_argument("mobile", metavar="MOBILE")
    add.add_argument("--password", help="the password (prompted for when omitted)")
    add.add_argument("--max-devices", type=int, default=4, metavar="N", help="devices the user may bind (default 4)")
    add.set_defaults(handler=add_user)
    user.add_parser("list", help="list users").set_defaults(handler=list_users)
    set_ = user.add_parser("set", help="change a user")
    set_.add_argument("mobile", metavar="MOBILE")
    set_.add_argument("--max-devices", type=int, metavar="N", help="devices the user may bind (§6.3 IpcamNum)")
    set_.add_argument("--alarm-sms", choices=("on", "off"), help="alarm SMS to this user (§7.5.34)")
    set_.set_defaults(handler=set_user)
    delete = user.add_parser("del", help="cancel a user: the account, its sessions and bindings go (§6.4)")
    delete.add_argument("mobile", metavar="MOBILE")
    delete.set_defaults(handler=del_user)


def accounts(ctx) -> Accounts:
    """The core's accounts for the operator's commands (no sessions are opened here)."""
    return Accounts(ctx.store, ctx.reactor, passwords=None, throttle=None, sms=None, session_timeout=0,
                    version_floors={}, sms_interval=0, sms_daily_limit=0, tell_group=bool(ctx.config.group.url))


@defer.inlineCallbacks
def add_user(args, ctx, out):
    password = args.password
    if password is None:
        password = getpass.getpass("password for %s: " % (args.mobile,))
    if not password:
        raise CommandError("the password must not be empty")
    try:
        yield accounts(ctx).add(args.mobile, password, args.max_devices)
    except (AccountExists, BadValue) as e:
        raise CommandError(str(e)) from None
    out.write("user %s added\n" % (args.mobile,))
    yield tell(ctx, args.mobile, out)


@defer.inlineCallbacks
def set_user(args, ctx, out):
    if args.max_devices is None and args.alarm_sms is None:
        raise CommandError("nothing to set: give --max-devices N or --alarm-sms on|off")
    try:
        if args.max_devices is not None:
            yield accounts(ctx).set_max_devices(args.mobile, args.max_devices)
        if args.alarm_sms is not None:
            yield accounts(ctx).set_alarm_sms(args.mobile, args.alarm_sms == "on")
    except (NoSuchAccount, BadValue) as e:
        raise CommandError(str(e)) from None
    if args.max_devices is not None:
        out.write("user %s: max devices %d\n" % (args.mobile, args.max_devices))
        yield tell(ctx, args.mobile, out)
    if args.alarm_sms is not None:
        out.write("user %s: alarm SMS %s\n" % (args.mobile, args.alarm_sms))


@defer.inlineCallbacks
def del_user(args, ctx, out):
    try:
        yield accounts(ctx).cancel(args.mobile)
    except NoSuchAccount as e:
        raise CommandError(str(e)) from None
    out.write("user %s cancelled\n" % (args.mobile,))
    yield tell(ctx, args.mobile, out)


@defer.inlineCallbacks
def list_users(args, ctx, out):
    users = yield accounts(ctx).list()
    table(out, ["MOBILE", "MAX_DEVICES", "DEVICES", "STATUS", "CREATED"],
          [[u.mobile, u.max_devices, u.devices, u.status, when(u.created_at)] for u in users])
