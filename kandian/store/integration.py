"""What the compatibility APIs keep about devices, channels and recordings (tables cm_gather, cm_camera,
cm_record; reads device, channel, stream_profile, picture, recording).

spec/002 lists devices ("gathers") with settings kandian has no use for
(``cm_gather``, the file's defaults for a device without a row) and
channels ("cameras") with how often each was played and, for a stream-proxy
channel added under a device, that device (``cm_camera``).  Pages are
ordered by DevID (and ChannelNo) and limited in SQL; times are POSIX seconds.
Closing a channel's streams writes ``stream_profile.enabled`` (§10.2: the
relay answers 403), for both stream types.
"""

from __future__ import annotations

from typing import NamedTuple

from twisted.internet import defer

GATHER_SETTINGS = ("main_rate", "sub_rate", "auto_dvr", "auto_fds", "slice_val", "inter_val", "snap_val")
DEFAULTS = {"main_rate": 1024, "sub_rate": 512, "auto_dvr": 0, "auto_fds": 1, "slice_val": 0, "inter_val": 0,
            "snap_val": 2}
MAX_CHANNEL = 999  # channels above are not listed (a camera id has three digits for the channel)


class GatherRow(NamedTuple):
    dev_id: str
    name: str
    model: str
    dev_ver: str | None
    ip: str | None  # the link's address, else the reported local one
    online: bool
    settings: dict  # GATHER_SETTINGS → int
    created_at: float | None
    updated_at: float | None


class CameraRow(NamedTuple):
    dev_id: str
    channel_no: int
    name: str  # the channel's name (§8.18), else ""
    device_name: str
    gather_dev_id: str  # the device it is listed under
    gather_name: str
    local_ip: str | None
    online: bool
    enabled: bool  # its main stream is open (§10.2)
    dual_stream: bool  # the device offers a sub stream
    clicks: int
    picture_id: int | None  # the newest picture of the channel on disk
    picture_name: str | None
    created_at: float | None
    updated_at: float | None
    proxy_url: str | None = None  # a stream-proxy channel's source (kandian.store.proxies)


_GATHER = (
    "SELECT d.dev_id, d.name, d.model, d.dev_ver, coalesce(host(d.public_ip), d.local_ip), d.online,"
    " coalesce(g.main_rate, 1024), coalesce(g.sub_rate, 512), coalesce(g.auto_dvr, 0), coalesce(g.auto_fds, 1),"
    " coalesce(g.slice_val, 0), coalesce(g.inter_val, 0), coalesce(g.snap_val, 2),"
    " extract(epoch FROM d.created_at)::float8, extract(epoch FROM coalesce(g.updated_at, d.created_at))::float8"
    " FROM device d LEFT JOIN cm_gather g USING (dev_id)"
    # a stream-proxy channel added under another device is that device's camera, not a gather of its own
    " WHERE NOT EXISTS (SELECT 1 FROM cm_camera k WHERE k.dev_id = d.dev_id AND k.gather_dev_id IS NOT NULL)")

_CAMERA_COLUMNS = (
    "SELECT c.dev_id, c.channel_no, c.name, d.name, coalesce(k.gather_dev_id, c.dev_id), coalesce(gd.name, d.name),"
    " coalesce(d.local_ip, host(d.public_ip)), d.online,"
    " coalesce((SELECT p.enabled FROM stream_profile p WHERE p.dev_id = c.dev_id AND p.channel_no = c.channel_no"
    "  AND p.stream_type = 1), true),"
    " EXISTS (SELECT 1 FROM video_capability v WHERE v.dev_id = c.dev_id AND v.stream_type = 2),"
    " coalesce(k.clicks, 0), pic.picture_id, pic.file_name,"
    " extract(epoch FROM coalesce(k.created_at, d.created_at))::float8,"
    " extract(epoch FROM coalesce(k.updated_at, d.created_at))::float8, sp.url")
_CAMERA_JOINS = (
    " JOIN device d USING (dev_id)"
    " LEFT JOIN cm_camera k ON k.dev_id = c.dev_id AND k.channel_no = c.channel_no"
    " LEFT JOIN device gd ON gd.dev_id = k.gather_dev_id"
    " LEFT JOIN stream_proxy sp ON sp.dev_id = c.dev_id"
    " LEFT JOIN LATERAL (SELECT p.picture_id, p.file_name FROM picture p JOIN device_file f"
    "  ON f.dev_id = p.dev_id AND f.area = 'pictures' AND f.file_name = p.file_name"
    "  WHERE p.dev_id = c.dev_id AND p.channel_no = c.channel_no"
    "  ORDER BY p.received_at DESC, p.picture_id DESC LIMIT 1) pic ON true")
_CAMERA = _CAMERA_COLUMNS + " FROM channel c" + _CAMERA_JOINS + " WHERE c.channel_no <= %d" % MAX_CHANNEL
# the page is cut from the channel table first: the joins are made for its rows only
_CAMERA_PAGE = (
    _CAMERA_COLUMNS + ", (SELECT count(*) FROM channel WHERE channel_no <= %d)" % MAX_CHANNEL
    + " FROM (SELECT dev_id, channel_no, name FROM channel WHERE channel_no <= %d" % MAX_CHANNEL
    + " ORDER BY dev_id, channel_no OFFSET %s LIMIT %s) c" + _CAMERA_JOINS + " ORDER BY c.dev_id, c.channel_no")


_GATHER_COUNT = (
    "SELECT count(*) FROM device d"
    " WHERE NOT EXISTS (SELECT 1 FROM cm_camera k WHERE k.dev_id = d.dev_id AND k.gather_dev_id IS NOT NULL)")


def _gather(row) -> GatherRow:
    return GatherRow(row[0], row[1], row[2], row[3], row[4], row[5], dict(zip(GATHER_SETTINGS, row[6:13])),
                     row[13], row[14])


class IntegrationStore:
    def __init__(self, db):
        self.db = db

    # -- gathers (devices)

    @defer.inlineCallbacks
    def gathers(self, offset: int, limit: int):
        """(total, [GatherRow]) by DevID."""
        rows = yield self.db.runQuery(_GATHER + " ORDER BY d.dev_id OFFSET %s LIMIT %s", (offset, limit))
        total = yield self.db.runQuery(_GATHER_COUNT)
        return total[0][0], [_gather(row) for row in rows]

    @defer.inlineCallbacks
    def gather(self, dev_id: str):
        rows = yield self.db.runQuery(_GATHER + " AND d.dev_id = %s", (dev_id,))
        return _gather(rows[0]) if rows else None

    @defer.inlineCallbacks
    def set_gather(self, dev_id: str, name: str | None, settings: dict, now: float):
        """Change a device's name and settings (None: unchanged); False when there is no such device."""

        @defer.inlineCallbacks
        def interaction(cursor):
            yield cursor.execute("UPDATE device SET name = coalesce(%s, name) WHERE dev_id = %s RETURNING 1",
                                 (name, dev_id))
            if cursor.fetchone() is None:
                return False
            values = [settings.get(key) for key in GATHER_SETTINGS]
            yield cursor.execute(
                "INSERT INTO cm_gather (dev_id, " + ", ".join(GATHER_SETTINGS) + ", updated_at)"
                " VALUES (%s, " + ", ".join("coalesce(%s, " + str(DEFAULTS[k]) + ")" for k in GATHER_SETTINGS)
                + ", to_timestamp(%s)) ON CONFLICT (dev_id) DO UPDATE SET "
                + ", ".join("%s = coalesce(%%s, cm_gather.%s)" % (k, k) for k in GATHER_SETTINGS)
                + ", updated_at = excluded.updated_at",
                (dev_id, *values, now, *values))
            return True

        return (yield self.db.runInteraction(interaction))

    # -- cameras (channels)

    @defer.inlineCallbacks
    def cameras(self, offset: int, limit: int):
        """(total, [CameraRow]) by DevID and ChannelNo."""
        rows = yield self.db.runQuery(_CAMERA_PAGE, (offset, limit))
        if not rows:
            total = yield self.db.runQuery("SELECT count(*) FROM channel WHERE channel_no <= %s", (MAX_CHANNEL,))
            return total[0][0], []
        return rows[0][-1], [CameraRow(*row[:-1]) for row in rows]

    @defer.inlineCallbacks
    def camera(self, dev_id: str, channel_no: int):
        rows = yield self.db.runQuery(_CAMERA + " AND c.dev_id = %s AND c.channel_no = %s", (dev_id, channel_no))
        return CameraRow(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def rename_camera(self, dev_id: str, channel_no: int, name: str, now: float):
        """False when there is no such channel."""

        @defer.inlineCallbacks
        def interaction(cursor):
            yield cursor.execute("UPDATE channel SET name = %s WHERE dev_id = %s AND channel_no = %s RETURNING 1",
                                 (name, dev_id, channel_no))
            if cursor.fetchone() is None:
                return False
            yield cursor.execute(_TOUCH, (now, dev_id, channel_no))
            return True

        return (yield self.db.runInteraction(interaction))

    @defer.inlineCallbacks
    def set_enabled(self, dev_id: str, channel_no: int, enabled: bool, now: float):
        """Open or close both streams of a channel; False when there is no such channel."""

        @defer.inlineCallbacks
        def interaction(cursor):
            yield cursor.execute("SELECT 1 FROM channel WHERE dev_id = %s AND channel_no = %s FOR UPDATE",
                                 (dev_id, channel_no))
            if cursor.fetchone() is None:
                return False
            yield cursor.execute(
                "INSERT INTO stream_profile (dev_id, channel_no, stream_type, enabled, updated_at)"
                " SELECT %s, %s, t, %s, to_timestamp(%s) FROM unnest(ARRAY[1, 2]) AS t"
                " ON CONFLICT (dev_id, channel_no, stream_type) DO UPDATE SET enabled = excluded.enabled,"
                " updated_at = excluded.updated_at", (dev_id, channel_no, enabled, now))
            yield cursor.execute(_TOUCH, (now, dev_id, channel_no))
            return True

        return (yield self.db.runInteraction(interaction))

    def clicked(self, dev_id: str, channel_no: int, now: float) -> defer.Deferred:
        """One more play of the channel (nothing for a channel that is gone)."""
        return self.db.runOperation(
            "INSERT INTO cm_camera (dev_id, channel_no, clicks, created_at, updated_at)"
            " SELECT c.dev_id, c.channel_no, 1, d.created_at, d.created_at FROM channel c JOIN device d USING (dev_id)"
            " WHERE c.dev_id = %s AND c.channel_no = %s"
            " ON CONFLICT (dev_id, channel_no) DO UPDATE SET clicks = cm_camera.clicks + 1",
            (dev_id, channel_no))

    def set_camera_gather(self, dev_id: str, channel_no: int, gather_dev_id: str, now: float) -> defer.Deferred:
        """A stream-proxy channel is listed under *gather_dev_id*."""
        return self.db.runOperation(
            "INSERT INTO cm_camera (dev_id, channel_no, gather_dev_id, created_at, updated_at)"
            " VALUES (%s, %s, %s, to_timestamp(%s), to_timestamp(%s))"
            " ON CONFLICT (dev_id, channel_no) DO UPDATE SET gather_dev_id = excluded.gather_dev_id,"
            " updated_at = excluded.updated_at", (dev_id, channel_no, gather_dev_id, now, now))

    @defer.inlineCallbacks
    def record_clicks(self, recording_ids: list[int]):
        """{recording_id: plays} of those that were played."""
        if not recording_ids:
            return {}
        rows = yield self.db.runQuery("SELECT recording_id, clicks FROM cm_record WHERE recording_id = ANY(%s)",
                                      (list(recording_ids),))
        return dict(rows)

    def record_clicked(self, recording_id: int) -> defer.Deferred:
        """One more play of a recording (nothing for one that is gone)."""
        return self.db.runOperation(
            "INSERT INTO cm_record (recording_id, clicks) SELECT recording_id, 1 FROM recording"
            " WHERE recording_id = %s ON CONFLICT (recording_id) DO UPDATE SET clicks = cm_record.clicks + 1",
            (recording_id,))

    @defer.inlineCallbacks
    def picture(self, picture_id: int):
        """(dev_id, file_name) of a picture on disk, or None."""
        if not 0 < picture_id < 2**63:
            return None
        rows = yield self.db.runQuery(
            "SELECT p.dev_id, p.file_name FROM picture p JOIN device_file f ON f.dev_id = p.dev_id"
            " AND f.area = 'pictures' AND f.file_name = p.file_name WHERE p.picture_id = %s", (picture_id,))
        return tuple(rows[0]) if rows else None


# the first change through the API starts the channel's own row (created when its device was)
_TOUCH = ("INSERT INTO cm_camera (dev_id, channel_no, created_at, updated_at)"
          " SELECT c.dev_id, c.channel_no, d.created_at, to_timestamp(%s) FROM channel c JOIN device d USING (dev_id)"
          " WHERE c.dev_id = %s AND c.channel_no = %s"
          " ON CONFLICT (dev_id, channel_no) DO UPDATE SET updated_at = excluded.updated_at")
