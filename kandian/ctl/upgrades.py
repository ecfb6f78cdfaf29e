"""``kandianctl upgrade …``: firmware upgrade campaigns (§7.5.17; PRODUCT.md "Firmware and upgrades").

    kandianctl upgrade start --firmware ID [--devices A,B | --model M] [--batch N] [--max-failures K]
    kandianctl upgrade status ID
    kandianctl upgrade list
    kandianctl upgrade pause|resume|cancel ID

The command writes the campaign; the daemon runs it (it looks at the
campaigns every ``[firmware] poll_interval`` seconds).
"""

from __future__ import annotations

from twisted.internet import defer

from ..core import errors
from ..core.upgrades import DEFAULT_BATCH, DEFAULT_MAX_FAILURES, Upgrades
from .firmware import catalogue
from .output import CommandError, table, when


def _dev_ids(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def add_commands(commands) -> None:
    upgrade = commands.add_parser("upgrade", help="firmware upgrade campaigns").add_subparsers(
        dest="action", required=True)
    start = upgrade.add_parser("start", help="start a campaign (the daemon runs it)")
    start.add_argument("--firmware", required=True, type=int, metavar="ID", help="catalogued firmware (firmware list)")
    which = start.add_mutually_exclusive_group()
    which.add_argument("--devices", type=_dev_ids, metavar="A,B", help="these devices (default: all of the model)")
    which.add_argument("--model", metavar="M", help="every device of the firmware's model M")
    start.add_argument("--batch", type=int, default=DEFAULT_BATCH, metavar="N",
                       help="devices upgrading at once (default %d)" % DEFAULT_BATCH)
    start.add_argument("--max-failures", type=int, default=DEFAULT_MAX_FAILURES, metavar="K",
                       help="pause once more than K devices failed (default %d)" % DEFAULT_MAX_FAILURES)
    start.set_defaults(handler=start_campaign)
    status = upgrade.add_parser("status", help="a campaign and each of its devices")
    status.add_argument("campaign_id", type=int, metavar="ID")
    status.set_defaults(handler=campaign_status)
    upgrade.add_parser("list", help="every campaign").set_defaults(handler=list_campaigns)
    for action, text in (("pause", "send no more (those in flight go on)"),
                         ("resume", "send again, the failures so far forgiven"),
                         ("cancel", "stop for good: pending devices fail \"cancelled\"")):
        parser = upgrade.add_parser(action, help=text)
        parser.add_argument("campaign_id", type=int, metavar="ID")
        parser.set_defaults(handler=change_campaign)


def upgrades(ctx) -> Upgrades:
    # kandianctl sends nothing to devices: the daemon's rounds do
    return Upgrades(ctx.store, None, catalogue(ctx), ctx.reactor, ftp_login=None)


def _tally(tally) -> str:
    return "pending %d, sent %d, downloaded %d, done %d, failed %d" % (
        tally.pending, tally.sent, tally.downloaded, tally.done, tally.failed)


@defer.inlineCallbacks
def start_campaign(args, ctx, out):
    try:
        started = yield upgrades(ctx).start(args.firmware, dev_ids=args.devices, model=args.model, batch=args.batch,
                                            max_failures=args.max_failures)
    except errors.DomainError as e:
        raise CommandError(str(e)) from None
    out.write("campaign %d started: firmware %d to %d devices, %d at a time, pausing past %d failures\n" % (
        started.campaign_id, args.firmware, started.devices, args.batch, args.max_failures))
    for dev_id, campaign_id in sorted(started.skipped.items()):
        out.write("skipped %s: in campaign %d\n" % (dev_id, campaign_id))


@defer.inlineCallbacks
def campaign_status(args, ctx, out):
    try:
        status = yield upgrades(ctx).status(args.campaign_id)
    except errors.DomainError as e:
        raise CommandError(str(e)) from None
    c, f = status.campaign, status.firmware
    out.write("campaign %d: %s%s; firmware %d (%s %s %s, %s); batch %d, max failures %d; started %s%s\n" % (
        c.campaign_id, c.state, " (%s)" % c.reason if c.reason else "", f.firmware_id, f.manufacturer_no, f.model,
        f.dev_ver, f.file_name, c.batch_size, c.max_failures, when(c.created_at),
        ", finished %s" % when(c.finished_at) if c.finished_at else ""))
    out.write(_tally(status.tally) + "\n")
    table(out, ["DEVID", "STATE", "FROM", "SENT", "DOWNLOADED", "FINISHED", "REASON"],
          [[t.dev_id, t.state, t.from_ver or "-", when(t.sent_at), when(t.downloaded_at), when(t.finished_at),
            t.reason or "-"] for t in status.targets])


@defer.inlineCallbacks
def list_campaigns(args, ctx, out):
    rows = yield upgrades(ctx).campaigns()
    table(out, ["ID", "FIRMWARE", "STATE", "BATCH", "MAX_FAILURES", "DEVICES", "PENDING", "IN_FLIGHT", "DONE",
                "FAILED", "STARTED"],
          [[c.campaign_id, c.firmware_id, c.state, c.batch_size, c.max_failures, sum(t[:5]), t.pending, t.in_flight,
            t.done, t.failed, when(c.created_at)] for c, t in rows])


@defer.inlineCallbacks
def change_campaign(args, ctx, out):
    try:
        yield getattr(upgrades(ctx), args.action)(args.campaign_id)
    except errors.DomainError as e:
        raise CommandError(str(e)) from None
    out.write("campaign %d %s\n" % (args.campaign_id, {"pause": "paused", "resume": "resumed",
                                                        "cancel": "cancelled"}[args.action]))
