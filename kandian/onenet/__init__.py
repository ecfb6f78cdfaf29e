"""The ``[onenet]`` listener: the device-cloud video REST API of spec/001 (PRODUCT.md "Compatibility APIs").

Every endpoint of the file, each an adapter over the core: devices and
channels (:mod:`.devices`), the generic command set (:mod:`.commands`,
:mod:`.cmdset`), play addresses (:mod:`.media`), pictures, objects and
storage (:mod:`.files`), alarms (:mod:`.alarms`), video on demand and
recording (:mod:`.vod`); the ``api-key`` header,
the ``{"errno", "error", …}`` answer and the size caps in :mod:`.api`; the
errno table in :mod:`.results`.  A kandian camera's ``device_id`` is its
DevID, its ``channel_id`` ChannelNo + 1.  docs/compat.md maps every endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from . import api
from .alarms import AlarmHandlers
from .commands import CommandHandlers, CommandStats, Snapshots
from .devices import DeviceHandlers
from .files import FileHandlers
from .media import MediaHandlers
from .signing import Signer
from .views import Times
from .vod import VodHandlers


class Endpoints(NamedTuple):
    """Where things are, as peers reach them: each a callable answering (host, port) or None."""
    register: Callable  # §7.2 registration (§10's boot address)
    device_link: Callable  # §7.3 device link (§11)
    onenet: Callable[[bool], str]  # this listener's public scheme://host:port (https asked or not)
    peer_ip: Callable[[str], str | None] = lambda dev_id: None  # the address of a device's link


class Stats(NamedTuple):
    api: api.OnenetStats
    commands: CommandStats


def new_stats() -> Stats:
    return Stats(api.OnenetStats(), CommandStats())


def routes(core, zone, clock, *, product_id: str, endpoints: Endpoints, url_ttl: int, max_upload: int,
           stats: Stats, live=None, grabber=None) -> list[api.Route]:
    times = Times(zone)
    signer = Signer(core.keys, clock, endpoints.onenet, url_ttl)
    devices = DeviceHandlers(core, times, product_id=product_id, endpoints=endpoints)
    snapshot = Snapshots(core, grabber, zone, clock).take if grabber is not None else None
    return [
        *devices.routes(),
        *CommandHandlers(core, snapshot=snapshot, stats=stats.commands).routes(),
        *MediaHandlers(core, signer, base=endpoints.onenet, product_id=product_id, live=live, grabber=grabber,
                       peer_ip=endpoints.peer_ip).routes(),
        *FileHandlers(core, signer, devices.product, max_upload=max_upload).routes(),
        *AlarmHandlers(core, times, signer, devices.product).routes(),
        *VodHandlers(core, times, signer, devices.product, base=endpoints.onenet).routes(),
    ]


def site(core, zone, domain_clock, *, product_id: str, endpoints: Endpoints, url_ttl: int, max_upload: int,
         stats: Stats | None = None, live=None, grabber=None, **http_options):
    """The ``[onenet]`` Site over *core*; *domain_clock* dates its signed URLs (*http_options*' ``clock``
    runs its connection timeouts); *live*: the live HLS packagers, *grabber*: a frame grabber (None: no
    HLS, no thumbnails or snapshots)."""
    stats = stats or new_stats()
    router = api.Router(routes(core, zone, domain_clock, product_id=product_id, endpoints=endpoints, url_ttl=url_ttl,
                               max_upload=max_upload, stats=stats, live=live, grabber=grabber))
    return api.site(router, core.key_auth, stats.api, **http_options)
