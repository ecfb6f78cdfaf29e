"""``kandianctl operator …``: the operators of the portal and the REST API (§2.2; PRODUCT.md "Portal and REST API")."""

from __future__ import annotations

import datetime
import getpass

from twisted.internet import defer

from ..core.apiauth import Operators
from ..core.errors import AccountExists, BadValue, NoSuchAccount
from .output import CommandError, table, when


def add_commands(commands) -> None:
    operator = commands.add_parser("operator", help="portal operators").add_subparsers(dest="action", required=True)
    add = operator.add_parser("add", help="create an operator")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--password", help="the password (prompted for when omitted)")
    add.add_argument("--role", choices=("admin", "viewer"), default="admin",
                     help="admin steers, viewer only looks (default admin)")
    add.set_defaults(handler=add_operator)
    password = operator.add_parser("password", help="set an operator's password")
    password.add_argument("name", metavar="NAME")
    password.add_argument("--password", help="the new password (prompted for when omitted)")
    password.set_defaults(handler=set_password)
    delete = operator.add_parser("del", help="remove an operator (their logins end)")
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(handler=delete_operator)
    operator.add_parser("list", help="list operators").set_defaults(handler=list_operators)


def _password(args) -> str:
    password = args.password
    if password is None:
        password = getpass.getpass("password for %s: " % (args.name,))
    if not password:
        raise CommandError("the password must not be empty")
    return password


@defer.inlineCallbacks
def add_operator(args, ctx, out):
    password = _password(args)
    try:
        yield Operators(ctx.store).add(args.name, password, args.role)
    except (AccountExists, BadValue) as e:
        raise CommandError(str(e)) from None
    out.write("operator %s added (%s)\n" % (args.name, args.role))


@defer.inlineCallbacks
def set_password(args, ctx, out):
    try:
        yield Operators(ctx.store).set_password(args.name, _password(args))
    except (NoSuchAccount, BadValue) as e:
        raise CommandError(str(e)) from None
    out.write("password of %s set\n" % (args.name,))


@defer.inlineCallbacks
def delete_operator(args, ctx, out):
    try:
        yield Operators(ctx.store).delete(args.name)
    except NoSuchAccount as e:
        raise CommandError(str(e)) from None
    out.write("operator %s removed\n" % (args.name,))


@defer.inlineCallbacks
def list_operators(args, ctx, out):
    operators = yield Operators(ctx.store).list()
    zone = ctx.config.platform.timezone
    table(out, ["NAME", "ROLE", "CREATED"],
          [[o.name, o.role, when(datetime.datetime.fromtimestamp(o.created_at, zone))] for o in operators])
