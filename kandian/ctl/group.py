"""``kandianctl group …``: this province and its group platform (§6; docs/group-platform.md).

    kandianctl group status          the group platform, the last address report, the clients it named
    kandianctl group report          send the §6.1 address report now
    kandianctl group pending         user changes the group platform has not accepted yet
    kandianctl group retry [ID]      send one (or every) pending change now
    kandianctl group drop ID         give a pending change up

``user add|set|del`` (:mod:`.users`) queue their change and try it at once
through :func:`tell`; what is not accepted stays queued for the daemon.
"""

from __future__ import annotations

from twisted.internet import defer

from ..core.clients import PLATFORMS
from ..core.errors import GroupUnavailable
from ..core.group import GroupLink, releases_of
from ..group.client import GroupClient, NoGroupPlatform
from .output import CommandError, at, table


def add_commands(commands) -> None:
    group = commands.add_parser("group", help="the group platform of this province (§6)").add_subparsers(
        dest="action", required=True)
    group.add_parser("status", help="the group platform, the last address report and the clients it named"
                     ).set_defaults(handler=status)
    group.add_parser("report", help="send the address report (§6.1) now").set_defaults(handler=report)
    group.add_parser("pending", help="user changes the group platform has not accepted yet").set_defaults(
        handler=pending)
    retry_ = group.add_parser("retry", help="send one pending change (or all) now")
    retry_.add_argument("change_id", metavar="ID", type=int, nargs="?")
    retry_.set_defaults(handler=retry)
    drop_ = group.add_parser("drop", help="give a pending change up (the group platform is never told)")
    drop_.add_argument("change_id", metavar="ID", type=int)
    drop_.set_defaults(handler=drop)


def link(ctx) -> GroupLink:
    """The core's GroupLink over this command's store, with a client when ``[group] url`` is set."""
    g = ctx.config.group
    platform = (GroupClient(ctx.reactor, g.url, province_no=g.province_no, cms_no=g.cms_no,
                            cms_password=g.cms_password, timeout=g.timeout) if g.url else NoGroupPlatform())
    host = ctx.config.platform.public_host
    return GroupLink(ctx.store, ctx.reactor, platform,
                     mcu_url=lambda: g.mcu_url or "http://%s:%s/mcu" % (host, ctx.config.port_of("mcu")),
                     dev_url=lambda: g.dev_url or "http://%s:%s/register" % (host, ctx.config.port_of("register")),
                     retry_first=g.retry_first, retry_max=g.retry_max)


def _at(ctx, seconds: float | None) -> str:
    return at(seconds, ctx.config.platform.timezone)


@defer.inlineCallbacks
def tell(ctx, mobile: str, out):
    """Send *mobile*'s queued changes now, saying what became of each (nothing without a group platform)."""
    if not ctx.config.group.url:
        return
    outcomes = yield link(ctx).deliver(mobile)
    for o in outcomes:
        if o.accepted:
            out.write("group platform: %s of %s accepted\n" % (o.kind, o.mobile))
        else:
            out.write("group platform: %s of %s not accepted (%s); queued, see kandianctl group pending\n"
                      % (o.kind, o.mobile, o.why))


def _require(ctx) -> None:
    if not ctx.config.group.url:
        raise CommandError("no group platform: [group] url is empty")


@defer.inlineCallbacks
def status(args, ctx, out):
    g = ctx.config.group
    group = link(ctx)
    kept = yield ctx.store.group.report()
    waiting = yield group.pending()
    out.write("group platform: %s\n" % (g.url or "none ([group] url is empty)"))
    if g.url:
        out.write("this province: ProvinceNo %s, CmsNo %s\n" % (g.province_no, g.cms_no))
    if kept is None:
        out.write("last address report: never answered\n")
    else:
        out.write("last address report: %s, Result %d\n" % (_at(ctx, kept.reported_at), kept.result))
    if kept is not None:
        _releases(out, releases_of(kept))
    out.write("pending user changes: %d\n" % (len(waiting),))


def _releases(out, releases) -> None:
    rows = [[name, r.version, r.url] for name, r in zip(PLATFORMS, releases) if r]
    if rows:
        table(out, ["CLIENT", "VERSION", "URL"], rows)


@defer.inlineCallbacks
def report(args, ctx, out):
    _require(ctx)
    try:
        releases = yield link(ctx).report()
    except GroupUnavailable as e:
        raise CommandError(str(e)) from None
    out.write("address report accepted\n")
    _releases(out, releases)


@defer.inlineCallbacks
def pending(args, ctx, out):
    changes = yield link(ctx).pending()
    table(out, ["ID", "KIND", "MOBILE", "IPCAM_NUM", "QUEUED", "ATTEMPTS", "NEXT_ATTEMPT", "LAST_RESULT", "LAST_ERROR"],
          [[c.change_id, c.kind, c.mobile, "-" if c.ipcam_num is None else c.ipcam_num, _at(ctx, c.created_at),
            c.attempts, _at(ctx, c.next_attempt_at), "-" if c.last_result is None else c.last_result,
            c.last_error[:80] or "-"] for c in changes])


@defer.inlineCallbacks
def retry(args, ctx, out):
    _require(ctx)
    group = link(ctx)
    found = yield group.retry(args.change_id)
    if args.change_id is not None and not found:
        raise CommandError("no pending change %d" % (args.change_id,))
    outcomes = yield group.deliver()
    accepted = sum(1 for o in outcomes if o.accepted)
    out.write("%d sent, %d accepted, %d still pending\n" % (len(outcomes), accepted,
                                                           len((yield group.pending()))))
    for o in outcomes:
        if not o.accepted:
            out.write("%s of %s: %s\n" % (o.kind, o.mobile, o.why))


@defer.inlineCallbacks
def drop(args, ctx, out):
    dropped = yield link(ctx).drop(args.change_id)
    if not dropped:
        raise CommandError("no pending change %d" % (args.change_id,))
    out.write("change %d dropped\n" % (args.change_id,))
