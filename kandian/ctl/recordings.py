"""``kandianctl recording list|delete``: what the platform recorded (PRODUCT.md "Media")."""

from __future__ import annotations

from twisted.internet import defer

from ..core import errors
from ..core.access import Access, Principal
from ..core.keys import Keys
from ..core.recordings import RecordingLayout, Recordings
from ..media.tools import RecordingTools
from ..portal.views import Times
from .output import CommandError, at, table

# the operator at the console: an admin of the platform
CONSOLE = Principal("operator", 0, "kandianctl", "admin")


def add_commands(commands) -> None:
    recording = commands.add_parser("recording", help="platform recordings").add_subparsers(dest="action",
                                                                                          required=True)
    listing = recording.add_parser("list", help="recorded pieces, newest first")
    listing.add_argument("--devid", metavar="DEVID", help="one device's recordings")
    listing.add_argument("--channel", type=int, metavar="N", help="one channel's (with --devid)")
    listing.add_argument("--from", dest="since", metavar="TIME", help="pieces ending after (ISO 8601)")
    listing.add_argument("--to", dest="until", metavar="TIME", help="pieces starting before")
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="at most N pieces (default 50; 200)")
    listing.set_defaults(handler=list_recordings)
    delete = recording.add_parser("delete", help="delete pieces: each one's file, snapshot and row together")
    delete.add_argument("ids", metavar="ID", nargs="+", help="a recording id (kandianctl recording list)")
    delete.set_defaults(handler=delete_recordings)


def recordings(ctx) -> Recordings:
    config = ctx.config
    keys = Keys(ctx.store.secrets)
    return Recordings(ctx.store, ctx.reactor, Access(ctx.store), keys, RecordingTools(ctx.reactor),
                      RecordingLayout(config.files_root), node=config.platform.public_host,
                      zone=config.platform.timezone, retention_days=config.media.retention_days,
                      base_url=lambda: "")


@defer.inlineCallbacks
def list_recordings(args, ctx, out):
    zone = ctx.config.platform.timezone
    times = Times(zone)
    try:
        since = times.parse(args.since, "--from") if args.since else None
        until = times.parse(args.until, "--to") if args.until else None
        page = yield recordings(ctx).list(CONSOLE, args.devid, args.channel, since, until, 1,
                                          min(max(1, args.limit), 200))
    except errors.DomainError as e:
        raise CommandError(str(e)) from None
    layout = RecordingLayout(ctx.config.files_root)
    table(out, ["ID", "DEVID", "CHANNEL", "START", "END", "SECONDS", "MB", "STATE", "FILE"],
          [[r.recording_id, r.dev_id, r.channel_no, at(r.started_at, zone), at(r.ended_at, zone),
            "%.1f" % r.duration, "%.1f" % (r.size / 2**20), "complete" if r.complete else "recording",
            layout.absolute(r.path) if r.node == ctx.config.platform.public_host else "%s:%s" % (r.node, r.path)]
           for r in page.items])
    if page.total > len(page.items):
        out.write("(%d of %d; narrow with --devid/--from/--to or raise --limit)\n" % (len(page.items), page.total))


@defer.inlineCallbacks
def delete_recordings(args, ctx, out):
    core = recordings(ctx)
    yield core.keys.load()
    failed = []
    for rid in args.ids:
        try:
            yield core.delete(CONSOLE, rid)
            out.write("recording %s deleted\n" % (rid,))
        except errors.DomainError as e:
            failed.append("%s: %s" % (rid, e))
    if failed:
        raise CommandError("; ".join(failed))
