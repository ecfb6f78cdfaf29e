"""What the device link writes and reads (§7.2, §7.5.1–§7.5.5, §7.5.23, §7.5.34).

One component for the tables the link touches: device (login, ability,
addresses, online state), channel, video_capability, device_exception,
alarm.  Every call takes ``now`` (POSIX seconds from the injected
clock) instead of reading the database's clock, so expiry and de-duplication
windows are testable with ``task.Clock``.

Pool share: the writes that record what devices report (ability, addresses,
exceptions, the batched last-seen and offline updates, UPnP probe
outcomes) run under one semaphore of ``pool size - 1`` tokens, so that however
many links report at once, one connection is always left for the calls a
person or an acknowledgement waits on: logins, alarms, registrations and the
token checks (which do not take the semaphore). A link itself handles one
request at a time, so it never holds more than one connection for them.
"""

from __future__ import annotations

from typing import NamedTuple

from twisted.internet import defer

from ..batching import Batcher
from ..core.errors import NoSuchDevice, WrongDevKey
from .alarms import add_alarm
from .prepared import Statement

RESERVED_CONNECTIONS = 1  # pool connections report writes never take (module docstring)


class CloudStorage(NamedTuple):
    """LOGIN_RES's 天翼云 fields (§7.5.1)."""
    url: str
    account: str
    password: str
    space: int
    record_bucket: str
    picture_bucket: str


class Addresses(NamedTuple):
    """What LOGIN_REQ and HEARTBEAT_REQ report; None means "not reported"."""
    upnp_ip: str | None = None
    rtsp_upnp_port: int | None = None
    local_ip: str | None = None
    rtsp_local_port: int | None = None
    turn_relay_ip: str | None = None
    rtsp_turn_relay_port: int | None = None


_AUTHENTICATE = Statement(
    "SELECT dev_key, estore_url, estore_account, estore_password, estore_space,"
    " estore_record_bucket, estore_picture_bucket FROM device WHERE dev_id = %s")
# the same two, for many devices at once (kandian.batching.Batcher): one statement per batch of logins
_AUTHENTICATE_MANY = Statement(
    "SELECT dev_id, dev_key, estore_url, estore_account, estore_password, estore_space,"
    " estore_record_bucket, estore_picture_bucket FROM device WHERE dev_id = ANY(%s::text[])")
_LOGGED_IN_MANY = Statement(
    # every column travels as text[] (an array of NULLs has no other type psycopg2 can give it) and is cast here
    "UPDATE device d SET online = true, node = %s, dev_ver = v.dev_ver,"
    " upnp_ip = v.upnp_ip, rtsp_upnp_port = v.rtsp_upnp_port::integer, local_ip = v.local_ip,"
    " rtsp_local_port = v.rtsp_local_port::integer, turn_relay_ip = v.turn_relay_ip,"
    " rtsp_turn_relay_port = v.rtsp_turn_relay_port::integer, net_type = v.net_type::smallint,"
    " nat_type = v.nat_type::smallint, public_ip = v.public_ip::inet, public_port = v.public_port::integer,"
    " upnp_reachable = v.upnp_reachable::boolean,"
    " upnp_checked_at = CASE WHEN v.upnp_reachable IS NULL THEN NULL ELSE to_timestamp(v.at::float8) END,"
    " last_login_at = to_timestamp(v.at::float8), last_seen_at = to_timestamp(v.at::float8)"
    " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
    " AS v(dev_id, dev_ver, upnp_ip, rtsp_upnp_port, local_ip, rtsp_local_port, turn_relay_ip,"
    " rtsp_turn_relay_port, net_type, nat_type, public_ip, public_port, upnp_reachable, at)"
    # the same DevIDs once more, as a condition on the table: the planner then finds the rows by its
    # index; joined to unnest() alone it scanned all of device for each batch (docs/benchmarks.md,
    # "Device link: a compiled body reader, …")
    " WHERE d.dev_id = v.dev_id AND d.dev_id = ANY(%s::text[])")
LOGIN_BATCH = 100  # most logins in one statement: a batch's answers are handed out in one reactor turn
LOGIN_BATCHES = 2  # batches of each kind under way at once


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


_LOGGED_IN = Statement(
    "UPDATE device SET online = true, node = %s, dev_ver = %s,"
    " upnp_ip = %s, rtsp_upnp_port = %s, local_ip = %s, rtsp_local_port = %s,"
    " turn_relay_ip = %s, rtsp_turn_relay_port = %s, net_type = %s, nat_type = %s,"
    " public_ip = %s, public_port = %s, upnp_reachable = %s,"
    " upnp_checked_at = CASE WHEN %s::boolean IS NULL THEN NULL ELSE to_timestamp(%s) END,"
    " last_login_at = to_timestamp(%s), last_seen_at = to_timestamp(%s)"
    " WHERE dev_id = %s")


def _ability_row(dev_id: str, report) -> tuple:
    """An ABILITYUP_REQ as the columns of :data:`_ABILITY_MANY`, then its videos."""

    def flag(value):
        return None if value is None else bool(value)

    onvif = report.Onvif
    return (dev_id, report.ChannelNum, flag(report.PTZFlag), flag(report.EStoreFlag), report.LocalStoreFlag,
            flag(report.MotionDetectionFlag), flag(report.InfraredDetectionFlag), flag(report.ManualAlarmFlag),
            flag(report.DIDOAlarmFlag), report.DIDONum, getattr(onvif, "Port", None),
            getattr(onvif, "Account", None), getattr(onvif, "Password", None),
            sorted({(v.StreamType, v.FrameSize) for v in report.Video if v.StreamType in (1, 2)}))


# the columns of _ability_row a report leaves unchanged when it leaves them out (coalesce below)
_UNCHANGED_WHEN_NONE = frozenset(range(2, 10))
# what LinkStore._ability_one does for one report, for many (each column an array; the DevIDs once more
# as a condition on each table, so that its rows are found by its index, as in _LOGGED_IN_MANY)
_ABILITY_MANY = (
    "UPDATE device d SET channel_num = v.channel_num,"
    " ptz_flag = coalesce(v.ptz, d.ptz_flag), estore_flag = coalesce(v.estore, d.estore_flag),"
    " local_store_flag = coalesce(v.local_store, d.local_store_flag),"
    " motion_detection_flag = coalesce(v.motion, d.motion_detection_flag),"
    " infrared_detection_flag = coalesce(v.infrared, d.infrared_detection_flag),"
    " manual_alarm_flag = coalesce(v.manual, d.manual_alarm_flag),"
    " dido_alarm_flag = coalesce(v.dido_alarm, d.dido_alarm_flag), dido_num = coalesce(v.dido_num, d.dido_num),"
    " onvif_port = v.onvif_port, onvif_account = v.onvif_account, onvif_password = v.onvif_password"
    " FROM unnest(%s::text[], %s::integer[], %s::boolean[], %s::boolean[], %s::integer[], %s::boolean[],"
    " %s::boolean[], %s::boolean[], %s::boolean[], %s::integer[], %s::integer[], %s::text[], %s::text[])"
    " AS v(dev_id, channel_num, ptz, estore, local_store, motion, infrared, manual, dido_alarm, dido_num,"
    " onvif_port, onvif_account, onvif_password) WHERE d.dev_id = v.dev_id AND d.dev_id = ANY(%s::text[]); "
    "INSERT INTO channel (dev_id, channel_no) SELECT v.dev_id, n"
    " FROM unnest(%s::text[], %s::integer[]) AS v(dev_id, num), generate_series(0, v.num - 1) n"
    " ON CONFLICT DO NOTHING; "
    "DELETE FROM channel c USING unnest(%s::text[], %s::integer[]) AS v(dev_id, num)"
    " WHERE c.dev_id = v.dev_id AND c.dev_id = ANY(%s::text[]) AND c.channel_no >= greatest(v.num, 1); "
    "DELETE FROM video_capability WHERE dev_id = ANY(%s::text[])")
_VIDEOS_MANY = (
    "INSERT INTO video_capability (dev_id, stream_type, frame_size)"
    " SELECT * FROM unnest(%s::text[], %s::integer[], %s::integer[])")
_DIDOS_MANY = (
    "INSERT INTO dido (dev_id, dido_no) SELECT v.dev_id, n"
    " FROM unnest(%s::text[], %s::integer[]) AS v(dev_id, num), generate_series(0, v.num - 1) n"
    " ON CONFLICT DO NOTHING; "
    "DELETE FROM dido x USING unnest(%s::text[], %s::integer[]) AS v(dev_id, num)"
    " WHERE x.dev_id = v.dev_id AND x.dev_id = ANY(%s::text[]) AND x.dido_no >= v.num")


class LinkStore:
    def __init__(self, db, node: str = "", report_connections: int | None = None):
        self.db = db
        self.node = node
        if report_connections is None:
            size = getattr(db, "size", None) or 1
            report_connections = max(1, size - RESERVED_CONNECTIONS)  # a pool of 1 cannot keep one back
        self.reports = defer.DeferredSemaphore(report_connections)
        # LOGIN_REQ's read and write, one statement for each batch of logins under load
        self._authenticate = Batcher(self._authenticate_many, LOGIN_BATCHES, most=LOGIN_BATCH)
        self._logged_in = Batcher(self._logged_in_many, LOGIN_BATCHES, most=LOGIN_BATCH)
        # ABILITYUP_REQ's writes, one query string for each batch of reports
        self._abilities = Batcher(self._ability_many, LOGIN_BATCHES, most=LOGIN_BATCH)

    def _report(self, method: str, *args) -> defer.Deferred:
        """A report write: waits for one of the report tokens, then for a connection."""
        return self.reports.run(getattr(self.db, method), *args)

    # -- §7.2 registration

    @defer.inlineCallbacks
    def register(self, dev_id: str, dev_key: str, dev_type: int | None, model: str | None,
                 now: float, auto_provision: bool):
        """REGISTER_REQ: None, or fails NoSuchDevice or WrongDevKey.

        An unknown DevID is provisioned when *auto_provision* is on and its
        first three digits are a known manufacturer (§7.2, §6.6 step 10)."""

        @defer.inlineCallbacks
        def interaction(cursor):
            yield cursor.execute("SELECT dev_key FROM device WHERE dev_id = %s FOR UPDATE", (dev_id,))
            row = cursor.fetchone()
            if row is None:
                if not auto_provision:
                    raise NoSuchDevice(dev_id)
                yield cursor.execute("SELECT 1 FROM manufacturer WHERE manufacturer_no = substr(%s, 1, 3)",
                                     (dev_id,))
                if cursor.fetchone() is None:
                    raise NoSuchDevice(dev_id)
                yield cursor.execute(
                    "INSERT INTO device (dev_id, dev_key, dev_type, model, manufacturer_no, provisioned_by,"
                    " registered_at) VALUES (%s, %s, %s, %s, substr(%s, 1, 3), 'register', to_timestamp(%s))"
                    " ON CONFLICT (dev_id) DO NOTHING",
                    (dev_id, dev_key, dev_type if dev_type in (1, 2, 3) else 1, model or "", dev_id, now))
                return
            if row[0] != dev_key:
                raise WrongDevKey(dev_id)
            yield cursor.execute(
                "UPDATE device SET registered_at = to_timestamp(%s),"
                " dev_type = coalesce(%s, dev_type), model = coalesce(nullif(%s, ''), model)"
                " WHERE dev_id = %s",
                (now, dev_type if dev_type in (1, 2, 3) else None, model, dev_id))

        yield self.db.runInteraction(interaction)

    # -- §7.5.1 login

    def authenticate(self, dev_id: str) -> defer.Deferred:
        """(DevKey, CloudStorage) of a device, None for an unknown one (§7.5.1)."""
        return self._authenticate.add(dev_id)

    @defer.inlineCallbacks
    def _authenticate_many(self, dev_ids: list[str]):
        if len(dev_ids) == 1:
            rows = yield self.db.runQuery(_AUTHENTICATE, (dev_ids[0],))
            return [(rows[0][0], CloudStorage(*rows[0][1:])) if rows else None]
        rows = yield self.db.runQuery(_AUTHENTICATE_MANY, (sorted(set(dev_ids)),))
        found = {row[0]: (row[1], CloudStorage(*row[2:])) for row in rows}
        return [found.get(dev_id) for dev_id in dev_ids]

    def logged_in(self, dev_id: str, dev_ver: str, addresses: Addresses, net_type, nat_type,
                  public_ip: str | None, public_port: int | None, now: float,
                  upnp_reachable: bool | None = None) -> defer.Deferred:
        """Record a login; *upnp_reachable* None means "to be probed".  Logins recorded at the same
        time go to the database in one statement; each Deferred fires once its row is committed."""
        return self._logged_in.add((dev_id, dev_ver, *addresses, net_type, nat_type, public_ip, public_port,
                                upnp_reachable, now))

    @defer.inlineCallbacks
    def _logged_in_many(self, logins: list[tuple]):
        if len(logins) == 1:
            (dev_id, dev_ver, *rest, upnp_reachable, now), = logins
            addresses, (net_type, nat_type, public_ip, public_port) = rest[:6], rest[6:]
            yield self.db.runOperation(_LOGGED_IN, (
                self.node, dev_ver, *addresses, net_type, nat_type, public_ip, public_port, upnp_reachable,
                upnp_reachable, now, now, now, dev_id))
            return [None]
        latest = {login[0]: login for login in logins}  # a device logged in twice in one batch: the later login
        # rows in DevID order, as in every batched write of device rows: their locks taken in one order
        columns = [[None if value is None else _text(value) for value in column]
                   for column in zip(*(latest[dev_id] for dev_id in sorted(latest)))]
        yield self.db.runOperation(_LOGGED_IN_MANY, (self.node, *columns, columns[0]))
        return [None] * len(logins)

    def offline(self, gone: dict[str, float]) -> defer.Deferred:
        """Mark devices offline (DevID → when its link closed), unless another
        node has taken the device or it logged in again since."""
        dev_ids = sorted(gone)  # DevID order: see _logged_in_many
        return self._report(
            "runOperation",
            "UPDATE device d SET online = false, last_seen_at = to_timestamp(v.at)"
            " FROM unnest(%s::text[], %s::float8[]) AS v(dev_id, at)"
            " WHERE d.dev_id = v.dev_id AND d.node IS NOT DISTINCT FROM %s"
            " AND (d.last_login_at IS NULL OR d.last_login_at <= to_timestamp(v.at))",
            (dev_ids, [gone[d] for d in dev_ids], self.node))

    def all_offline(self) -> defer.Deferred:
        """At start-up: links held by this node before a restart are gone."""
        return self.db.runOperation(
            "UPDATE device SET online = false WHERE online AND node IS NOT DISTINCT FROM %s", (self.node,))

    # -- §7.5.2 ability

    def ability(self, dev_id: str, report) -> defer.Deferred:
        """Store an ABILITYUP_REQ: flags, channels 0..ChannelNum-1, Video list, Onvif.  Reports stored at
        the same time go to the database together, one query string (one round trip, one transaction)
        for each batch (:meth:`_ability_many`); each Deferred fires once its report is committed."""
        return self._abilities.add((dev_id, report))

    def _ability_many(self, reports: list[tuple[str, object]]) -> defer.Deferred:
        if len(reports) == 1:
            return self._ability_one(*reports[0]).addCallback(lambda _: [None])
        # a device twice in one batch: what the two reports leave one after the other is what the
        # later leaves, with its left-out flags and DIDONum (None: unchanged) taken from the earlier
        merged: dict[str, tuple] = {}
        for dev_id, report in reports:
            row = _ability_row(dev_id, report)
            earlier = merged.get(dev_id)
            if earlier is not None:
                row = tuple(earlier[i] if value is None and i in _UNCHANGED_WHEN_NONE else value
                            for i, value in enumerate(row))
            merged[dev_id] = row
        rows = [merged[dev_id] for dev_id in sorted(merged)]  # DevID order: see _logged_in_many
        columns = [list(column) for column in zip(*(row[:-1] for row in rows))]
        dev_ids, channel_nums, dido_nums = columns[0], columns[1], columns[9]
        videos = [(row[0], *video) for row in rows for video in row[-1]]
        didos = [(dev_id, n) for dev_id, n in zip(dev_ids, dido_nums) if n is not None]
        sql = [_ABILITY_MANY]
        params: list = [*columns, dev_ids, dev_ids, channel_nums, dev_ids, channel_nums, dev_ids, dev_ids]
        if videos:
            sql.append(_VIDEOS_MANY)
            params += [list(column) for column in zip(*videos)]
        if didos:
            sql.append(_DIDOS_MANY)
            dido_ids = [d for d, _ in didos]
            params += [dido_ids, [n for _, n in didos], dido_ids, [n for _, n in didos], dido_ids]
        d = self._report("runOperation", "; ".join(sql), tuple(params))
        d.addCallbacks(lambda _: [None] * len(reports), self._ability_alone, errbackArgs=(reports,))
        return d

    def _ability_alone(self, failure, reports: list[tuple[str, object]]) -> defer.Deferred:
        """A batch failed (one report the database refuses fails all): each report again on its own, so
        that only the one refused fails, as it would have alone.  One device's reports run one after
        another in the order they came (the last one stays, as in the batch); different devices' side
        by side."""
        outcomes: list = [None] * len(reports)
        last: dict[str, defer.Deferred] = {}

        def run(_, i: int, dev_id: str, report) -> defer.Deferred:
            return self._ability_one(dev_id, report).addErrback(lambda f: outcomes.__setitem__(i, f.value))

        for i, (dev_id, report) in enumerate(reports):
            before = last.get(dev_id)
            last[dev_id] = run(None, i, dev_id, report) if before is None else before.addCallback(
                run, i, dev_id, report)
        return defer.gatherResults(list(last.values())).addCallback(lambda _: outcomes)

    def _ability_one(self, dev_id: str, report) -> defer.Deferred:
        *columns, videos = _ability_row(dev_id, report)
        channel_num, dido_num = columns[1], columns[9]
        statements = [(
            "UPDATE device SET channel_num = %s,"
            " ptz_flag = coalesce(%s, ptz_flag), estore_flag = coalesce(%s, estore_flag),"
            " local_store_flag = coalesce(%s, local_store_flag),"
            " motion_detection_flag = coalesce(%s, motion_detection_flag),"
            " infrared_detection_flag = coalesce(%s, infrared_detection_flag),"
            " manual_alarm_flag = coalesce(%s, manual_alarm_flag),"
            " dido_alarm_flag = coalesce(%s, dido_alarm_flag), dido_num = coalesce(%s, dido_num),"
            " onvif_port = %s, onvif_account = %s, onvif_password = %s"
            " WHERE dev_id = %s", (*columns[1:], dev_id)), (
            "INSERT INTO channel (dev_id, channel_no) SELECT %s, n FROM generate_series(0, %s - 1) n"
            " ON CONFLICT DO NOTHING", (dev_id, channel_num)), (
            "DELETE FROM channel WHERE dev_id = %s AND channel_no >= %s", (dev_id, max(channel_num, 1))), (
            "DELETE FROM video_capability WHERE dev_id = %s", (dev_id,)),
        ]
        if videos:
            statements.append((
                "INSERT INTO video_capability (dev_id, stream_type, frame_size) VALUES "
                + ", ".join(["(%s, %s, %s)"] * len(videos)),
                tuple(x for video in videos for x in (dev_id, *video))))
        if dido_num is not None:
            statements.append((
                "INSERT INTO dido (dev_id, dido_no) SELECT %s, n FROM generate_series(0, %s - 1) n"
                " ON CONFLICT DO NOTHING", (dev_id, dido_num)))
            statements.append(("DELETE FROM dido WHERE dev_id = %s AND dido_no >= %s", (dev_id, dido_num)))
        # one round trip: statements sent in one query string run as one
        # transaction (PostgreSQL's simple query protocol)
        return self._report("runOperation", "; ".join(sql for sql, _ in statements),
                            tuple(x for _, params in statements for x in params))

    # -- §7.5.3 heartbeat

    def addresses(self, dev_id: str, addresses: Addresses, cur_video_num, now: float) -> defer.Deferred:
        """A heartbeat whose addresses changed; UPnP reachability is unknown again."""
        return self._report(
            "runOperation",
            "UPDATE device SET upnp_ip = %s, rtsp_upnp_port = %s, local_ip = %s, rtsp_local_port = %s,"
            " turn_relay_ip = %s, rtsp_turn_relay_port = %s, cur_video_num = %s,"
            " upnp_reachable = CASE WHEN upnp_ip IS DISTINCT FROM %s OR rtsp_upnp_port IS DISTINCT FROM %s"
            "   THEN NULL ELSE upnp_reachable END,"
            " last_seen_at = to_timestamp(%s) WHERE dev_id = %s",
            (*addresses, cur_video_num, addresses.upnp_ip, addresses.rtsp_upnp_port, now, dev_id))

    def seen(self, seen: dict[str, float]) -> defer.Deferred:
        """Batch ``last_seen_at`` of devices whose heartbeat changed nothing."""
        dev_ids = sorted(seen)  # DevID order: see _logged_in_many
        return self._report(
            "runOperation",
            "UPDATE device d SET last_seen_at = to_timestamp(v.seen)"
            " FROM unnest(%s::text[], %s::float8[]) AS v(dev_id, seen) WHERE d.dev_id = v.dev_id",
            (dev_ids, [seen[d] for d in dev_ids]))

    def upnp_reachable(self, dev_id: str, upnp_ip: str, port: int, reachable: bool, now: float):
        """Record a probe's outcome if the device still reports that address."""
        return self._report(
            "runOperation",
            "UPDATE device SET upnp_reachable = %s, upnp_checked_at = to_timestamp(%s)"
            " WHERE dev_id = %s AND upnp_ip = %s AND rtsp_upnp_port = %s",
            (reachable, now, dev_id, upnp_ip, port))

    # -- §7.5.4, §7.5.34 reports (§7.5.27 pictures: store.files)

    def exception(self, dev_id: str, channel_no, exception_type: int, desc: str, now: float):
        return self._report(
            "runOperation",
            "INSERT INTO device_exception (dev_id, channel_no, exception_type, exception_desc, received_at)"
            " VALUES (%s, %s, %s, %s, to_timestamp(%s))",
            (dev_id, channel_no, exception_type, desc, now))

    def alarm(self, dev_id: str, channel_no: int, alarm_type: int, desc: str, dido_no,
              file_name: str, now: float) -> defer.Deferred:
        """Store an alarm (:meth:`kandian.store.alarms.AlarmStore.add`); not a report write."""
        return add_alarm(self.db, dev_id, channel_no, alarm_type, desc, dido_no, file_name, now)
