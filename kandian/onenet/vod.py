"""spec/001 §6 video on demand and §13 recording — over :mod:`kandian.core.apivideos` (the platform's recorder).

A video is one recorded piece (``videoid`` its id); ``hls_url`` is this
listener's ``/ipc/video/vod/play/<videoid>/index.m3u8``, to which the
application appends ``?token=`` from §6.5 (as §6.1 says) and which redirects
to the piece's signed HLS VOD playlist on the portal (it plays on into the
run's next pieces, with seeking).  kandian has no RTMP: ``rtmp_url`` is
empty.  ``size`` is in KB, as the file says.  §13 sets the channel's
recording windows: continuous (``action``/``type`` 1, and §13.1's start), a
daily window (0 with ``start_time`` and ``end_time``), none (0 alone, §13.1's
stop, §13.3); event recording (2) is not kandian's (errno 400), and
``cycle``/``expired`` are checked but the platform's ``[media]
retention_days`` decides how long recordings are kept.
"""

from __future__ import annotations

import re

from twisted.internet import defer

from ..core import errors
from . import views
from .api import Raw, Reply, Route

PLAY_PATH = "/ipc/video/vod/play/"
PORTAL_TTL = 6 * 3600
_CLOCK = re.compile(r"(?:^|\s)([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])$")


def _first(query: dict, *names: str) -> str | None:
    for name in names:
        if query.get(name):
            return query[name]
    return None


def _seconds_of_day(text: str, name: str) -> int:
    match = _CLOCK.search(text.strip())
    if match is None:
        raise errors.BadValue("%s is HH:MM:SS (or YYYY-MM-DD HH:MM:SS)" % name)
    hours, minutes, seconds = (int(x) for x in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class VodHandlers:
    def __init__(self, core, times: views.Times, signer, product, *, base):
        """*base(https)*: this listener's public ``scheme://host:port``; *product(query)* checks ``product_id``."""
        self.core = core
        self.times = times
        self.signer = signer
        self.product = product
        self.base = base

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/ipc/video/vod/get_video_info", self.info),
            Route("GET", "/ipc/video/vod/get_video_list", self.list),
            Route("POST", "/ipc/video/vod/delete_video", self.delete, body="json"),
            Route("PUT", "/ipc/video/vod/rename_video", self.rename, body="json"),
            Route("GET", "/ipc/video/vod/get_play_token", self.play_token),
            Route("GET", PLAY_PATH + "{video_id}/index.m3u8", self.play, auth=False),
            Route("GET", "/ipc/video/record/record_video", self.record_video),
            Route("PUT", "/api/record/record_config", self.record_config),  # §13.2's own path
            Route("PUT", "/ipc/video/record/record_config", self.record_config),
            Route("DELETE", "/ipc/video/record/delete_config", self.delete_config),
            Route("PUT", "/ipc/video/record/update_config", self.update_config),
        ]

    # -- §6

    def _video(self, recording, name: str, https: bool, *, as_text: bool) -> dict:
        kilobytes = (recording.size + 1023) // 1024
        end = recording.ended_at if recording.ended_at is not None else recording.started_at + recording.duration
        video = {"videoid": str(recording.recording_id), "name": name, "start": self.times.out(recording.started_at),
                 "end": self.times.out(end), "size": str(kilobytes) if as_text else kilobytes,
                 "hls_url": "%s%s%d/index.m3u8" % (self.base(https), PLAY_PATH, recording.recording_id),
                 "rtmp_url": ""}
        if as_text:
            video["durtion"] = str(int(round(recording.duration)))  # sic, §6.1
        return video

    def _https(self, query: dict) -> bool:
        return views.integer(query, "security", 0, low=0, high=1) == 1 and self.base(True).startswith("https://")

    @defer.inlineCallbacks
    def info(self, call):
        q = call.query
        recording, name = yield self.core.api_videos.get(call.grant, views.device_id(q), views.channel_no(q),
                                                         views.required(q, "video_id").strip("\"“”"))
        return Reply({"data": self._video(recording, name, self._https(q), as_text=True)})

    @defer.inlineCallbacks
    def list(self, call):
        q = call.query
        start, end = views.text(q, "start_time", 32), views.text(q, "end_time", 32)
        since = self.times.parse(start.strip("\"“”"), "start_time") if start else None
        until = self.times.parse(end.strip("\"“”"), "end_time", end=True) if end else None
        page, per_page = views.integer(q, "page_start", 1), views.integer(q, "page_size", 20)
        name = views.text(q, "name", 128)
        total, rows = yield self.core.api_videos.list(call.grant, views.device_id(q), views.channel_no(q), since,
                                                      until, name.strip("\"“”") if name else None, page, per_page)
        https = self._https(q)
        return Reply({"data": {"videos": [self._video(r, n, https, as_text=False) for r, n in rows]},
                      "page_info": views.page_info(total, page, per_page)})

    @defer.inlineCallbacks
    def delete(self, call):
        q = call.query
        dev_id = views.device_id({"device_id": _first(q, "deviceid", "device_id") or ""})
        channel = _first(q, "channeled", "channelid", "channel_id")  # §6.3 writes "channeled"
        channel_no = views.channel_no({"channel_id": channel}) if channel else None
        body = call.body
        if not isinstance(body, dict) or not isinstance(body.get("video"), list) or len(body["video"]) > 100:
            raise errors.BadValue('the body is {"video": [{"videoId": "…"}, …]} (at most 100)')
        ids = []
        for item in body["video"]:
            video_id = item.get("videoId") if isinstance(item, dict) else None
            if isinstance(video_id, bool) or not isinstance(video_id, (str, int)):
                raise errors.BadValue("each video is {\"videoId\": \"…\"}")
            ids.append(str(video_id))
        done = yield self.core.api_videos.delete(call.grant, dev_id, channel_no, ids)
        return Reply({"data": [{"code": 0} if why is None else {"code": 1, "message": why} for _, why in done]})

    @defer.inlineCallbacks
    def rename(self, call):
        q = call.query
        if not isinstance(call.body, dict):
            raise errors.BadValue('the body is {"name": "…"}')
        yield self.core.api_videos.rename(call.grant, views.device_id(q), views.channel_no(q),
                                          views.required(q, "video_id").strip("\"“”"), call.body.get("name"))
        return Reply()

    @defer.inlineCallbacks
    def play_token(self, call):
        q = call.query
        recording, _ = yield self.core.api_videos.get(call.grant, views.device_id(q), views.channel_no(q),
                                                      views.required(q, "video_id").strip("\"“”"))
        return Reply({"data": {"token": self.signer.token("vod", str(recording.recording_id), self.signer.ttl)}})

    @defer.inlineCallbacks
    def play(self, call):
        video_id = call.params["video_id"]
        token = call.query.get("token") or call.raw_query.split("&", 1)[0]
        self.signer.check_token("vod", video_id, token.strip("\"“”"))
        url = yield self.core.api_videos.vod_url(video_id, PORTAL_TTL)
        return Raw(b"", b"text/plain", 302, {b"location": url.encode("ascii")})

    # -- §13

    def _channel(self, q: dict) -> tuple[str, int]:
        self.product(q)
        return views.device_id(q), views.channel_no(q)

    @staticmethod
    def _days(q: dict, name: str) -> None:
        views.integer(q, name, None, low=None)
        if q.get(name) and not 1 <= int(q[name]) <= 3650:
            raise errors.BadValue("%s is 1 to 3650 days" % name)

    @defer.inlineCallbacks
    def record_video(self, call):
        """§13.1: start (1) or stop (0) recording the channel now."""
        q = call.query
        dev_id, channel_no = self._channel(q)
        action = views.integer(q, "action", None, low=0, high=1)
        self._days(q, "expired")
        videos = self.core.api_videos
        held = yield videos.windows(call.grant, dev_id, channel_no)
        if action == 1:
            if held:
                raise errors.BadValue("the channel is being recorded already (stop it first)")
            yield videos.record(call.grant, dev_id, channel_no, replace=False)
        else:
            if not held:
                raise errors.BadValue("the channel is not being recorded")
            yield videos.clear(call.grant, dev_id, channel_no)
        return Reply()

    @defer.inlineCallbacks
    def _configure(self, call, kind: int | None, q: dict):
        dev_id, channel_no = self._channel(q)
        self._days(q, "cycle")
        videos = self.core.api_videos
        if kind == 2:
            raise errors.NotAvailable("kandian does not record on events: record continuously (1) or by window (0)")
        if kind == 1:
            yield videos.record(call.grant, dev_id, channel_no)
        elif q.get("start_time") or q.get("end_time"):
            start = _seconds_of_day(views.required(q, "start_time"), "start_time")
            end = _seconds_of_day(views.required(q, "end_time"), "end_time")
            if end <= start:
                raise errors.BadValue("end_time is after start_time (a window does not cross midnight)")
            yield videos.record(call.grant, dev_id, channel_no, start=start, duration=end - start)
        else:
            yield videos.clear(call.grant, dev_id, channel_no)
        return Reply()

    def record_config(self, call):
        """§13.2: 1 continuous, 2 events (not here), 0 a daily window (with start_time, end_time) or stop."""
        q = call.query
        raw = _first(q, "action", "type")
        kind = views.integer({"v": raw or ""}, "v", None, low=None)
        if kind not in (0, 1, 2):
            raise errors.BadValue("action is 0, 1 or 2")
        return self._configure(call, kind, q)

    @defer.inlineCallbacks
    def delete_config(self, call):
        dev_id, channel_no = self._channel(call.query)
        yield self.core.api_videos.clear(call.grant, dev_id, channel_no)
        return Reply()

    def update_config(self, call):
        """§13.4: type 1 continuous, 2 events (not here); no type clears the channel's configuration."""
        q = call.query
        kind = views.integer(q, "type", None, low=None)
        if kind not in (None, 1, 2):
            raise errors.BadValue("type is 1 or 2 (or none, to clear)")
        if kind is None:
            q = {k: v for k, v in q.items() if k not in ("start_time", "end_time")}
        return self._configure(call, kind, q)
