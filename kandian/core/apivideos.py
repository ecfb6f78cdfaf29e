"""Recordings and recording windows for the device-cloud video API (spec/001 §6 VOD, §13 recording).

A §6 video is one recorded piece of the platform's recorder
(:mod:`.recordings`), its ``video_id`` the piece's id; its name is the one
§6.4 gave it (``store.api_files``) or ``<DevID>_<channel_id>_<start>``.  A
§13 recording configuration is the channel's recording windows
(:mod:`.schedules`): continuous recording is a window on every day of the
week from 00:00:00 to 23:59:59 (windows never cross midnight), a timed one a
daily window, and stopping removes the channel's windows.  Who may is the
key's :class:`~.devicekeys.Grant`; the core's own checks (the channel, the
windows' rules) follow.
"""

from __future__ import annotations

import datetime

from twisted.internet import defer
from twisted.logger import Logger

from . import errors
from .apiplay import TOKEN_VIEWER
from .devicekeys import Grant
from .profiles import paging

log = Logger()

WHOLE_DAY = 86399  # 00:00:00 to 23:59:59: a window may not cross midnight
MAX_NAME = 128
NAMED_LIMIT = 100


class ApiVideos:
    def __init__(self, store, *, recordings, schedules, zone):
        """*recordings*: :class:`kandian.core.recordings.Recordings`; *schedules*:
        :class:`kandian.core.schedules.Schedules`; *zone*: the platform's ZoneInfo."""
        self.store = store
        self.recordings = recordings
        self.schedules = schedules
        self.zone = zone

    def default_name(self, recording) -> str:
        stamp = datetime.datetime.fromtimestamp(recording.started_at, self.zone).strftime("%Y%m%d%H%M%S")
        return "%s_%d_%s" % (recording.dev_id, recording.channel_no + 1, stamp)

    @defer.inlineCallbacks
    def _named(self, rows):
        names = yield self.store.api_files.video_names([r.recording_id for r in rows])
        return [(r, names.get(r.recording_id) or self.default_name(r)) for r in rows]

    # -- §6

    @defer.inlineCallbacks
    def get(self, grant: Grant, dev_id: str, channel_no: int, video_id):
        """(Recording, name) of the channel's piece *video_id*; NoSuchRecording."""
        grant.device(dev_id)
        recording = yield self.recordings.get(grant.principal, video_id)
        if (recording.dev_id, recording.channel_no) != (dev_id, channel_no):
            raise errors.NoSuchRecording("no recording %s of that channel" % (str(video_id)[:20],))
        return (yield self._named([recording]))[0]

    @defer.inlineCallbacks
    def _channel(self, dev_id: str, channel_no: int):
        target = yield self.store.relay.target(dev_id, channel_no, 1)
        if target is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        if not target.channel_exists:
            raise errors.NoSuchChannel("%s has no channel %s" % (dev_id, channel_no))

    @defer.inlineCallbacks
    def list(self, grant: Grant, dev_id: str, channel_no: int, since: float | None, until: float | None,
             name: str | None, page: int, per_page: int):
        """(total, [(Recording, name)]) newest first; NoSuchDevice, NoSuchChannel."""
        grant.device(dev_id)
        offset = paging(page, per_page)
        yield self._channel(dev_id, channel_no)
        if name is None:
            p = yield self.recordings.list(grant.principal, dev_id, channel_no, since, until, page, per_page)
            return p.total, (yield self._named(p.items))
        found = []
        for recording_id in (yield self.store.api_files.videos_named(dev_id, channel_no, name, NAMED_LIMIT)):
            try:
                recording = yield self.recordings.get(grant.principal, recording_id)
            except errors.NoSuchRecording:
                continue
            if (since is None or (recording.ended_at or recording.started_at) > since) and (
                    until is None or recording.started_at < until):
                found.append(recording)
        found.sort(key=lambda r: r.started_at, reverse=True)
        return len(found), [(r, name) for r in found[offset:offset + per_page]]

    @defer.inlineCallbacks
    def rename(self, grant: Grant, dev_id: str, channel_no: int, video_id, name):
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or not name.isprintable():
            raise errors.BadValue("name is 1 to %d characters" % MAX_NAME)
        recording, _ = yield self.get(grant, dev_id, channel_no, video_id)
        yield self.store.api_files.rename_video(recording.recording_id, dev_id, channel_no, name)

    @defer.inlineCallbacks
    def delete(self, grant: Grant, dev_id: str, channel_no: int | None, video_ids: list):
        """[(video_id, None or why not)] — each deleted (its file and row) or not, in order."""
        grant.device(dev_id)
        done = []
        for video_id in video_ids:
            try:
                recording = yield self.recordings.get(grant.principal, video_id)
                if recording.dev_id != dev_id or (channel_no is not None and recording.channel_no != channel_no):
                    raise errors.NoSuchRecording("not this channel's")
                yield self.recordings.delete(grant.principal, recording.recording_id)
                yield self.store.api_files.forget_videos([recording.recording_id])
                done.append((video_id, None))
            except errors.NoSuchRecording:
                done.append((video_id, "not exist"))
            except errors.DomainError as e:
                done.append((video_id, str(e)[:200]))
        return done

    @defer.inlineCallbacks
    def delete_device(self, grant: Grant, dev_id: str):
        """§1.6: the device's recording windows (a recording in progress stops) and every finished piece
        (files and rows) go; a piece still being closed is left to the retention job.  How many pieces."""
        grant.device(dev_id)
        for window in (yield self.schedules.list(grant.principal, dev_id)):
            yield self.schedules.delete(grant.principal, window.schedule_id, dev_id)
        deleted = 0
        while True:
            p = yield self.recordings.list(grant.principal, dev_id, None, None, None, 1, 200)
            done = [r for r in p.items if r.complete]
            for recording in done:
                try:
                    yield self.recordings.delete(grant.principal, recording.recording_id)
                    deleted += 1
                except (errors.NoSuchRecording, errors.RecordingInProgress):
                    continue
            if len(done) < 200 or not done:
                break
        return deleted

    def vod_url(self, video_id, ttl: int) -> defer.Deferred:
        """The signed VOD playlist of a piece whose play token the interface checked."""
        return self.recordings.vod_url(TOKEN_VIEWER, video_id, ttl)

    # -- §13

    @defer.inlineCallbacks
    def windows(self, grant: Grant, dev_id: str, channel_no: int):
        grant.device(dev_id)
        return [s for s in (yield self.schedules.list(grant.principal, dev_id, channel_no))]

    @defer.inlineCallbacks
    def clear(self, grant: Grant, dev_id: str, channel_no: int):
        """Remove the channel's recording windows (a recording in progress stops); how many there were."""
        held = yield self.windows(grant, dev_id, channel_no)
        for window in held:
            yield self.schedules.delete(grant.principal, window.schedule_id, dev_id, channel_no)
        return len(held)

    @defer.inlineCallbacks
    def record(self, grant: Grant, dev_id: str, channel_no: int, *, start: int = 0, duration: int = WHOLE_DAY,
               replace: bool = True):
        """Record the channel every day from *start* (seconds after midnight) for *duration* seconds
        (by default, all day): the channel's windows become those; a window in progress starts at once."""
        if replace:
            yield self.clear(grant, dev_id, channel_no)
        for weekday in range(7):
            yield self.schedules.add(grant.principal, dev_id, channel_no, weekday, start, duration)
        log.info("{who}: channel {channel} of {dev_id} records {start}+{duration} s a day", who=grant.name,
                 channel=channel_no, dev_id=dev_id, start=start, duration=duration)
