"""The ``[cloudmonitor]`` listener: spec/002's cloud-monitoring API (PRODUCT.md "Compatibility APIs").

``GET /api/v1/<接口>`` in both of the file's URL styles (:mod:`.api`,
:mod:`.routes`, :mod:`.handlers`, the codes of :mod:`.results`), the files
it hands out under ``/storage/`` (:mod:`.storage`) and the embeddable player
pages of ``play_camera``/``play_record`` under ``/player/``
(:mod:`.player`).  See docs/compat.md.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.web import resource

from .. import web as http
from ..core.access import Principal
from .api import ApiResource, CloudmonitorStats
from .handlers import Handlers, channel_of_camera
from .player import Player, PlayerResource
from .storage import Signer, StorageResource

__all__ = ["CloudmonitorStats", "site"]

# the files a signed storage path names are fetched as a viewer operator: the signature is the authority
STORAGE = Principal("operator", 0, "cloudmonitor-storage", "viewer")


class Root(resource.Resource):
    def __init__(self, api, storage, player=None):
        super().__init__()
        self.api = api
        self.storage = storage
        self.player = player

    def getChild(self, name, request):
        if name == b"storage":
            return self.storage
        if name == b"player" and self.player is not None:
            return self.player
        return self.api

    def render(self, request):
        return self.api.render(request)


def site(core, zone, domain_clock, *, storage_addr, stats: CloudmonitorStats | None = None, loop=None,
         **http_options):
    """The listener's Site over *core*; *storage_addr()* is its base URL as integrators reach it;
    *loop* the MP4 loop server of stream_prop 1 (:class:`kandian.media.loop.LoopServer`, None: off)."""
    signer = Signer(core.keys, domain_clock)

    @defer.inlineCallbacks
    def files(kind: str, number: int):
        """The path of a file handed out (its signature checked already)."""
        if kind == "picture":
            return (yield core.integration.picture(number))
        found = yield core.recordings.get(STORAGE, number)
        if kind == "record":
            return (yield core.recordings.mp4(found))
        return core.recordings.snapshot_path(found)

    player = Player(core.keys, domain_clock, core.media, base=storage_addr, channel_of=channel_of_camera,
                    recordings=core.recordings)
    handlers = Handlers(core, zone, storage_addr=storage_addr, signer=signer, player=player, loop=loop)
    root = Root(ApiResource(handlers, core.apikeys, stats), StorageResource(signer, files), PlayerResource(player))
    return http.site(root, **http_options)
