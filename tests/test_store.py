"""Migrations and the device component against real PostgreSQL (accounts: tests/test_store_contract_acc.py)."""

import attrs
import psycopg2
from twisted.internet import defer, reactor

from kandian.store import migrate
from kandian.store.devices import DeviceExists, DeviceStore
from kandian.store.service import connect
from kandian.store.users import Users

from .pg import DatabaseTestCase


@defer.inlineCallbacks
def current_version(db):
    """The highest applied version, 0 for an empty database."""
    rows = yield db.runQuery("SELECT to_regclass('schema_version') IS NOT NULL")
    if not rows[0][0]:
        return 0
    rows = yield db.runQuery("SELECT coalesce(max(version), 0) FROM schema_version")
    return rows[0][0]


class MigrationTests(DatabaseTestCase):
    empty_database = True

    @defer.inlineCallbacks
    def test_applies_every_migration_once(self):
        applied = yield migrate.migrate(self.db)
        self.assertEqual(applied, [m.version for m in migrate.available()])
        again = yield migrate.migrate(self.db)
        self.assertEqual(again, [])
        version = yield current_version(self.db)
        self.assertEqual(version, migrate.latest())

    @defer.inlineCallbacks
    def test_two_processes_at_once_apply_each_migration_once(self):
        other = yield connect(self.dsn, 2, reactor)
        self.addCleanup(other.close)
        results = yield defer.gatherResults([migrate.migrate(self.db), migrate.migrate(other)])
        self.assertEqual(sorted(results, key=len), [[], [m.version for m in migrate.available()]])
        rows = yield self.db.runQuery("SELECT version, count(*) FROM schema_version GROUP BY version")
        self.assertTrue(all(count == 1 for _, count in rows))

    @defer.inlineCallbacks
    def test_empty_database_is_version_zero(self):
        version = yield current_version(self.db)
        self.assertEqual(version, 0)

    @defer.inlineCallbacks
    def test_refuses_a_database_newer_than_the_code(self):
        yield migrate.migrate(self.db)
        yield self.db.runOperation("INSERT INTO schema_version (version, name) VALUES (999, 'future')")
        yield self.assertFailure(migrate.migrate(self.db), RuntimeError)

    @defer.inlineCallbacks
    def test_a_failing_migration_applies_nothing(self):
        broken = migrate.available() + [migrate.Migration(migrate.latest() + 1, "broken",
                                                          "CREATE TABLE x (); SELECT nonsense;")]
        yield self.assertFailure(migrate.migrate(self.db, broken), psycopg2.Error)
        version = yield current_version(self.db)
        self.assertEqual(version, 0)


class SchemaTests(DatabaseTestCase):
    @defer.inlineCallbacks
    def test_manufacturers_of_section_7_2_are_seeded(self):
        rows = yield self.db.runQuery("SELECT manufacturer_no, name FROM manufacturer ORDER BY 1")
        self.assertEqual([r[0] for r in rows], [str(n) for n in range(811, 827)])
        self.assertEqual(dict(rows)["811"], "海康")
        self.assertEqual(dict(rows)["826"], "东方网力")

    @defer.inlineCallbacks
    def test_a_device_has_one_owner_at_most(self):
        users = Users(self.db)
        a = yield users.add("13800000001", "scrypt$a")
        b = yield users.add("13800000002", "scrypt$b")
        yield DeviceStore(self.db).add("81100000001", "key")
        yield self.db.runOperation("INSERT INTO user_device (user_id, dev_id, share_flag) VALUES (%s, %s, 0)",
                                   (a, "81100000001"))
        yield self.assertFailure(self.db.runOperation(
            "INSERT INTO user_device (user_id, dev_id, share_flag) VALUES (%s, %s, 0)", (b, "81100000001")),
            psycopg2.errors.UniqueViolation)
        yield self.db.runOperation("INSERT INTO user_device (user_id, dev_id, share_flag) VALUES (%s, %s, 1)",
                                   (b, "81100000001"))

    @defer.inlineCallbacks
    def test_a_token_is_bound_to_a_stream_or_a_file(self):
        yield DeviceStore(self.db).add("81100000001", "key")
        yield self.assertFailure(self.db.runOperation(
            "INSERT INTO hash_token (hash_token, dev_id, channel_no, expires_at)"
            " VALUES ('t', '81100000001', 0, now())"), psycopg2.errors.CheckViolation)


class DeviceStoreTests(DatabaseTestCase):
    @defer.inlineCallbacks
    def test_add_and_list(self):
        devices = DeviceStore(self.db)
        yield devices.add("81200000007", "k", dev_type=3, model="NVR-8", channels=8)
        yield devices.add("99900000001", "k")
        listed = yield devices.list()
        self.assertEqual([(d.dev_id, d.dev_type, d.model, d.manufacturer, d.channels, d.online) for d in listed],
                         [("81200000007", 3, "NVR-8", "大华", 8, False),
                          ("99900000001", 1, "", None, 1, False)])

    @defer.inlineCallbacks
    def test_refusals(self):
        devices = DeviceStore(self.db)
        yield devices.add("81100000001", "k")
        yield self.assertFailure(devices.add("81100000001", "k"), DeviceExists)
        good = dict(dev_id="81100000002", dev_key="k", dev_type=1, channels=1)
        for bad in [dict(dev_id="8110000001"), dict(dev_key=""), dict(dev_type=4), dict(channels=0)]:
            yield self.assertFailure(devices.add(**{**good, **bad}), ValueError)
        listed = yield devices.list()
        self.assertEqual([d.dev_id for d in listed], ["81100000001"])


class AbilityStoreTests(DatabaseTestCase):
    """LinkStore.ability: one round trip, all of it or none of it (§7.5.2)."""

    @defer.inlineCallbacks
    def stored(self, dev_id):
        device = yield self.db.runQuery("SELECT channel_num, ptz_flag, dido_num FROM device WHERE dev_id = %s",
                                        (dev_id,))
        channels = yield self.db.runQuery("SELECT channel_no FROM channel WHERE dev_id = %s ORDER BY 1", (dev_id,))
        videos = yield self.db.runQuery(
            "SELECT stream_type, frame_size FROM video_capability WHERE dev_id = %s ORDER BY 1, 2", (dev_id,))
        didos = yield self.db.runQuery("SELECT dido_no FROM dido WHERE dev_id = %s ORDER BY 1", (dev_id,))
        return (device[0], [c[0] for c in channels], [tuple(v) for v in videos], [d[0] for d in didos])

    @defer.inlineCallbacks
    def test_replaces_channels_videos_didos_and_a_failing_report_changes_nothing(self):
        from kandian.device.messages import items
        from kandian.device.messages.reports import AbilityUpRequest
        from kandian.store.links import LinkStore
        dev_id = "81100000001"
        yield DeviceStore(self.db).add(dev_id, "k", channels=1)
        links = LinkStore(self.db)

        def report(channels, videos, didos, ptz=1):
            return AbilityUpRequest(DevID=dev_id, ChannelNum=channels, PTZFlag=ptz, DIDONum=didos,
                                    Video=tuple(items.Video(StreamType=s, FrameSize=f) for s, f in videos))

        yield links.ability(dev_id, report(3, [(1, 5), (2, 3), (1, 5), (3, 9)], 2))
        first = ((3, True, 2), [0, 1, 2], [(1, 5), (2, 3)], [0, 1])
        self.assertEqual((yield self.stored(dev_id)), first)
        # FrameSize beyond the column's range (forced past the codec, which refuses it): the last
        # statements fail, so the first ones must not stay
        failing = report(1, [(1, 5)], 0, ptz=0)
        object.__setattr__(failing.Video[0], "FrameSize", 70000)
        yield self.assertFailure(links.ability(dev_id, failing), psycopg2.Error)
        self.assertEqual((yield self.stored(dev_id)), first)
        yield links.ability(dev_id, report(1, [(2, 1)], 0, ptz=0))
        self.assertEqual((yield self.stored(dev_id)), ((1, False, 0), [0], [(2, 1)], []))
        yield links.ability(dev_id, report(2, [], None))
        self.assertEqual((yield self.stored(dev_id)), ((2, True, 0), [0, 1], [], []))


class CoalescedAbilityTests(DatabaseTestCase):
    """LinkStore.ability under load: one query string per batch of reports, each stored as if alone."""

    stored = AbilityStoreTests.stored

    @defer.inlineCallbacks
    def test_many_reports_at_once_leave_what_each_alone_leaves(self):
        from kandian.device.messages import items
        from kandian.device.messages.reports import AbilityUpRequest
        from kandian.store.links import LinkStore
        dev_ids = ["811%08d" % i for i in range(40)]
        for dev_id in dev_ids:
            yield DeviceStore(self.db).add(dev_id, "k", channels=2)

        def report(i, dev_id, later=False):
            return AbilityUpRequest(
                DevID=dev_id, ChannelNum=(i + later) % 4, PTZFlag=(None, 0, 1)[i % 3],
                EStoreFlag=None if later else i % 2, LocalStoreFlag=(None, 1, 3)[i % 3],
                MotionDetectionFlag=1, InfraredDetectionFlag=None if i % 4 else 0, ManualAlarmFlag=i % 2,
                DIDOAlarmFlag=None, DIDONum=(None, 0, 2, 5)[(i + later) % 4],
                Video=tuple(items.Video(StreamType=s, FrameSize=f) for s, f in
                            [(1, i % 7), (2, 3), (1, i % 7), (3, 1)][:i % 5]),
                Onvif=None if i % 3 == 0 else items.Onvif(Port=80 + i, Account="a%d" % i, Password="p"))

        def reports(dev_ids):
            # every third device reports twice: the second report changes things and leaves flags out
            out = []
            for i, dev_id in enumerate(dev_ids):
                out.append((dev_id, report(i, dev_id)))
                if i % 3 == 0:
                    out.append((dev_id, report(i, dev_id, later=True)))
            return out

        alone = LinkStore(self.db)
        for dev_id, r in reports(dev_ids[:20]):
            yield alone.ability(dev_id, r)
        one_by_one = yield defer.gatherResults([self.stored(dev_id) for dev_id in dev_ids[:20]])
        at_once_store = LinkStore(self.db)
        # the same reports, for the other 20 devices, all at once (their DevIDs differ, their numbers match)
        batch = [(dev_ids[20 + dev_ids.index(dev_id)], attrs.evolve(r, DevID=dev_ids[20 + dev_ids.index(dev_id)]))
                 for dev_id, r in reports(dev_ids[:20])]
        yield defer.gatherResults([at_once_store.ability(dev_id, r) for dev_id, r in batch])
        self.assertLess(at_once_store._abilities.batches, at_once_store._abilities.calls)
        at_once = yield defer.gatherResults([self.stored(dev_id) for dev_id in dev_ids[20:]])
        self.assertEqual(at_once, one_by_one)
        onvif = yield self.db.runQuery("SELECT dev_id, onvif_port, onvif_account, estore_flag, local_store_flag,"
                                       " infrared_detection_flag, manual_alarm_flag FROM device ORDER BY dev_id")
        self.assertEqual([row[1:] for row in onvif[20:]], [row[1:] for row in onvif[:20]])

    @defer.inlineCallbacks
    def test_a_report_refused_in_a_batch_fails_alone(self):
        from kandian.device.messages import items
        from kandian.device.messages.reports import AbilityUpRequest
        from kandian.store.links import LinkStore
        dev_ids = ["811%08d" % i for i in range(6)]
        for dev_id in dev_ids:
            yield DeviceStore(self.db).add(dev_id, "k", channels=1)
        links = LinkStore(self.db)
        reports = [AbilityUpRequest(DevID=d, ChannelNum=2, Video=(items.Video(StreamType=1, FrameSize=3),))
                   for d in dev_ids]
        object.__setattr__(reports[3].Video[0], "FrameSize", 70000)  # past the codec: the column refuses it
        outcomes = yield defer.DeferredList([links.ability(d, r) for d, r in zip(dev_ids, reports)],
                                            consumeErrors=True)
        self.assertEqual([ok for ok, _ in outcomes], [True, True, True, False, True, True])
        self.assertIsInstance(outcomes[3][1].value, psycopg2.Error)
        self.assertLess(links._abilities.batches, links._abilities.calls)
        for i, dev_id in enumerate(dev_ids):
            channels = [0, 1] if i != 3 else [0]
            self.assertEqual((yield self.stored(dev_id))[1:3], (channels, [(1, 3)] if i != 3 else []))

    @defer.inlineCallbacks
    def test_after_a_refusal_one_devices_reports_run_in_order(self):
        """Run again alone, two reports of one device go one after the other, the later last, as the
        batch would have applied them."""
        from kandian.device.messages import items
        from kandian.device.messages.reports import AbilityUpRequest
        from kandian.store.links import LinkStore
        dev_ids = ["811%08d" % i for i in range(3)]
        for dev_id in dev_ids:
            yield DeviceStore(self.db).add(dev_id, "k", channels=1)
        links = LinkStore(self.db)
        runs: list[tuple[str, str, int]] = []  # (event, dev_id, ChannelNum)
        one = links._ability_one

        def traced(dev_id, report):
            runs.append(("start", dev_id, report.ChannelNum))
            return one(dev_id, report).addBoth(lambda r: (runs.append(("end", dev_id, report.ChannelNum)), r)[1])

        links._ability_one = traced
        refused = AbilityUpRequest(DevID=dev_ids[0], ChannelNum=2, Video=(items.Video(StreamType=1, FrameSize=3),))
        object.__setattr__(refused.Video[0], "FrameSize", 70000)  # past the codec: the column refuses it
        batch = [(dev_ids[0], refused), (dev_ids[1], AbilityUpRequest(DevID=dev_ids[1], ChannelNum=2)),
                 (dev_ids[2], AbilityUpRequest(DevID=dev_ids[2], ChannelNum=4)),
                 (dev_ids[1], AbilityUpRequest(DevID=dev_ids[1], ChannelNum=3)),
                 (dev_ids[2], AbilityUpRequest(DevID=dev_ids[2], ChannelNum=2))]
        outcomes = yield links._ability_many(batch)  # the one batch the five would make under load
        self.assertIsInstance(outcomes[0], psycopg2.Error)
        self.assertEqual(outcomes[1:], [None] * 4)
        for dev_id, first, second in ((dev_ids[1], 2, 3), (dev_ids[2], 4, 2)):
            mine = [(event, n) for event, d, n in runs if d == dev_id]
            self.assertEqual(mine, [("start", first), ("end", first), ("start", second), ("end", second)])
            self.assertEqual(len((yield self.stored(dev_id))[1]), second)


class DeviceRowLockOrderTests(DatabaseTestCase):
    """Batched writes of device rows take their row locks in DevID order, whatever order their rows came in:
    two of them over the same devices, at once, never deadlock (PostgreSQL would abort one)."""

    @defer.inlineCallbacks
    def test_seen_and_offline_over_the_same_devices_at_once(self):
        from kandian.store.links import LinkStore
        dev_ids = ["811%08d" % i for i in range(300)]
        for dev_id in dev_ids:
            yield DeviceStore(self.db).add(dev_id, "k", channels=1)
        links = LinkStore(self.db, node="n1", report_connections=2)  # both statements at once, on two connections
        yield self.db.runOperation("UPDATE device SET node = 'n1', online = true")
        for round_ in range(20):
            forward = {dev_id: 1_800_000_000.0 + round_ for dev_id in dev_ids}
            backward = {dev_id: 1_800_000_000.0 + round_ for dev_id in reversed(dev_ids)}
            outcomes = yield defer.DeferredList([links.seen(forward), links.offline(backward)], consumeErrors=True)
            self.assertEqual([ok for ok, _ in outcomes], [True, True],
                             [r.getErrorMessage() for ok, r in outcomes if not ok])


class BatchPlanTests(DatabaseTestCase):
    """The batched login and ability statements find their rows by index: joined to unnest() alone, the
    planner scanned every row of device and channel for each batch (docs/benchmarks.md)."""

    @defer.inlineCallbacks
    def test_no_table_is_scanned_whole(self):
        from kandian.store import links
        yield self.db.runOperation(
            "INSERT INTO device (dev_id, dev_key, dev_type, manufacturer_no)"
            " SELECT (81100000000 + i)::text, 'k', 1, '811' FROM generate_series(0, 19999) i;"
            " INSERT INTO channel (dev_id, channel_no) SELECT (81100000000 + i)::text, 0"
            " FROM generate_series(0, 19999) i;"
            " INSERT INTO dido (dev_id, dido_no) SELECT (81100000000 + i)::text, n"
            " FROM generate_series(0, 19999) i, generate_series(0, 1) n; ANALYZE device, channel, dido")
        ids = [str(81100001000 + i) for i in range(100)]
        texts = [[None] * 100] * 13
        flags = [None] * 100
        cases = [
            (links._LOGGED_IN_MANY.sql, ["n1", ids, *texts, ids]),
            *zip(links._ABILITY_MANY.split("; "), [
                [ids, [1] * 100, *[flags] * 11, ids], [ids, [1] * 100], [ids, [1] * 100, ids], [ids]]),
            *zip(links._DIDOS_MANY.split("; "), [[ids, [2] * 100], [ids, [2] * 100, ids]]),
        ]
        for sql, params in cases:
            plan = yield self.db.runQuery("EXPLAIN " + sql, params)
            text = "\n".join(row[0] for row in plan)
            for table in ("device", "channel", "dido"):
                self.assertNotIn("Seq Scan on %s " % table, text, sql[:60])


class CoalescedLoginTests(DatabaseTestCase):
    """LinkStore.authenticate and logged_in under load: one statement per batch, each login as if alone."""

    COLUMNS = ("online, node, dev_ver, upnp_ip, rtsp_upnp_port, local_ip, rtsp_local_port, turn_relay_ip,"
               " rtsp_turn_relay_port, net_type, nat_type, public_ip, public_port, upnp_reachable,"
               " extract(epoch FROM upnp_checked_at), extract(epoch FROM last_login_at),"
               " extract(epoch FROM last_seen_at)")

    @defer.inlineCallbacks
    def rows(self, dev_ids):
        out = []
        for dev_id in dev_ids:
            rows = yield self.db.runQuery("SELECT %s FROM device WHERE dev_id = %%s" % self.COLUMNS, (dev_id,))
            out.append(tuple(float(v) if type(v).__name__ == "Decimal" else v for v in rows[0]))
        return out

    @defer.inlineCallbacks
    def test_many_logins_at_once_are_batched_and_each_recorded(self):
        from kandian.store.links import Addresses, LinkStore
        dev_ids = ["811%08d" % i for i in range(40)]
        for i, dev_id in enumerate(dev_ids):
            yield DeviceStore(self.db).add(dev_id, "key%d" % i)
        links = LinkStore(self.db, node="n1")
        alone = LinkStore(self.db, node="n1")
        found = yield defer.gatherResults([links.authenticate(d) for d in dev_ids + ["81199999999"]])
        self.assertEqual([row[0] if row else None for row in found], ["key%d" % i for i in range(40)] + [None])
        self.assertLess(links._authenticate.batches, len(dev_ids))  # coalesced

        def login(store, i, dev_id, now):
            addresses = Addresses("10.0.0.%d" % i, 554 + i, None if i % 3 else "192.168.1.2", None,
                                  "turn" if i % 2 else None, 3478)
            return store.logged_in(dev_id, "V1.5_%d" % i, addresses, i % 3, None if i % 4 else 2,
                                   "1.2.3.%d" % i, 40000 + i, now, upnp_reachable=(None, True, False)[i % 3])

        # the same logins one at a time (batches of one) and all at once: the same rows
        for i, dev_id in enumerate(dev_ids[:20]):
            yield login(alone, i, dev_id, 1_700_000_000.25 + i)
        one_by_one = yield self.rows(dev_ids[:20])
        yield defer.gatherResults([login(links, i, dev_id, 1_700_000_000.25 + i)
                                   for i, dev_id in enumerate(dev_ids[20:])]
                                  + [login(links, 0, dev_ids[20], 1_700_000_000.25)])  # twice: the later wins
        at_once = yield self.rows(dev_ids[20:])
        self.assertLess(links._logged_in.batches, links._logged_in.calls)
        self.assertEqual(at_once, one_by_one)
        self.assertEqual(one_by_one[1][13], True)
        self.assertIsNone(one_by_one[0][13])
        self.assertIsNone(one_by_one[0][14])  # not probed: no check time
