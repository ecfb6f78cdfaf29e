"""Bindings of devices to accounts (§8.2, §8.4–§8.6; tables user_device, with device and channel).

A device has one owner (share_flag 0) at most and may be shared (share_flag
1) with other accounts.  The rows: :class:`BoundDevice` (a device as an
account may use it) and :class:`ListedChannel` (one entry of §8.2's DevList).
"""

from __future__ import annotations

from typing import NamedTuple

import psycopg2
from twisted.internet import defer

from ..core.errors import AlreadyBound, OverLimit


class BoundDevice(NamedTuple):
    """A device bound to (owned by or shared with) the account of ``user_id``."""
    user_id: int
    dev_id: str
    dev_key: str
    share_flag: int
    online: bool
    dev_type: int
    model: str
    manufacturer_no: str | None
    dev_ver: str | None
    public_ip: str | None
    local_ip: str | None
    rtsp_local_port: int | None
    upnp_ip: str | None
    rtsp_upnp_port: int | None
    upnp_reachable: bool | None
    turn_relay_ip: str | None
    rtsp_turn_relay_port: int | None
    nat_type: int | None
    channel_num: int | None


BOUND_COLUMNS = ("d.dev_id, d.dev_key, b.share_flag, d.online, d.dev_type, d.model, d.manufacturer_no, d.dev_ver,"
                 " host(d.public_ip), d.local_ip, d.rtsp_local_port, d.upnp_ip, d.rtsp_upnp_port, d.upnp_reachable,"
                 " d.turn_relay_ip, d.rtsp_turn_relay_port, d.nat_type, d.channel_num")


class ListedChannel(NamedTuple):
    """One entry of DevList (§8.2): a channel of a device bound to the account."""
    dev_id: str
    channel_no: int
    name: str
    online: bool
    ptz: bool
    share_flag: int
    motion: bool
    infrared: bool
    manual: bool
    dido: bool
    videos: list  # [(StreamType, FrameSize)]
    didos: list  # [(DIDONo, DIDONoName)]


# §8.2's DevList: one row per channel of every device bound to the user (%s)
DEVICE_LIST = (
    "SELECT c.dev_id, c.channel_no, coalesce(nullif(c.name, ''), nullif(d.name, ''), c.dev_id) AS name,"
    " d.online, d.ptz_flag, b.share_flag, d.motion_detection_flag, d.infrared_detection_flag,"
    " d.manual_alarm_flag, d.dido_alarm_flag,"
    " coalesce((SELECT array_agg(ARRAY[v.stream_type, v.frame_size] ORDER BY v.stream_type, v.frame_size)"
    "   FROM video_capability v WHERE v.dev_id = d.dev_id), '{}') AS videos,"
    " coalesce((SELECT array_agg(ARRAY[x.dido_no::text, x.name] ORDER BY x.dido_no)"
    "   FROM dido x WHERE x.dev_id = d.dev_id), '{}') AS didos"
    " FROM user_device b JOIN device d USING (dev_id) JOIN channel c USING (dev_id)"
    " WHERE b.user_id = %s")


def listed(row) -> ListedChannel:
    # tuple.__new__: the named tuple without its Python-level __new__ (a login lists every channel)
    return tuple.__new__(ListedChannel, (*row[:10], list(map(tuple, row[10])),
                                         [(int(n), name) for n, name in row[11]]))


class Bindings:
    def __init__(self, db):
        self.db = db

    @defer.inlineCallbacks
    def bound(self, user_id: int, dev_id: str):
        """The device if it is bound to the user (own or shared), else None."""
        rows = yield self.db.runQuery(
            "SELECT " + BOUND_COLUMNS + " FROM user_device b JOIN device d USING (dev_id)"
            " WHERE b.user_id = %s AND b.dev_id = %s", (user_id, dev_id))
        return BoundDevice(user_id, *rows[0]) if rows else None

    @defer.inlineCallbacks
    def key_and_binding(self, dev_id: str, user_id: int):
        """(the device's key or None, whether it is bound so that *user_id* may
        not add it: owned by anyone, or shared with *user_id*)."""
        rows = yield self.db.runQuery(
            "SELECT d.dev_key, EXISTS (SELECT 1 FROM user_device b WHERE b.dev_id = d.dev_id"
            " AND (b.share_flag = 0 OR b.user_id = %s)) FROM device d WHERE d.dev_id = %s", (user_id, dev_id))
        return (rows[0][0], rows[0][1]) if rows else (None, False)

    @defer.inlineCallbacks
    def bind(self, user_id: int, dev_id: str, max_devices: int):
        """Bind as owner; raises OverLimit (the user owns *max_devices*) or
        AlreadyBound (owned by anyone, or shared with this user)."""

        @defer.inlineCallbacks
        def interaction(cursor):
            # one binder at a time per user, so two AddDevice calls cannot both pass the limit
            yield cursor.execute("SELECT 1 FROM app_user WHERE user_id = %s FOR UPDATE", (user_id,))
            yield cursor.execute("SELECT 1 FROM user_device WHERE dev_id = %s AND (share_flag = 0 OR user_id = %s)",
                                 (dev_id, user_id))
            if cursor.fetchone():
                return AlreadyBound
            yield cursor.execute("SELECT count(*) FROM user_device WHERE user_id = %s AND share_flag = 0",
                                 (user_id,))
            if cursor.fetchone()[0] >= max_devices:
                return OverLimit
            yield cursor.execute("INSERT INTO user_device (user_id, dev_id, share_flag) VALUES (%s, %s, 0)",
                                 (user_id, dev_id))
            return None

        try:
            refusal = yield self.db.runInteraction(interaction)
        except psycopg2.errors.UniqueViolation:
            refusal = AlreadyBound
        if refusal is not None:
            raise refusal("%s for user %d" % (dev_id, user_id))

    @defer.inlineCallbacks
    def share(self, user_id: int, dev_id: str):
        """Share the device with the user; raises AlreadyBound when it is bound to them already."""
        try:
            yield self.db.runOperation(
                "INSERT INTO user_device (user_id, dev_id, share_flag) VALUES (%s, %s, 1)", (user_id, dev_id))
        except psycopg2.errors.UniqueViolation:
            raise AlreadyBound("%s for user %d" % (dev_id, user_id)) from None

    def unbind_all(self, dev_id: str) -> defer.Deferred:
        """The owner removed the device: every binding, shares included, goes (§8.6)."""
        return self.db.runOperation("DELETE FROM user_device WHERE dev_id = %s", (dev_id,))
