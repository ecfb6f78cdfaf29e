"""Firmware upgrade campaigns (§7.5.17; tables upgrade_campaign, upgrade_target).

A campaign aims one catalogued firmware at devices; each device's row moves
pending → sent → downloaded → done | failed (and back from sent to pending
when its link was gone before UPGRADE_RES).  Every transition is one
conditional UPDATE (``WHERE state = ANY(...)``) answering whether it
happened, so a restart, a second node or a late event can never move a row
twice or backwards.  Times are POSIX seconds from the caller's clock.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

import psycopg2
from twisted.internet import defer

OPEN = ("running", "paused")
IN_FLIGHT = ("sent", "downloaded")
UNFINISHED = ("pending", "sent", "downloaded")
TARGET_STATES = ("pending", "sent", "downloaded", "done", "failed")


class Campaign(NamedTuple):
    campaign_id: int
    firmware_id: int
    state: str
    batch_size: int
    max_failures: int
    failure_base: int
    reason: str
    origin: str
    created_at: datetime.datetime
    finished_at: datetime.datetime | None


class Target(NamedTuple):
    campaign_id: int
    dev_id: str
    state: str
    reason: str
    from_ver: str | None
    sent_at: datetime.datetime | None
    downloaded_at: datetime.datetime | None
    finished_at: datetime.datetime | None


class Tally(NamedTuple):
    """A campaign's devices by state; *failures* counts those that failed after UPGRADE_REQ was sent."""
    pending: int = 0
    sent: int = 0
    downloaded: int = 0
    done: int = 0
    failed: int = 0
    failures: int = 0

    @property
    def in_flight(self) -> int:
        return self.sent + self.downloaded

    @property
    def unfinished(self) -> int:
        return self.pending + self.sent + self.downloaded


class Candidate(NamedTuple):
    """A device as an upgrade sees it."""
    dev_id: str
    manufacturer_no: str | None
    model: str
    dev_ver: str | None


class InFlight(NamedTuple):
    """A device that was sent UPGRADE_REQ and has not finished: what it may download, and since when."""
    dev_id: str
    campaign_id: int
    firmware_id: int
    file_name: str
    dev_ver: str  # the target DevVer
    state: str
    sent_at: float
    device_ver: str | None  # what the device reported at its last login
    logged_in_at: float | None  # when that was


_CAMPAIGN = ("campaign_id, firmware_id, state, batch_size, max_failures, failure_base, reason, origin,"
             " created_at, finished_at")
_TARGET = "campaign_id, dev_id, state, reason, from_ver, sent_at, downloaded_at, finished_at"
_FAILURES = "count(*) FILTER (WHERE state = 'failed' AND sent_at IS NOT NULL)"
_OTHER_IN_FLIGHT = ("EXISTS (SELECT 1 FROM upgrade_target o WHERE o.dev_id = t.dev_id"
                    " AND o.state IN ('sent', 'downloaded'))")


class UpgradeStore:
    def __init__(self, db, node: str = ""):
        self.db = db
        self.node = node

    # -- campaigns

    def create(self, firmware_id: int, dev_ids: list[str], batch_size: int, max_failures: int, now: float,
               origin: str = "operator") -> defer.Deferred:
        """A running campaign with *dev_ids* pending; its campaign_id."""
        @defer.inlineCallbacks
        def insert(cursor):
            yield cursor.execute(
                "INSERT INTO upgrade_campaign (firmware_id, batch_size, max_failures, origin, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s)) RETURNING campaign_id",
                (firmware_id, batch_size, max_failures, origin, now, now))
            campaign_id = cursor.fetchone()[0]
            yield cursor.execute(
                "INSERT INTO upgrade_target (campaign_id, dev_id) SELECT %s, unnest(%s::text[])",
                (campaign_id, list(dev_ids)))
            return campaign_id
        return self.db.runInteraction(insert)

    @defer.inlineCallbacks
    def campaign(self, campaign_id: int):
        rows = yield self.db.runQuery("SELECT %s FROM upgrade_campaign WHERE campaign_id = %%s" % _CAMPAIGN,
                                      (campaign_id,))
        return Campaign(*rows[0]) if rows else None

    @defer.inlineCallbacks
    def campaigns(self, open_only: bool = False):
        rows = yield self.db.runQuery(
            "SELECT %s FROM upgrade_campaign %s ORDER BY campaign_id"
            % (_CAMPAIGN, "WHERE state IN ('running', 'paused')" if open_only else ""))
        return [Campaign(*row) for row in rows]

    @defer.inlineCallbacks
    def set_state(self, campaign_id: int, state: str, reason: str, now: float, from_states: tuple[str, ...]):
        """Move the campaign from one of *from_states* to *state*; whether it
        moved.  Going to running counts the failures so far as already seen
        (``failure_base``), so a resumed campaign gets its max_failures anew."""
        rows = yield self.db.runQuery(
            "UPDATE upgrade_campaign c SET state = %s, reason = %s, updated_at = to_timestamp(%s),"
            " finished_at = CASE WHEN %s IN ('finished', 'cancelled') THEN to_timestamp(%s) END,"
            " failure_base = CASE WHEN %s = 'running' THEN (SELECT " + _FAILURES +
            "  FROM upgrade_target t WHERE t.campaign_id = c.campaign_id) ELSE failure_base END"
            " WHERE campaign_id = %s AND state = ANY(%s) RETURNING 1",
            (state, reason, now, state, now, state, campaign_id, list(from_states)))
        return bool(rows)

    def cancel(self, campaign_id: int, reason: str, now: float) -> defer.Deferred:
        """Cancel an open campaign: its pending devices fail with *reason*; those
        in flight are still followed to their end.  Whether it was open."""
        @defer.inlineCallbacks
        def cancel(cursor):
            yield cursor.execute(
                "UPDATE upgrade_campaign SET state = 'cancelled', reason = %s, updated_at = to_timestamp(%s),"
                " finished_at = to_timestamp(%s) WHERE campaign_id = %s AND state IN ('running', 'paused')"
                " RETURNING 1", (reason, now, now, campaign_id))
            if not cursor.fetchall():
                return False
            yield cursor.execute(
                "UPDATE upgrade_target SET state = 'failed', reason = %s, finished_at = to_timestamp(%s)"
                " WHERE campaign_id = %s AND state = 'pending'", (reason, now, campaign_id))
            return True
        return self.db.runInteraction(cancel)

    # -- devices of a campaign

    @defer.inlineCallbacks
    def targets(self, campaign_id: int):
        rows = yield self.db.runQuery(
            "SELECT %s FROM upgrade_target WHERE campaign_id = %%s ORDER BY dev_id" % _TARGET, (campaign_id,))
        return [Target(*row) for row in rows]

    @defer.inlineCallbacks
    def tally(self, campaign_id: int):
        rows = yield self.db.runQuery(
            "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'sent'),"
            " count(*) FILTER (WHERE state = 'downloaded'), count(*) FILTER (WHERE state = 'done'),"
            " count(*) FILTER (WHERE state = 'failed'), " + _FAILURES +
            " FROM upgrade_target WHERE campaign_id = %s", (campaign_id,))
        return Tally(*rows[0])

    @defer.inlineCallbacks
    def ready(self, campaign_id: int, limit: int):
        """Pending devices of the campaign that are online on this node and have
        no upgrade in flight elsewhere, at most *limit*."""
        rows = yield self.db.runQuery(
            "SELECT d.dev_id, d.manufacturer_no, d.model, d.dev_ver"
            " FROM upgrade_target t JOIN device d USING (dev_id)"
            " WHERE t.campaign_id = %s AND t.state = 'pending' AND d.online AND d.node = %s"
            " AND NOT " + _OTHER_IN_FLIGHT + " ORDER BY t.dev_id LIMIT %s",
            (campaign_id, self.node, limit))
        return [Candidate(*row) for row in rows]

    @defer.inlineCallbacks
    def claim(self, campaign_id: int, dev_ids: list[str], now: float):
        """Move *dev_ids* from pending to sent (noting their DevVer); the dev_ids moved."""
        if not dev_ids:
            return []
        try:
            rows = yield self.db.runQuery(
                "UPDATE upgrade_target t SET state = 'sent', reason = '', sent_at = to_timestamp(%s),"
                " from_ver = d.dev_ver"
                " FROM device d WHERE d.dev_id = t.dev_id AND t.campaign_id = %s AND t.dev_id = ANY(%s)"
                " AND t.state = 'pending' AND NOT " + _OTHER_IN_FLIGHT + " RETURNING t.dev_id",
                (now, campaign_id, list(dev_ids)))
        except psycopg2.errors.UniqueViolation:
            return []  # another node claimed one of them at the same moment; the next round retries
        return sorted(row[0] for row in rows)

    @defer.inlineCallbacks
    def move(self, campaign_id: int, dev_id: str, to: str, now: float, reason: str = "",
             from_states: tuple[str, ...] = IN_FLIGHT):
        """Move one device of the campaign from one of *from_states* to *to*; whether it moved."""
        if to not in TARGET_STATES:
            raise ValueError("no target state %r" % (to,))
        rows = yield self.db.runQuery(
            "UPDATE upgrade_target SET state = %s, reason = %s,"
            " sent_at = CASE WHEN %s = 'pending' THEN NULL ELSE sent_at END,"
            " from_ver = CASE WHEN %s = 'pending' THEN NULL ELSE from_ver END,"
            " downloaded_at = CASE WHEN %s = 'downloaded' THEN to_timestamp(%s) ELSE downloaded_at END,"
            " finished_at = CASE WHEN %s IN ('done', 'failed') THEN to_timestamp(%s) END"
            " WHERE campaign_id = %s AND dev_id = %s AND state = ANY(%s) RETURNING 1",
            (to, reason, to, to, to, now, to, now, campaign_id, dev_id, list(from_states)))
        return bool(rows)

    @defer.inlineCallbacks
    def in_flight(self, dev_id: str | None = None):
        """Every device (or just *dev_id*) sent an upgrade that has not finished (any campaign, any node)."""
        rows = yield self.db.runQuery(
            "SELECT t.dev_id, t.campaign_id, f.firmware_id, f.file_name, f.dev_ver, t.state,"
            " extract(epoch FROM t.sent_at)::float8, d.dev_ver, extract(epoch FROM d.last_login_at)::float8"
            " FROM upgrade_target t JOIN upgrade_campaign c USING (campaign_id) JOIN firmware f USING (firmware_id)"
            " JOIN device d ON d.dev_id = t.dev_id"
            " WHERE t.state IN ('sent', 'downloaded')" + (" AND t.dev_id = %s" if dev_id is not None else ""),
            (dev_id,) if dev_id is not None else ())
        return [InFlight(*row) for row in rows]

    @defer.inlineCallbacks
    def expire(self, sent_before: float, reason: str, now: float):
        """Devices in flight since before *sent_before* fail with *reason*; their (campaign_id, dev_id)."""
        rows = yield self.db.runQuery(
            "UPDATE upgrade_target SET state = 'failed', reason = %s, finished_at = to_timestamp(%s)"
            " WHERE state IN ('sent', 'downloaded') AND sent_at < to_timestamp(%s)"
            " RETURNING campaign_id, dev_id", (reason, now, sent_before))
        return sorted((row[0], row[1]) for row in rows)

    # -- choosing devices

    @defer.inlineCallbacks
    def devices(self, dev_ids: list[str]):
        """Those of *dev_ids* that exist, as candidates."""
        rows = yield self.db.runQuery(
            "SELECT dev_id, manufacturer_no, model, dev_ver FROM device WHERE dev_id = ANY(%s) ORDER BY dev_id",
            (list(dev_ids),))
        return [Candidate(*row) for row in rows]

    @defer.inlineCallbacks
    def of_model(self, manufacturer_no: str, model: str):
        rows = yield self.db.runQuery(
            "SELECT dev_id, manufacturer_no, model, dev_ver FROM device WHERE manufacturer_no = %s AND model = %s"
            " ORDER BY dev_id", (manufacturer_no, model))
        return [Candidate(*row) for row in rows]

    @defer.inlineCallbacks
    def busy(self, dev_ids: list[str]):
        """{dev_id: campaign_id} of those of *dev_ids* already aimed at by an open
        campaign (or in flight in any campaign): the one in flight, else the oldest."""
        rows = yield self.db.runQuery(
            "SELECT DISTINCT ON (t.dev_id) t.dev_id, t.campaign_id"
            " FROM upgrade_target t JOIN upgrade_campaign c USING (campaign_id)"
            " WHERE t.dev_id = ANY(%s) AND (t.state IN ('sent', 'downloaded')"
            " OR (t.state = 'pending' AND c.state IN ('running', 'paused')))"
            " ORDER BY t.dev_id, t.state = 'pending', t.campaign_id", (list(dev_ids),))
        return dict(rows)
