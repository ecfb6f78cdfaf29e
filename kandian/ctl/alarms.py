"""``kandianctl alarm list``: alarms and their pictures (§7.5.27, §7.5.34)."""

from __future__ import annotations

import datetime

from twisted.internet import defer

from ..core.files import Layout
from .output import table, when

ALARM_TYPES = {1: "motion", 2: "infrared", 3: "manual", 4: "dido"}  # §7.5.34 AlarmType


def add_commands(commands) -> None:
    alarm = commands.add_parser("alarm", help="alarms").add_subparsers(dest="action", required=True)
    listing = alarm.add_parser("list", help="the newest alarms, each with its picture")
    listing.add_argument("--devid", metavar="DEVID", help="one device's alarms")
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="at most N alarms (default 50)")
    listing.set_defaults(handler=list_alarms)


@defer.inlineCallbacks
def list_alarms(args, ctx, out):
    rows = yield ctx.store.files.alarms(args.devid or None, max(1, args.limit))
    layout = Layout(ctx.config.files_root)
    tz = ctx.config.platform.timezone

    def picture(row) -> str:
        if row.picture is None:
            return "-"
        path = layout.picture(row.dev_id, row.picture)
        return path if row.picture_on_disk else "%s (not received)" % (path,)

    table(out, ["ALARM", "DEVID", "CHANNEL", "TYPE", "TIME", "PICTURE"],
          [[r.alarm_id, r.dev_id, r.channel_no, ALARM_TYPES.get(r.alarm_type, str(r.alarm_type)),
            when(datetime.datetime.fromtimestamp(r.at, tz)), picture(r)] for r in rows])
