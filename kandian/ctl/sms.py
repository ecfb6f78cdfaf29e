"""``kandianctl sms …`` and ``device send-key``: the SMS outbox (§2.6, §4.17; PRODUCT.md "SMS").

``sms list [--status S]`` shows the newest messages with what became of
them (docs/operations.md, "[sms]", says what each state means); a message's
secret (a password, a DevKey) is never shown.  ``device send-key DEVID``
queues the device's DevKey to its owner: the daemon's sender picks it up
within a second, as it does every message queued by another process.
"""

from __future__ import annotations

from twisted.internet import defer

from ..core.errors import BadValue, DatabaseUnavailable, NoSuchDevice, NotBound, SmsNotSent
from ..core.notify import DevKeySms
from ..core.outbox import Outbox
from ..store.outbox import STATES
from .output import CommandError, table, when

TEXT_WIDTH = 40


def add_commands(commands) -> None:
    sms = commands.add_parser("sms", help="the SMS outbox").add_subparsers(dest="action", required=True)
    listing = sms.add_parser("list", help="messages, newest first")
    listing.add_argument("--status", choices=STATES, help="only messages in this state")
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="at most N messages (default 50)")
    listing.set_defaults(handler=list_messages)


def outbox(ctx) -> Outbox:
    """The outbox as this command's process uses it: it queues, never sends."""
    c = ctx.config.sms
    return Outbox(ctx.store, ctx.reactor, node="kandianctl", delivers=bool(c.gateway), validity=c.validity)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_WIDTH else text[:TEXT_WIDTH - 1] + "…"


@defer.inlineCallbacks
def list_messages(args, ctx, out):
    if args.limit < 1:
        raise CommandError("--limit must be 1 or more")
    messages = yield outbox(ctx).list(args.status, args.limit)
    table(out, ["ID", "MOBILE", "KIND", "STATUS", "ATTEMPTS", "CREATED", "UPDATED", "REASON", "TEXT"],
          [[m.message_id, m.mobile, m.kind, m.status, m.attempts, when(m.created_at), when(m.updated_at),
            _short(m.reason) or "-", _short(m.text)] for m in messages])


@defer.inlineCallbacks
def send_key(args, ctx, out):
    try:
        mobile, message_id = yield DevKeySms(ctx.store, outbox(ctx)).send(args.dev_id)
    except (SmsNotSent, NoSuchDevice, NotBound, BadValue, DatabaseUnavailable) as e:
        raise CommandError(str(e)) from None
    out.write("DevKey of %s queued to %s (message %d)\n" % (args.dev_id, mobile, message_id))
