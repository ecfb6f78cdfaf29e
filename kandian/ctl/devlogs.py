"""``kandianctl device logs DEVID``: ask a device for its logs (§7.5.35) and list what arrived.

kandianctl holds no link to the device: it writes a request that the daemon
holding the link turns into LOG_UPLOAD_REQ at its next round (``[firmware]
poll_interval``), waits up to ``--wait`` seconds for the daemon's answer and
for a file to arrive, then lists the device's uploaded logs.  A request for
an offline device stays queued until it logs in (``[firmware]
log_request_expiry`` at most).
"""

from __future__ import annotations

from twisted.internet import defer, task

from ..core import errors
from ..core.devlogs import DeviceLogs
from .output import CommandError, table, when

POLL = 0.5  # seconds between two looks at the request while waiting


def add_device_commands(device) -> None:
    logs = device.add_parser("logs", help="ask a device for its logs (LOG_UPLOAD_REQ) and list those uploaded")
    logs.add_argument("dev_id", metavar="DEVID")
    logs.add_argument("--wait", type=float, default=30.0, metavar="S",
                      help="seconds to wait for the device's answer and a file (default 30)")
    logs.add_argument("--no-request", action="store_true", help="only list the logs already uploaded")
    logs.set_defaults(handler=device_logs)


@defer.inlineCallbacks
def device_logs(args, ctx, out):
    logs = DeviceLogs(ctx.store, ctx.reactor, ctx.config.files_root)
    refused = None
    if not args.no_request:
        try:
            request_id = yield logs.request(args.dev_id)
        except errors.NoSuchDevice:
            raise CommandError("no device %s" % (args.dev_id,)) from None
        request, arrived = yield _wait(ctx.reactor, logs, request_id, args.dev_id, args.wait)
        out.write("log request %d: %s\n" % (request_id, _said(request, arrived)))
        if request.state in ("refused", "expired"):
            refused = "%s: %s" % (request.state, request.reason)
    files = yield logs.files(args.dev_id)
    table(out, ["FILE", "SIZE", "SHA256", "RECEIVED", "PATH"],
          [[f.file_name, f.size, f.sha256, when(f.received_at), logs.path(f.dev_id, f.file_name)] for f in files])
    if refused is not None:
        raise CommandError("log request for %s %s" % (args.dev_id, refused))


@defer.inlineCallbacks
def _wait(reactor, logs, request_id, dev_id, wait):
    """Poll until the request is answered and a file newer than it arrived, or *wait* seconds passed."""
    polls = max(1, int(wait / POLL))
    request, arrived = None, False
    for n in range(polls + 1):
        request = yield logs.request_state(request_id)
        if request.state in ("refused", "expired"):
            break
        if request.state == "sent":
            files = yield logs.files(dev_id)
            arrived = any(f.received_at >= request.requested_at for f in files)
            if arrived:
                break
        if n < polls:
            yield task.deferLater(reactor, POLL, lambda: None)
    return request, arrived


def _said(request, arrived: bool) -> str:
    if request.state == "sent":
        return "sent; " + ("a log arrived" if arrived else "no log arrived yet (list again with --no-request)")
    if request.state == "pending":
        return "queued: the daemon sends it when the device is online"
    if request.state == "sending":
        return "being sent"
    return "%s (%s)" % (request.state, request.reason)
