"""The group platform's own tables (§5, §6 answered, §9): province, province_user, group_device, client_release.

What this node keeps when it is the group platform (``[group_role]``): the
province platforms (their CmsPassword only as a hash, :mod:`kandian.passwords`),
the users each one opened, every device that asked for its province and
which province claimed it, and the current client of each platform.  Rows
or errors, never a Result; times are POSIX seconds.
"""

from __future__ import annotations

from typing import NamedTuple

import psycopg2
from twisted.internet import defer

from ..core.errors import NoSuchDevice, ProvinceExists

_PROVINCE = ("province_no, cms_no, password_hash, name, mcu_url, dev_url, cms_ver,"
             " extract(epoch FROM reported_at)::float8,"
             " (SELECT count(*) FROM province_user u WHERE (u.province_no, u.cms_no) = (p.province_no, p.cms_no)),"
             " (SELECT count(*) FROM group_device d WHERE (d.province_no, d.cms_no) = (p.province_no, p.cms_no))")


class Province(NamedTuple):
    province_no: str
    cms_no: str
    password_hash: str
    name: str
    mcu_url: str
    dev_url: str
    cms_ver: str
    reported_at: float | None
    users: int
    devices: int


class Asked(NamedTuple):
    """A device as its REDIRECT_REQ found it: its key, its province's DevUrl
    ('' when unclaimed or the province has reported none), and whether this
    request stored it."""

    dev_key: str
    claimed: bool
    dev_url: str
    new: bool


class GroupDevice(NamedTuple):
    dev_id: str
    dev_key: str
    province_no: str | None
    cms_no: str | None


class GroupRoleStore:
    def __init__(self, db):
        self.db = db

    # -- provinces

    @defer.inlineCallbacks
    def add_province(self, province_no: str, cms_no: str, password_hash: str, name: str = "", mcu_url: str = "",
                     dev_url: str = ""):
        """Raises ProvinceExists."""
        try:
            yield self.db.runOperation(
                "INSERT INTO province (province_no, cms_no, password_hash, name, mcu_url, dev_url)"
                " VALUES (%s, %s, %s, %s, %s, %s)", (province_no, cms_no, password_hash, name, mcu_url, dev_url))
        except psycopg2.errors.UniqueViolation:
            raise ProvinceExists("province %s/%s exists already" % (province_no, cms_no)) from None

    @defer.inlineCallbacks
    def province(self, province_no: str, cms_no: str):
        """The Province, or None."""
        rows = yield self.db.runQuery("SELECT " + _PROVINCE + " FROM province p WHERE province_no = %s"
                                      " AND cms_no = %s", (province_no, cms_no))
        return Province(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def provinces(self):
        """Every province, by ProvinceNo and CmsNo: [Province]."""
        rows = yield self.db.runQuery("SELECT " + _PROVINCE + " FROM province p ORDER BY province_no, cms_no")
        return [Province(*row) for row in rows]

    def reported(self, province_no: str, cms_no: str, cms_ver: str, mcu_url: str, dev_url: str,
                 now: float) -> defer.Deferred:
        """§6.1: the province's addresses as it reported them."""
        return self.db.runOperation(
            "UPDATE province SET cms_ver = %s, mcu_url = %s, dev_url = %s, reported_at = to_timestamp(%s)"
            " WHERE province_no = %s AND cms_no = %s", (cms_ver, mcu_url, dev_url, now, province_no, cms_no))

    # -- users (§6.2–§6.4)

    def open_user(self, province_no: str, cms_no: str, mobile: str, ipcam_num: int, now: float) -> defer.Deferred:
        """§6.2; opening a user the province opened before sets its IpcamNum."""
        return self.db.runOperation(
            "INSERT INTO province_user (province_no, cms_no, mobile, ipcam_num, opened_at, changed_at)"
            " VALUES (%s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s))"
            " ON CONFLICT (province_no, cms_no, mobile) DO UPDATE SET ipcam_num = EXCLUDED.ipcam_num,"
            " changed_at = EXCLUDED.changed_at", (province_no, cms_no, mobile, ipcam_num, now, now))

    @defer.inlineCallbacks
    def change_user(self, province_no: str, cms_no: str, mobile: str, ipcam_num: int, now: float):
        """§6.3; whether the province had opened the user."""
        rows = yield self.db.runQuery(
            "UPDATE province_user SET ipcam_num = %s, changed_at = to_timestamp(%s)"
            " WHERE province_no = %s AND cms_no = %s AND mobile = %s RETURNING 1",
            (ipcam_num, now, province_no, cms_no, mobile))
        return bool(rows)

    @defer.inlineCallbacks
    def cancel_user(self, province_no: str, cms_no: str, mobile: str):
        """§6.4; whether the province had opened the user."""
        rows = yield self.db.runQuery(
            "DELETE FROM province_user WHERE province_no = %s AND cms_no = %s AND mobile = %s RETURNING 1",
            (province_no, cms_no, mobile))
        return bool(rows)

    @defer.inlineCallbacks
    def users(self, province_no: str, cms_no: str):
        """[(mobile, ipcam_num)] of a province, by mobile."""
        rows = yield self.db.runQuery(
            "SELECT mobile, ipcam_num FROM province_user WHERE province_no = %s AND cms_no = %s ORDER BY mobile",
            (province_no, cms_no))
        return [tuple(row) for row in rows]

    # -- devices (§5, §6.5, §6.6)

    @defer.inlineCallbacks
    def asked(self, dev_id: str, dev_key: str, model: str, dev_type: int | None, now: float):
        """§6.6 step 2: store a device the first time it asks (its key then
        is its key here), note when it asked: Asked.  NoSuchDevice when the
        DevID names no known manufacturer (§7.2's numbers)."""
        try:
            rows = yield self.db.runQuery(
                "WITH d AS (INSERT INTO group_device (dev_id, dev_key, manufacturer_no, model, dev_type,"
                "  first_seen_at, last_asked_at) VALUES (%(dev_id)s, %(key)s, substr(%(dev_id)s, 1, 3), %(model)s,"
                "  %(type)s, to_timestamp(%(now)s), to_timestamp(%(now)s))"
                "  ON CONFLICT (dev_id) DO UPDATE SET last_asked_at = EXCLUDED.last_asked_at"
                "  RETURNING dev_key, province_no, cms_no, xmax = 0 AS new)"
                " SELECT d.dev_key, d.province_no IS NOT NULL, coalesce(p.dev_url, ''), d.new"
                " FROM d LEFT JOIN province p USING (province_no, cms_no)",
                dict(dev_id=dev_id, key=dev_key, model=model, type=dev_type, now=now))
        except (psycopg2.errors.ForeignKeyViolation, psycopg2.errors.CheckViolation):
            raise NoSuchDevice("%s names no known manufacturer" % (dev_id,)) from None
        return Asked(*rows[0])

    @defer.inlineCallbacks
    def device(self, dev_id: str):
        """The GroupDevice, or None."""
        rows = yield self.db.runQuery(
            "SELECT dev_id, dev_key, province_no, cms_no FROM group_device WHERE dev_id = %s", (dev_id,))
        return GroupDevice(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def claim(self, dev_id: str, province_no: str, cms_no: str, now: float):
        """§6.6 step 7: the device is the province's, unless another province
        has it; whether it is now this one's."""
        rows = yield self.db.runQuery(
            "UPDATE group_device SET province_no = %s, cms_no = %s,"
            " claimed_at = coalesce(claimed_at, to_timestamp(%s))"
            " WHERE dev_id = %s AND (province_no IS NULL OR (province_no = %s AND cms_no = %s)) RETURNING 1",
            (province_no, cms_no, now, dev_id, province_no, cms_no))
        return bool(rows)

    # -- client releases (§6.1, §9.1)

    def set_release(self, platform: str, version: str, url: str, now: float) -> defer.Deferred:
        return self.db.runOperation(
            "INSERT INTO client_release (platform, version, url, updated_at) VALUES (%s, %s, %s, to_timestamp(%s))"
            " ON CONFLICT (platform) DO UPDATE SET version = EXCLUDED.version, url = EXCLUDED.url,"
            " updated_at = EXCLUDED.updated_at", (platform, version, url, now))

    @defer.inlineCallbacks
    def releases(self):
        """{platform: (version, url)}."""
        rows = yield self.db.runQuery("SELECT platform, version, url FROM client_release")
        return {platform: (version, url) for platform, version, url in rows}
