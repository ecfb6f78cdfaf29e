"""``kandianctl apikey …``: integrators' API keys (PRODUCT.md "Compatibility APIs").

``add`` prints the new key alone on one line (a script captures it): it is
shown this once and kept only as its hash.  spec/002 calls it ``unionid``,
spec/001 sends it as the ``api-key`` header; ``--master`` makes a key that
spec/001's master-key operations accept.
"""

from __future__ import annotations

from twisted.internet import defer

from ..core.apikeys import ApiKeys
from ..core.errors import ApiKeyExists, BadValue, NoSuchApiKey
from .output import CommandError, at, table


def add_commands(commands) -> None:
    apikey = commands.add_parser("apikey", help="API keys of the compatibility APIs").add_subparsers(
        dest="action", required=True)
    add = apikey.add_parser("add", help="make an API key and print it (shown once)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--master", action="store_true", help="a master key (spec/001's master-key operations)")
    add.set_defaults(handler=add_key)
    apikey.add_parser("list", help="list API keys (never the keys themselves)").set_defaults(handler=list_keys)
    revoke = apikey.add_parser("revoke", help="revoke an API key and the access tokens made from it")
    revoke.add_argument("name", metavar="NAME")
    revoke.set_defaults(handler=revoke_key)


def _keys(ctx) -> ApiKeys:
    return ApiKeys(ctx.store, ctx.reactor, keys=None)


@defer.inlineCallbacks
def add_key(args, ctx, out):
    try:
        key, _ = yield _keys(ctx).add(args.name, master=args.master)
    except (ApiKeyExists, BadValue) as e:
        raise CommandError(str(e)) from None
    out.write(key + "\n")


@defer.inlineCallbacks
def list_keys(args, ctx, out):
    rows = yield _keys(ctx).list()
    zone = ctx.config.platform.timezone
    table(out, ["NAME", "MASTER", "CREATED", "REVOKED"],
          [[r.name, "yes" if r.master else "no", at(r.created_at, zone), at(r.revoked_at, zone)] for r in rows])


@defer.inlineCallbacks
def revoke_key(args, ctx, out):
    try:
        yield _keys(ctx).revoke(args.name)
    except NoSuchApiKey as e:
        raise CommandError(str(e)) from None
    out.write("API key %s revoked\n" % (args.name,))
