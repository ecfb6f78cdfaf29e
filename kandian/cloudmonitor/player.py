"""spec/002's embeddable player pages: ``play_camera``'s ``play_url`` (§3.18, §3.19).

``/player/camera/<camera_id>?width=&height=&exp=&sig=`` is an HTML5 page of
that size playing the channel's live HLS (the portal's ``/live/…``, a signed
URL from :meth:`kandian.core.media.Media.live_url`) with the hls.js the
portal ships; it says when the camera is offline or the stream ended.  As
the file asks, it sends a heartbeat every 12 s
(``…/heartbeat?exp=&sig=``): the answer is a fresh signed live URL and its
status URL, and the page then asks for the playlist, which keeps the
on-demand stream's packager running while the page is open (also while
the video is paused).  The page may be framed by any site (no
``X-Frame-Options``; ``frame-ancestors *``); its own scripts only
(``script-src 'self'``).  A page URL is signed (:class:`Signer`) and valid
``lifetime`` seconds; a wrong or expired signature is 403.
"""

from __future__ import annotations

import html
import json
import os
import re
from urllib.parse import urlsplit

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server, static

from ..core import errors
from ..core.access import Principal
from ..logs import peer_text
from ..media import vod

log = Logger()

PURPOSE = "cloudmonitor-player"
HEARTBEAT_SECONDS = 12  # spec/002 §3.18
LIVE_TTL = 3600  # a live URL handed to the page; the heartbeat hands a fresh one
DEFAULT_SIZE = (850, 550)
STATIC = os.path.join(os.path.dirname(__file__), "static")
HLS_JS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "portal", "static", "hls.light.min.js")
_PAGE = re.compile(r"^/player/camera/([1-9][0-9]{0,17})(/heartbeat)?$")
_RECORD = re.compile(r"^/player/record/([1-9][0-9]{0,17})(/index\.m3u8|/media\.ts)?$")
_STATIC = {"/player/player.js": (os.path.join(STATIC, "player.js"), b"text/javascript; charset=utf-8"),
           "/player/player.css": (os.path.join(STATIC, "player.css"), b"text/css; charset=utf-8"),
           "/player/hls.light.min.js": (HLS_JS, b"text/javascript; charset=utf-8")}
# the player asks the live stream as a viewer operator: the page's signature is its authority
PLAYER = Principal("operator", 0, "cloudmonitor-player", "viewer")


class Player:
    """Signs play_url and answers the pages; *channel_of(camera_id)* → (DevID, ChannelNo);
    *recordings*: :class:`kandian.core.recordings.Recordings`."""

    def __init__(self, keys, clock, media, *, base, channel_of, recordings=None, lifetime: int = 86400):
        self.keys = keys
        self.clock = clock
        self.media = media
        self.recordings = recordings
        self.base = base
        self.channel_of = channel_of
        self.lifetime = lifetime

    def query(self, path: str, expires: int | None = None) -> str:
        expires = int(self.clock.seconds()) + self.lifetime if expires is None else expires
        return "exp=%d&sig=%s" % (expires, self.keys.sign(PURPOSE, path, expires))

    def url(self, camera_id: int, width: int, height: int) -> str:
        path = "/player/camera/%d" % (camera_id,)
        return "%s%s?width=%d&height=%d&%s" % (self.base(), path, width, height, self.query(path))

    def record_url(self, recording_id: int, width: int, height: int) -> str:
        path = "/player/record/%d" % (recording_id,)
        return "%s%s?width=%d&height=%d&%s" % (self.base(), path, width, height, self.query(path))

    def signed(self, path: str, exp: str, sig: str) -> bool:
        if not exp.isdigit() or len(exp) > 12 or len(sig) > 64:
            return False
        return self.keys.verify(PURPOSE, path, int(exp), sig, self.clock.seconds())

    @defer.inlineCallbacks
    def live(self, camera_id: int) -> dict:
        dev_id, channel_no = self.channel_of(str(camera_id))
        live = yield self.media.live_url(PLAYER, dev_id, channel_no, 1, LIVE_TTL)
        head, _, query = live.partition("?")
        return {"live": live, "status": head.rsplit("/", 1)[0] + "/status?" + query}


class PlayerResource(resource.Resource):
    isLeaf = True

    def __init__(self, player: Player):
        super().__init__()
        self.player = player
        self._files: dict[str, bytes] = {}

    def render_GET(self, request):
        path = request.path.decode("utf-8", "replace")
        if path in _STATIC:
            return self._static(request, *_STATIC[path])
        record = _RECORD.match(path)
        if record is not None:
            return self._record(request, int(record.group(1)), record.group(2))
        match = _PAGE.match(path)
        if match is None:
            return _text(request, 404, "no such page")
        camera_id, heartbeat = int(match.group(1)), bool(match.group(2))
        args = {k.decode("latin-1"): v[-1].decode("utf-8", "replace") for k, v in request.args.items()}
        if not self.player.signed("/player/camera/%d" % camera_id, args.get("exp", ""), args.get("sig", "")):
            return _text(request, 403, "this player link is wrong or has expired")
        d = self.player.live(camera_id)
        if heartbeat:
            d.addCallback(self._heartbeat, request)
        else:
            d.addCallback(self._page, request, args, camera_id)
        d.addErrback(self._failed, request, heartbeat)
        d.addErrback(lambda f: log.failure("cloudmonitor player: answering {path} failed", f, path=peer_text(path)))
        return server.NOT_DONE_YET

    # -- a recording: the page, its VOD playlist, its pieces (same origin: no CORS needed)

    def _record(self, request, recording_id: int, part: str | None):
        args = {k.decode("latin-1"): v[-1].decode("utf-8", "replace") for k, v in request.args.items()}
        path = "/player/record/%d" % (recording_id,)
        if self.player.recordings is None or not self.player.signed(path, args.get("exp", ""), args.get("sig", "")):
            return _text(request, 403, "this player link is wrong or has expired")
        d = self.player.recordings.get(PLAYER, recording_id)
        if part is None:
            d.addCallback(lambda _: self._vod_page(request, args, recording_id))
        elif part == "/index.m3u8":
            d.addCallback(self._playlist, request, args)
        else:
            d.addCallback(self._piece, request)
        d.addErrback(self._failed, request, False)
        d.addErrback(lambda f: log.failure("cloudmonitor player: answering {path} failed", f, path=path))
        return server.NOT_DONE_YET

    def _vod_page(self, request, args: dict, recording_id: int) -> None:
        width, height = _size(args.get("width"), DEFAULT_SIZE[0]), _size(args.get("height"), DEFAULT_SIZE[1])
        vod = "/player/record/%d/index.m3u8?exp=%s&sig=%s" % (recording_id, args["exp"], args["sig"])
        body = PAGE % {"width": width, "height": height, "data": 'data-vod="%s"' % html.escape(vod, quote=True)}
        _headers(request, "")
        self._write(request, body.encode("utf-8"), b"text/html; charset=utf-8")

    @defer.inlineCallbacks
    def _playlist(self, found, request, args: dict):
        run = yield self.player.recordings.vod(found)
        expires = int(args["exp"])

        def url(recording_id: int) -> str:
            return "/player/record/%d/media.ts?%s" % (recording_id, self.player.query(
                "/player/record/%d" % recording_id, expires))
        text = vod.playlist(run.pieces, url, run.start_offset, run.ended)
        self._write(request, text.encode("utf-8"), b"application/vnd.apple.mpegurl")

    def _piece(self, found, request):
        path = self.player.recordings.media_path(found)
        # HTTP ranges (the playlist names byte ranges of the piece): twisted.web's static file does them
        piece = static.File(path, defaultType="video/mp2t")
        piece.type, piece.encoding = "video/mp2t", None
        request.setHeader(b"cache-control", b"private, max-age=3600")
        result = piece.render_GET(request)
        if result != server.NOT_DONE_YET:
            request.write(result)
            request.finish()

    @staticmethod
    def _write(request, data: bytes, content_type: bytes) -> None:
        if request._disconnected:
            return
        request.setHeader(b"content-type", content_type)
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"content-length", b"%d" % len(data))
        request.write(data)
        request.finish()

    def _page(self, urls: dict, request, args: dict, camera_id: int) -> None:
        width, height = _size(args.get("width"), DEFAULT_SIZE[0]), _size(args.get("height"), DEFAULT_SIZE[1])
        query = "exp=%s&sig=%s" % (args["exp"], args["sig"])
        heartbeat = "/player/camera/%d/heartbeat?%s" % (camera_id, query)
        attrs = {"data-live": urls["live"], "data-status": urls["status"], "data-heartbeat": heartbeat,
                 "data-interval": str(HEARTBEAT_SECONDS * 1000)}
        body = PAGE % {
            "width": width, "height": height,
            "data": " ".join('%s="%s"' % (k, html.escape(v, quote=True)) for k, v in attrs.items()),
        }
        origin = _origin(urls["live"])
        _headers(request, origin)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        data = body.encode("utf-8")
        request.setHeader(b"content-length", b"%d" % len(data))
        request.write(data)
        request.finish()

    @staticmethod
    def _heartbeat(urls: dict, request) -> None:
        data = json.dumps(urls).encode("ascii")
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"content-length", b"%d" % len(data))
        request.write(data)
        request.finish()

    @staticmethod
    def _failed(failure, request, heartbeat: bool) -> None:
        if failure.check(errors.DomainError):
            log.info("cloudmonitor player: {why}", why=peer_text(failure.getErrorMessage(), 160))
            data = _text(request, 404 if failure.check(errors.NoSuchDevice, errors.NoSuchChannel) else 503,
                         "this camera cannot be played: %s" % (failure.getErrorMessage(),))
        else:
            log.failure("cloudmonitor player: the live URL could not be made", failure)
            data = _text(request, 503, "not available now")
        if not request._disconnected:
            request.write(data)
            request.finish()

    def _static(self, request, path: str, content_type: bytes) -> bytes:
        data = self._files.get(path)
        if data is None:
            try:
                with open(path, "rb") as f:  # files of the package (hls.js: 300 KB), read once, then kept
                    data = self._files[path] = f.read()
            except OSError:
                return _text(request, 404, "no such file")
        request.setHeader(b"content-type", content_type)
        request.setHeader(b"cache-control", b"public, max-age=86400")
        request.setHeader(b"x-content-type-options", b"nosniff")
        return data


PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>实时视频</title><link rel="stylesheet" href="/player/player.css"></head>
<body><div class="player"><video id="video" width="%(width)d" height="%(height)d" muted autoplay playsinline
controls %(data)s></video><p id="state" data-state="idle">正在连接摄像机…</p></div>
<script src="/player/hls.light.min.js"></script><script src="/player/player.js"></script></body></html>
"""


def _size(value: str | None, default: int) -> int:
    if not value:
        return default
    if not value.isdigit() or not 16 <= int(value) <= 4096:
        return default
    return int(value)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return "%s://%s" % (parts.scheme, parts.netloc)


def _headers(request, media_origin: str) -> None:
    policy = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
              " connect-src 'self' %s; media-src 'self' blob: %s; frame-ancestors *; base-uri 'none';"
              " form-action 'none'" % (media_origin, media_origin)).replace("  ", " ")
    request.setHeader(b"content-security-policy", policy.encode("ascii", "replace"))
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.setHeader(b"referrer-policy", b"no-referrer")
    request.setHeader(b"cache-control", b"no-store")


def _text(request, code: int, text: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return text.encode("utf-8") + b"\n"
