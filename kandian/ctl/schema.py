"""``kandianctl migrate`` (PRODUCT.md "Storage")."""

from __future__ import annotations

from twisted.internet import defer

from ..store import migrate as migrations


def add_commands(commands) -> None:
    commands.add_parser("migrate", help="apply pending schema migrations").set_defaults(
        handler=migrate, migrate_on_start=False)


@defer.inlineCallbacks
def migrate(args, ctx, out):
    applied = yield migrations.migrate(ctx.db)
    version = migrations.latest()
    if applied:
        out.write("applied %s; schema at version %d\n" % (", ".join("%04d" % v for v in applied), version))
    else:
        out.write("schema at version %d; nothing to apply\n" % (version,))
