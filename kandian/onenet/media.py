"""spec/001 §4 live play: play addresses (§4.1), HLS preload (§4.2), thumbnails (§4.3), the device push address
(§4.4) — over :mod:`kandian.core.apiplay`, the media layer's live HLS and frame grabs.

``protocol_type`` 1 (and 2, when this listener is TLS) answers live HLS as
§4.1 composes it: ``http://<addr>/live/live_<device_id>_<channel_id>/index.m3u8?<accessToken>``
— this listener answers that with a redirect to the stream's signed HLS
playlist on the portal (the packager starts on the first request).  The
accessToken is this listener's own (:mod:`.signing`): ``timeout`` (ms) long,
``-1`` for ten years.  ``protocol_type`` 5 (kandian's own value) answers the
RTSP relay: ``type`` ``rtsp``, ``addr`` the relay, ``accessToken`` a one-time
HashToken (§7.5.5: 60 s, one play) and ``url`` the whole URL to play.  Both
carry ``url`` and ``cover_url`` (kandian's: the whole URLs, ready to use).
kandian has no RTMP or FLV: ``protocol_type`` 0, 3 and 4 answer §4.1's errno 1.
Devices do not push streams to the platform (§4.4): it pulls them through
its relay.  ``coveraddr`` is this listener: ``/live_preview/<device_id>-<channel_id>?token=``
answers one frame of the stream as a JPEG.
"""

from __future__ import annotations

import math
import re
import uuid
from urllib.parse import parse_qs, urlsplit

from twisted.internet import defer
from twisted.logger import Logger

from ..core import errors
from . import results, views
from .api import Raw, Reply, Route

log = Logger()

RTSP = 5
HLS, HTTPS_HLS = 1, 2
NO_RTMP = {0: "rtmp", 3: "flv", 4: "https-flv"}
MAX_TIMEOUT_MS = 10 * 365 * 86400 * 1000
PORTAL_TTL = 6 * 3600  # the signed portal playlist a redirect hands on
_STREAM = re.compile(r"^live_([0-9]{1,32})_([0-9]{1,3})$")
_PREVIEW = re.compile(r"^([0-9]{1,32})[-_]([0-9]{1,3})$")
_TOKEN = re.compile(r"^[0-9]{1,12}\.[A-Za-z0-9_-]{24}$")


def _stream(name: str, pattern=_STREAM) -> tuple[str, int]:
    """(DevID, ChannelNo) of ``live_<device_id>_<channel_id>`` (or ``<device_id>-<channel_id>``)."""
    match = pattern.match(name)
    if match is None or not 1 <= int(match.group(2)) <= 256:
        raise errors.NoSuchChannel("no such stream %s" % (name[:64],))
    return match.group(1), int(match.group(2)) - 1


def _subject(dev_id: str, channel_no: int) -> str:
    return "%s/%d" % (dev_id, channel_no)


def _token(call) -> str:
    """A play token as §4.1 appends it (``?<token>``) or as ``token=`` / ``accessToken=``."""
    for name in ("token", "accessToken"):
        if call.query.get(name):
            return call.query[name]
    raw = call.raw_query.split("&", 1)[0]
    return raw if _TOKEN.match(raw) else ""


class MediaHandlers:
    def __init__(self, core, signer, *, base, product_id: str = "1", live=None, grabber=None,
                 peer_ip=lambda dev_id: None):
        """*base(https)*: this listener's public ``scheme://host:port``; *live*: the
        :class:`kandian.media.hls.LiveHls` packagers (None: no live HLS here); *grabber*: a
        :class:`kandian.media.grab.FrameGrabber` (None: no thumbnails); *peer_ip(dev_id)*: the address of
        a device's link."""
        self.core = core
        self.product_id = product_id
        self.peer_ip = peer_ip
        self.signer = signer
        self.base = base
        self.live = live
        self.grabber = grabber

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/ipc/video/play_address", self.play_address, errors=results.PLAY,
                  internal=results.PLAY_INTERNAL),
            Route("GET", "/ipc/video/get_push_address", self.push_address),
            Route("GET", "/live/{stream}/index.m3u8", self.playlist, auth=False),
            Route("GET", "/live/{stream}/preload", self.preload),
            Route("GET", "/live_preview/{stream}", self.preview, auth=False),
            Route("GET", "/ipc/video/stat/getonlinelist", self.online_list),
            Route("GET", "/ipc/video/stat/getpushlist", self.push_list),
        ]

    def _address(self, https: bool = False) -> str:
        return self.base(https).split("://", 1)[1]

    @defer.inlineCallbacks
    def play_address(self, call):
        q = call.query
        dev_id = views.device_id(q)
        channel_no = views.channel_no(q)
        kind = views.integer(q, "protocol_type", HLS, low=0, high=5)
        timeout = views.integer(q, "timeout", -1, low=-1, high=MAX_TIMEOUT_MS)
        if kind in NO_RTMP:
            raise errors.NotAvailable("no %s here: protocol_type 1 (hls) or 5 (rtsp)" % NO_RTMP[kind])
        cover = "%s/live_preview/%s-%d?token=%s" % (
            self.base(False), dev_id, views.channel_id(channel_no),
            self.signer.token("live", _subject(dev_id, channel_no), self.signer.ttl))
        if kind == RTSP:
            url = yield self.core.api_play.relay_url(call.grant, dev_id, channel_no, 1)
            parts = urlsplit(url)
            token = parse_qs(parts.query).get("hashtoken", [""])[0]
            return Reply({"data": {"addr": parts.netloc, "accessToken": token, "type": "rtsp", "url": url,
                                   "coveraddr": self._address(), "cover_url": cover}})
        https = kind == HTTPS_HLS
        if https and not self.base(True).startswith("https://"):
            raise errors.NotAvailable("this listener has no TLS: protocol_type 1")
        if self.live is None:
            raise errors.NotAvailable("no live HLS here (the portal listener is off)")
        yield self.core.api_play.ready(call.grant, dev_id, channel_no, 1)
        ttl = -1 if timeout < 0 else max(1, math.ceil(timeout / 1000))
        token = self.signer.token("live", _subject(dev_id, channel_no), ttl)
        url = "%s/live/live_%s_%d/index.m3u8?%s" % (self.base(https), dev_id, views.channel_id(channel_no), token)
        return Reply({"data": {"addr": self._address(https), "accessToken": token,
                               "type": "https" if https else "http", "url": url,
                               "coveraddr": self._address(https), "cover_url": cover}})

    @defer.inlineCallbacks
    def playlist(self, call):
        """§4.1's HLS address: a redirect to the stream's signed playlist on the portal."""
        dev_id, channel_no = _stream(call.params["stream"])
        self.signer.check_token("live", _subject(dev_id, channel_no), _token(call))
        url = yield self.core.api_play.live_url(dev_id, channel_no, 1, PORTAL_TTL)
        return Raw(b"", b"text/plain", 302, {b"location": url.encode("ascii")})

    def preload(self, call):
        """§4.2: start the stream's packager now, so the first player finds it running."""
        dev_id, channel_no = _stream(call.params["stream"])
        call.grant.device(dev_id)
        self.signer.check_token("live", _subject(dev_id, channel_no), _token(call))
        views.integer(call.query, "idle_time", 120, low=1, high=120)  # the packagers' own idle_timeout rules
        if self.live is None:
            raise errors.NotAvailable("no live HLS here (the portal listener is off)")
        from ..media.hls import Key

        self.live.watch(Key(dev_id, channel_no, 1)).addErrback(
            lambda f: log.info("onenet: preload of {dev_id} channel {channel}: {why}", dev_id=dev_id,
                               channel=channel_no, why=f.getErrorMessage()))
        return defer.succeed(Reply())

    @defer.inlineCallbacks
    def preview(self, call):
        """§4.3: one frame of the stream, as a JPEG."""
        dev_id, channel_no = _stream(call.params["stream"], _PREVIEW)
        self.signer.check_token("live", _subject(dev_id, channel_no), _token(call))
        if self.grabber is None:
            raise errors.NotAvailable("no thumbnails here")
        jpeg = yield self.grabber.grab(dev_id, channel_no, 1)
        return Raw(jpeg, b"image/jpeg")

    # -- §14: what plays and what is pulled now

    def _streams(self, call) -> tuple[list, dict]:
        q = call.query
        call.grant.require_master()
        if views.required(q, "productid").strip() != self.product_id:
            raise errors.NoSuchDevice("no product %s" % (q["productid"].strip()[:32],))
        dev_id = views.device_id(q, "deviceid", required_=False)
        channel = views.integer(q, "channelid", None, low=None)
        page = views.integer(q, "page", 1, low=1, high=10_000)
        size = views.integer(q, "page_size", 20, low=1, high=100)
        now = self.live.clock.seconds() if self.live is not None else 0.0
        rows = []
        for key, packager in sorted((self.live.packagers if self.live is not None else {}).items()):
            if packager.state != "live" or key.stream_type != 1:
                continue
            if (dev_id and key.dev_id != dev_id) or (channel and key.channel_no != channel - 1):
                continue
            seconds = max(0, int(now - packager.started_at))
            rows.append((key, "%02d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)))
        info = {"total_num": len(rows), "page_total": (len(rows) + size - 1) // size, "page_size": size,
                "current_page": page, "page_key": q.get("page_key") or uuid.uuid4().hex}
        return rows[(page - 1) * size:page * size], info

    def _item(self, key, extra: dict) -> dict:
        return {"productid": views.dev_number(self.product_id), "deviceid": views.dev_number(key.dev_id),
                "channelid": views.channel_id(key.channel_no), **extra, "videocodec": "H264", "resolution": "",
                "fps": 0, "audiocodec": "", "bandwidth": 0}

    def online_list(self, call):
        """§14.1: the live HLS streams being played (the RTSP relay's sessions are counted in /metrics)."""
        kind = (call.query.get("protocoltype") or "").strip().lower()
        rows, info = self._streams(call)
        if kind and kind != "hls":
            rows, info = [], dict(info, total_num=0, page_total=0)
        return defer.succeed(Reply({"result": [
            {**self._item(key, {"protocoltype": "HLS", "clientip": ""}), "onlinetime": online}
            for key, online in rows], "page_info": info}))

    def push_list(self, call):
        """§14.2: the streams the platform pulls from devices for its live HLS (devices push nothing)."""
        rows, info = self._streams(call)
        return defer.succeed(Reply({"result": [
            {**self._item(key, {"protocoltype": "RTSP", "puship": self.peer_ip(key.dev_id) or ""}),
             "pushtime": online} for key, online in rows], "page_info": info}))

    def push_address(self, call):
        dev_id = views.device_id(call.query)
        call.grant.device(dev_id)
        raise errors.NotAvailable("devices do not push streams here; the platform pulls them (§4.1)")
