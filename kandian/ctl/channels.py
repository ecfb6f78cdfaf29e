"""``kandianctl channel …``: stream proxy channels (issue 16; PRODUCT.md "Media", docs/media.md)."""

from __future__ import annotations

from twisted.internet import defer

from ..core.errors import BadValue
from ..core.proxies import Proxies
from .output import CommandError, table


def add_commands(commands) -> None:
    channel = commands.add_parser("channel", help="stream proxy channels").add_subparsers(dest="action",
                                                                                         required=True)
    add = channel.add_parser("add-proxy", help="a virtual device fed by an RTSP URL; prints its DevID")
    add.add_argument("--url", required=True, help="rtsp://IP[:PORT]/PATH (its host within [media] proxy_allow)")
    add.add_argument("--name", required=True, help="the channel's name")
    add.set_defaults(handler=add_proxy)
    channel.add_parser("proxies", help="list stream proxy channels").set_defaults(handler=list_proxies)


def proxies(ctx) -> Proxies:
    return Proxies(ctx.store, ctx.reactor, allow=ctx.config.media.proxy_allow)


@defer.inlineCallbacks
def add_proxy(args, ctx, out):
    try:
        dev_id = yield proxies(ctx).add(args.url, args.name)
    except BadValue as e:
        raise CommandError(str(e)) from None
    out.write("%s\n" % dev_id)


@defer.inlineCallbacks
def list_proxies(args, ctx, out):
    found = yield proxies(ctx).list()
    table(out, ["DEVID", "NAME", "ONLINE", "URL"], [[p.dev_id, p.name, "yes" if p.online else "no", p.url]
                                                   for p in found])
