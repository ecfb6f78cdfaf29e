"""What one hostile device may cost the platform (§7.5 bodies, PRODUCT.md "Device link rules").

Counts and sizes a peer sends are bounded and refused with Result 255 before
anything is stored; report writes leave a pool connection for alarms; bad
input is logged once per kind per link, and what the peer sent is cut short
in every log line. Real PostgreSQL and real TCP where the store or the
running service is involved; StringTransport + Clock for the link's logging.
"""

from hypothesis import given, strategies as st
from twisted.internet import defer, reactor, task
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial import unittest

from kandian.device import messages as m
from kandian.device.frame import Frame
from kandian.device.link import DeviceLink
from kandian.store.devices import DeviceStore
from kandian.store.links import LinkStore
from kandian.store.service import connect

from .pg import DatabaseTestCase
from .test_device_integration import DEV_ID, DeviceTestCase, RawDevice, eventually
from .test_device_link import LOGIN, Controller, frame
from .test_register import RegisterTestCase


def raw_frame(cmd: int, seq: int, xml: str) -> bytes:
    return Frame(cmd, seq, xml.encode()).to_wire()


def ability_xml(dev_id: str, channels, didos=1) -> str:
    return ("<ABILITYUP_REQ><DevID>%s</DevID><ChannelNum>%s</ChannelNum><DIDONum>%s</DIDONum>"
            "<Video><StreamType>1</StreamType><FrameSize>1</FrameSize></Video></ABILITYUP_REQ>"
            % (dev_id, channels, didos))


class BoundsPropertyTests(unittest.SynchronousTestCase):
    """The codec alone (sans-IO): any count beyond its bound is :class:`OutOfRange`."""

    @given(st.integers(min_value=-(2**70), max_value=2**70))
    def test_channel_num(self, channels):
        data = ability_xml(DEV_ID, channels, 0).encode()
        if 0 <= channels <= 256:
            self.assertEqual(m.decode_body(0x32, False, data).ChannelNum, channels)
        elif abs(channels) < 10**20:
            self.assertRaises(m.OutOfRange, m.decode_body, 0x32, False, data)
        else:  # more digits than any integer element may have: malformed, refused all the same
            self.assertRaises(m.MessageError, m.decode_body, 0x32, False, data)

    @given(st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=300))
    def test_lengths(self, dev_id_length, videos):
        data = ("<ABILITYUP_REQ><DevID>%s</DevID><ChannelNum>1</ChannelNum>%s</ABILITYUP_REQ>"
                % ("8" * dev_id_length, "<Video><StreamType>1</StreamType><FrameSize>1</FrameSize></Video>" * videos))
        if 1 <= dev_id_length <= 64 and videos <= 64:
            self.assertEqual(len(m.decode_body(0x32, False, data.encode()).Video), videos)
        elif dev_id_length:
            self.assertRaises(m.OutOfRange, m.decode_body, 0x32, False, data.encode())


class OutOfRangeTests(DeviceTestCase):
    """ChannelNum of a million, or beyond 32 bits: Result 255 at once, no row written."""

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        yield DeviceStore(self.db).add(DEV_ID, "key-1")
        self.raw = yield RawDevice.connect(self.port("device"))
        self.addCleanup(self.raw.transport.loseConnection)
        self.raw.send(m.LoginRequest(DevVer="V1.5", DevID=DEV_ID, DevKey="key-1"))
        yield eventually(lambda: self.raw.frames, "login answered")
        self.assertEqual(m.decode_body(0x31, True, self.raw.frames[0].data).Result, 0)

    @defer.inlineCallbacks
    def ask(self, xml: str, cmd: int = 0x32):
        seq = self.raw.seq
        self.raw.seq += 1
        self.raw.transport.write(raw_frame(cmd, seq, xml))
        yield eventually(lambda: any(f.seq == seq for f in self.raw.frames), "answer to SEQ %d" % seq)
        [answer] = [f for f in self.raw.frames if f.seq == seq]
        return m.decode_body(answer.cmd, True, answer.data)

    @defer.inlineCallbacks
    def rows(self):
        channels = yield self.db.runQuery("SELECT count(*) FROM channel WHERE dev_id = %s", (DEV_ID,))
        didos = yield self.db.runQuery("SELECT count(*) FROM dido WHERE dev_id = %s", (DEV_ID,))
        return channels[0][0], didos[0][0]

    @defer.inlineCallbacks
    def test_channel_and_dido_counts_beyond_256_are_refused_with_nothing_stored(self):
        before = yield self.rows()
        for channels, didos in [(1_000_000, 1), (2**31, 1), (10**25, 1), (-1, 1), (2, 1_000_000), (2, 2**31)]:
            answer = yield self.ask(ability_xml(DEV_ID, channels, didos))
            self.assertIsInstance(answer, m.AbilityUpResponse)
            self.assertEqual((answer.Result, answer.DevID), (255, DEV_ID), (channels, didos))
            self.assertEqual((yield self.rows()), before)
        stats = self.service.platform.link_stats
        self.assertEqual(stats.bad_frames["out_of_range"], 5)
        self.assertEqual(stats.bad_frames["malformed"], 1)  # 26 digits are not an integer at all
        # the link stays, and a legal report is stored and answered without a Result, as the spec has it
        answer = yield self.ask(ability_xml(DEV_ID, 256, 256))
        self.assertIsNone(answer.Result)
        self.assertEqual((yield self.rows()), (256, 256))
        self.assertEqual(self.flushLoggedErrors(), [])

    @defer.inlineCallbacks
    def test_other_reports_out_of_range_are_refused(self):
        long_desc = "x" * 1025  # descriptions: at most 1024 characters
        cases = [
            (0x37, "<ALARM_NOTIFY_REQ><DevID>%s</DevID><ChannelNo>%d</ChannelNo><AlarmType>1</AlarmType>"
                   "</ALARM_NOTIFY_REQ>" % (DEV_ID, 2**31)),
            (0x37, "<ALARM_NOTIFY_REQ><DevID>%s</DevID><ChannelNo>0</ChannelNo><AlarmType>%d</AlarmType>"
                   "</ALARM_NOTIFY_REQ>" % (DEV_ID, 2**20)),
            (0x34, "<EXCEPTION_NOTIFY_REQ><DevID>%s</DevID><ExceptionType>1</ExceptionType>"
                   "<ExceptionDesc>%s</ExceptionDesc></EXCEPTION_NOTIFY_REQ>" % (DEV_ID, long_desc)),
            (0x36, "<NOTIFY_PICTURE_REQ><DevID>%s</DevID><ChannelNo>%d</ChannelNo><FileName>a.jpg</FileName>"
                   "</NOTIFY_PICTURE_REQ>" % (DEV_ID, 10**6)),
            (0x33, "<HEARTBEAT_REQ><DevID>%s</DevID><CurVideoNum>%d</CurVideoNum></HEARTBEAT_REQ>" % (DEV_ID, 2**40)),
            (0x32, "<ABILITYUP_REQ><DevID>%s</DevID><ChannelNum>1</ChannelNum>%s</ABILITYUP_REQ>"
                   % (DEV_ID, "<Video><StreamType>1</StreamType><FrameSize>1</FrameSize></Video>" * 65)),
        ]
        tables = ("alarm", "device_exception", "picture", "channel", "video_capability")

        @defer.inlineCallbacks
        def counts():
            found = []
            for table in tables:
                rows = yield self.db.runQuery("SELECT count(*) FROM %s" % table)
                found.append(rows[0][0])
            return found

        before = yield counts()
        for cmd, xml in cases:
            answer = yield self.ask(xml, cmd)
            self.assertEqual(answer.Result, 255, xml[:80])
        self.assertEqual((yield counts()), before)
        self.assertEqual(self.service.platform.link_stats.bad_frames["out_of_range"], len(cases))


class PoolShareTests(DatabaseTestCase):
    """Report writes from many links never take the last pool connection."""

    @defer.inlineCallbacks
    def test_an_alarm_gets_a_connection_while_every_link_reports(self):
        db = yield connect(self.dsn, 3, reactor)
        self.addCleanup(db.close)
        links = LinkStore(db)
        devices = ["811000000%02d" % n for n in range(1, 8)]
        for dev_id in devices:
            yield DeviceStore(db).add(dev_id, "k")
        # six links send the biggest legal report at once
        reports = [links.ability(dev_id, m.AbilityUpRequest(DevID=dev_id, ChannelNum=256, DIDONum=256))
                   for dev_id in devices[1:]]
        # two report writes under way (the first two reports, each a batch of one), the other four
        # waiting to go together (LinkStore.ability batches them): none has the last connection
        self.assertEqual((db.in_use, links.reports.tokens, [d.called for d in reports]), (2, 0, [False] * 6))
        # an unrelated device's alarm is not queued behind them: it takes the connection kept back
        alarm = links.alarm(devices[0], 0, 1, "", None, "", 1_700_000_000)
        self.assertEqual((db.in_use, db.waiting), (3, 0))
        alarm_id = yield alarm
        self.assertIsNotNone(alarm_id)
        yield defer.gatherResults(reports)
        rows = yield db.runQuery("SELECT count(*) FROM channel")
        self.assertEqual(rows, [(256 * 6 + 1,)])  # and the alarm device's one channel
        self.assertEqual((db.in_use, links.reports.tokens), (0, 2))


class LinkLoggingTests(unittest.SynchronousTestCase):
    """3,000 bad frames of a kind: 3,000 counted, one logged (and one summary at close)."""

    def setUp(self):
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.clock = task.Clock()
        self.controller = Controller()
        self.controller.wire_time = lambda: "20261123150000"
        self.link = DeviceLink(self.controller, self.clock, login_timeout=30, heartbeat_timeout=360,
                               command_timeout=10)
        self.transport = StringTransport()
        self.link.makeConnection(self.transport)
        self.link.dataReceived(frame(LOGIN, seq=0))

    def link_events(self):
        return [e for e in self.events if e.get("log_namespace") == "kandian.device.link"]

    def test_each_kind_of_bad_input_is_logged_once_and_counted_every_time(self):
        heartbeat = m.HeartbeatRequest(DevID=LOGIN.DevID)
        bad_digest = bytearray(frame(heartbeat, seq=1))
        bad_digest[-1] ^= 1
        kinds = {
            "digest": bytes(bad_digest),
            "malformed": raw_frame(0x33, 2, "<HEARTBEAT_REQ><DevID>x</DevID"),
            "out_of_range": raw_frame(0x33, 3, "<HEARTBEAT_REQ><DevID>%s</DevID><CurVideoNum>%d</CurVideoNum>"
                                               "</HEARTBEAT_REQ>" % (LOGIN.DevID, 2**40)),
            "wrong_devid": frame(m.HeartbeatRequest(DevID="81100000999"), seq=4),
            "unknown_cmd": raw_frame(0xF0, 5, "<X/>"),
        }
        before = len(self.link_events())
        for kind, data in kinds.items():
            self.link.dataReceived(data * 3000)
            self.assertEqual(self.link.stats.bad_frames[kind], 3000, kind)
        logged = self.link_events()[before:]
        self.assertEqual(len(logged), len(kinds), [formatEvent(e) for e in logged])
        self.transport.clear()
        self.link.connectionLost(None)
        [summary] = self.link_events()[before + len(kinds):]
        text = formatEvent(summary)
        for kind in kinds:
            self.assertIn("%s 2999" % kind, text)

    def test_handler_failures_are_logged_once_per_link(self):
        self.controller.handle = lambda link, request: defer.fail(RuntimeError("store down"))
        heartbeat = m.HeartbeatRequest(DevID=LOGIN.DevID)
        self.transport.clear()
        for seq in range(1, 101):
            self.link.dataReceived(frame(heartbeat, seq=seq))
        self.assertEqual(self.link.stats.request_failures[0x33], 100)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        answers = [m.decode_body(0x33, True, f.data) for f in _frames(self.transport.value())]
        self.assertEqual([a.Result for a in answers], [255] * 100)


def _frames(data: bytes):
    from kandian.device.frame import FrameDecoder
    return list(FrameDecoder().feed(data))


LONG_DEV_ID = "8" * 60_000


def assert_cut(case: unittest.TestCase, events, marker: str = "8" * 100) -> None:
    """No log event, formatted or in any of its fields, carries 100 characters of the long DevID."""
    case.assertTrue(events)
    for event in events:
        case.assertNotIn(marker, formatEvent(event))
        for key, value in event.items():
            if key != "log_format":
                case.assertNotIn(marker, repr(value), key)


class PeerTextInLogsTests(DeviceTestCase):
    """A 60,000-character DevID is not logged whole anywhere on the device link."""

    @defer.inlineCallbacks
    def test_login_with_a_huge_devid(self):
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        raw = yield RawDevice.connect(self.port("device"))
        raw.transport.write(raw_frame(0x31, 0, "<LOGIN_REQ><DevVer>V1.5</DevVer><DevID>%s</DevID><DevKey>k</DevKey>"
                                               "</LOGIN_REQ>" % LONG_DEV_ID))
        yield raw.closed
        [answer] = raw.frames
        self.assertEqual(m.decode_body(0x31, True, answer.data).Result, 255)
        assert_cut(self, list(events))

    @defer.inlineCallbacks
    def test_reports_naming_a_huge_devid_after_login(self):
        yield DeviceStore(self.db).add(DEV_ID, "key-1")
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        raw = yield RawDevice.connect(self.port("device"))
        raw.send(m.LoginRequest(DevVer="V1.5", DevID=DEV_ID, DevKey="key-1"))
        yield eventually(lambda: raw.frames, "login answered")
        raw.transport.write(raw_frame(0x33, 1, "<HEARTBEAT_REQ><DevID>%s</DevID></HEARTBEAT_REQ>" % LONG_DEV_ID))
        raw.transport.write(raw_frame(0x34, 2, "<EXCEPTION_NOTIFY_REQ><DevID>%s</DevID><ExceptionType>1"
                                               "</ExceptionType><ExceptionDesc>%s</ExceptionDesc>"
                                               "</EXCEPTION_NOTIFY_REQ>" % (DEV_ID, "8" * 1000)))
        yield eventually(lambda: len(raw.frames) == 3, "both answered")
        raw.transport.loseConnection()
        yield raw.closed
        assert_cut(self, list(events))


class RegisterLogTests(RegisterTestCase):
    @defer.inlineCallbacks
    def test_registration_with_a_huge_devid(self):
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        body = ("<REGISTER_REQ><DevID>%s</DevID><DevKey>k</DevKey><Mode>%s</Mode></REGISTER_REQ>"
                % (LONG_DEV_ID, "8" * 200)).encode()
        yield self.post(body)
        assert_cut(self, [e for e in events if e.get("log_namespace", "").startswith("kandian.")])
