"""The REST API's recording routes: schedules, recordings, VOD, download (PRODUCT.md "Media").

Schedules are spec 002's "courses" on a channel; recordings are the pieces
the platform recorded.  The playlist, a piece's MPEG-TS, its snapshot and
its MP4 answer a logged-in principal (Bearer or the portal's cookie) or a
signed URL (``?exp=&sig=``, from :meth:`kandian.core.recordings.Recordings.vod_url`):
players fetch what a playlist names without credentials, so every piece a
playlist names carries a signature of its own (the playlist's expiry when
it was signed itself, else :data:`SEGMENT_TTL`).  Files are answered with
HTTP ranges (:class:`kandian.portal.api.RangedFile`).
"""

from __future__ import annotations

import os

from twisted.internet import defer

from ..core import errors
from ..core.schedules import format_start
from ..media import vod
from . import views
from .api import ApiError, FileBody, RangedFile, Reply
from .router import Route

M3U8 = b"application/vnd.apple.mpegurl"
SEGMENT_TTL = 6 * 3600


def _dict(body) -> dict:
    if not isinstance(body, dict):
        raise ApiError((400, "bad_request"), "the body is a JSON object")
    return body


class RecordingHandlers:
    def __init__(self, core, times: views.Times):
        self.core = core
        self.times = times

    def routes(self) -> list[Route]:
        schedules = "/devices/{DevID}/channels/{ChannelNo}/schedules"
        return [
            Route("GET", schedules, self.schedules),
            Route("POST", schedules, self.add_schedule, lists=False),
            Route("GET", schedules + "/{id}", self.schedule),
            Route("DELETE", schedules + "/{id}", self.delete_schedule, lists=False),
            Route("GET", "/recordings", self.recordings),
            Route("GET", "/recordings/{id}", self.recording),
            Route("DELETE", "/recordings/{id}", self.delete_recording, lists=False),
            Route("GET", "/recordings/{id}/index.m3u8", self.playlist, auth=False),
            Route("GET", "/recordings/{id}/media.ts", self.media, auth=False),
            Route("GET", "/recordings/{id}/snapshot.jpg", self.snapshot, auth=False),
            Route("GET", "/recordings/{id}/download", self.download, auth=False),
        ]

    # -- schedules

    def _schedule(self, s) -> dict:
        return {"id": s.schedule_id, "dev_id": s.dev_id, "channel_no": s.channel_no, "weekday": s.weekday,
                "start": format_start(s.start), "duration": s.duration, "end": format_start(s.end),
                "created_at": self.times.out(s.created_at), "updated_at": self.times.out(s.updated_at)}

    @defer.inlineCallbacks
    def schedules(self, call):
        rows = yield self.core.schedules.list(call.principal, call.params["DevID"], call.params["ChannelNo"])
        return Reply(200, {"items": [self._schedule(s) for s in rows]})

    @defer.inlineCallbacks
    def add_schedule(self, call):
        body = _dict(call.body)
        made = yield self.core.schedules.add(call.principal, call.params["DevID"], call.params["ChannelNo"],
                                             body.get("weekday"), body.get("start"), body.get("duration"))
        return Reply(201, self._schedule(made))

    @defer.inlineCallbacks
    def schedule(self, call):
        found = yield self.core.schedules.get(call.principal, call.params["id"], call.params["DevID"],
                                              call.params["ChannelNo"])
        return Reply(200, self._schedule(found))

    @defer.inlineCallbacks
    def delete_schedule(self, call):
        yield self.core.schedules.delete(call.principal, call.params["id"], call.params["DevID"],
                                         call.params["ChannelNo"])
        return Reply(204, None)

    # -- recordings

    def _recording(self, r) -> dict:
        base = "/api/v1/recordings/%d" % r.recording_id
        return {"id": r.recording_id, "dev_id": r.dev_id, "channel_no": r.channel_no, "stream_type": r.stream_type,
                "schedule_id": r.schedule_id, "run_id": r.run_id, "seq": r.seq,
                "started_at": self.times.out(r.started_at), "ended_at": self.times.out(r.ended_at),
                "duration": round(r.duration, 3), "size": r.size, "complete": r.complete,
                "snapshot": base + "/snapshot.jpg" if r.snapshot else None,
                "vod": base + "/index.m3u8" if r.complete else None,
                "download": base + "/download" if r.complete else None}

    @defer.inlineCallbacks
    def recordings(self, call):
        q = call.query
        channel = views.integer(q, "channel")
        since = self.times.parse(q["from"], "from") if q.get("from") else None
        until = self.times.parse(q["to"], "to") if q.get("to") else None
        p = yield self.core.recordings.list(call.principal, views.text(q, "devid"), channel, since, until,
                                            views.integer(q, "page", 1), views.integer(q, "per_page", 50))
        return Reply(200, views.page(p, [self._recording(r) for r in p.items]))

    @defer.inlineCallbacks
    def recording(self, call):
        found = yield self.core.recordings.get(call.principal, call.params["id"])
        return Reply(200, self._recording(found))

    @defer.inlineCallbacks
    def delete_recording(self, call):
        yield self.core.recordings.delete(call.principal, call.params["id"])
        return Reply(204, None)

    # -- files: a logged-in principal or a signed URL

    @defer.inlineCallbacks
    def _allowed(self, call):
        """(the recording, the expiry of the signature the call came with or None)."""
        q = call.query
        if "sig" in q or "exp" in q:
            found = yield self.core.recordings.unsigned_get(call.params["id"], q.get("exp", ""), q.get("sig", ""))
            return found, int(q["exp"])
        session = yield self.core.api_auth.session(call.token)
        found = yield self.core.recordings.get(session.principal, call.params["id"])
        return found, None

    @defer.inlineCallbacks
    def playlist(self, call):
        found, expires = yield self._allowed(call)
        run = yield self.core.recordings.vod(found)
        signatures = {p.recording_id: self.core.recordings.sign(p.recording_id, SEGMENT_TTL, expires)
                      for p in run.pieces}

        def url(recording_id):
            exp, sig = signatures[recording_id]
            return "/api/v1/recordings/%d/media.ts?exp=%d&sig=%s" % (recording_id, exp, sig)
        text = vod.playlist(run.pieces, url, run.start_offset, run.ended)
        return Reply(200, text.encode("utf-8"), M3U8)

    @defer.inlineCallbacks
    def media(self, call):
        found, _ = yield self._allowed(call)
        return Reply(200, RangedFile(self.core.recordings.media_path(found)), b"video/mp2t")

    @defer.inlineCallbacks
    def snapshot(self, call):
        found, _ = yield self._allowed(call)
        path = self.core.recordings.snapshot_path(found)
        return Reply(200, FileBody(path, _size(path), b'"rec-%d"' % found.recording_id), b"image/jpeg")

    @defer.inlineCallbacks
    def download(self, call):
        found, _ = yield self._allowed(call)
        path = yield self.core.recordings.mp4(found)
        name = "%s_%d_%s.mp4" % (found.dev_id, found.channel_no,
                                 (self.times.out(found.started_at) or "")[:19].replace("-", "").replace(":", "")
                                 .replace("T", ""))
        return Reply(200, RangedFile(path, name), b"video/mp4")


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        raise errors.NoPicture("the snapshot file is gone") from None
