"""The platform side of the device link, byte by byte (StringTransport + Clock).

The controller here is a small recording double: these tests are about the
link's framing rules (PRODUCT.md "Device link rules"); the real controller and
store are exercised over real TCP in test_device_integration.
"""

from hypothesis import given, settings, strategies as st
from twisted.internet import defer, task
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from kandian.device import messages as m
from kandian.device.frame import Frame, FrameDecoder
from kandian.device.link import (
    MAX_QUEUED_REQUESTS,
    BadAnswer,
    CommandDeadlines,
    CommandTimeout,
    DeviceLink,
    DeviceRefused,
    LinkLost,
)

from .strategies import chunked

DEV_ID = "81100000001"
LOGIN = m.LoginRequest(DevVer="V1.5_20131210", DevID=DEV_ID, DevKey="good", UpnpIP="0.0.0.0",
                       RtspUpnpPort=0, LocalIP="192.168.1.10", RtspLocalPort=554, NetType=0, NatType=3)


def frame(message, seq=0, cmd=None):
    return Frame(cmd if cmd is not None else message.CMD, seq, message.to_xml()).to_wire()


class Controller:
    """Answers like the real controller would, and records what it saw."""

    def __init__(self):
        self.logins = []
        self.handled = []
        self.lost = []
        self.hold = None  # a list collecting Deferreds instead of answering at once

    def login(self, link, request):
        """One call: a good login makes *link* the device's link before it is answered."""
        self.logins.append(request)
        result = 0 if request.DevKey == "good" else 2
        if result == 0:
            self.logged_in_link = link
        return defer.succeed(m.LoginResponse(Result=result, DevID=request.DevID, Time="20261123150000"))

    def handle(self, link, request):
        self.handled.append(request)
        if isinstance(request, m.HeartbeatRequest):
            answer = m.HeartbeatResponse(DevID=request.DevID, Time="20261123150000")
        else:
            answer = m.message_class(request.CMD, True)(Result=0, DevID=request.DevID)
        if self.hold is not None:
            d = defer.Deferred()
            self.hold.append((d, answer))
            return d
        return defer.succeed(answer)

    def link_lost(self, link):
        self.lost.append(link)


class LinkTestCase(unittest.SynchronousTestCase):
    login_timeout = 30
    heartbeat_timeout = 360
    command_timeout = 10

    def setUp(self):
        self.clock = task.Clock()
        self.controller = Controller()
        self.link = DeviceLink(self.controller, self.clock, login_timeout=self.login_timeout,
                               heartbeat_timeout=self.heartbeat_timeout, command_timeout=self.command_timeout)
        self.transport = StringTransport()
        self.link.makeConnection(self.transport)
        self.decoder = FrameDecoder()

    def sent(self):
        """Frames the platform wrote since the last call, decoded."""
        data = self.transport.value()
        self.transport.clear()
        return list(self.decoder.feed(data))

    def login(self):
        self.link.dataReceived(frame(LOGIN, seq=7))
        [answer] = self.sent()
        self.assertEqual((answer.cmd, answer.seq), (0x31, 7))
        return m.decode_body(answer.cmd, True, answer.data)

    def assertClosed(self):
        self.assertTrue(self.transport.disconnecting)

    def assertOpen(self):
        self.assertFalse(self.transport.disconnecting)

    def lose(self):
        self.link.connectionLost(None)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class LoginTests(LinkTestCase):
    def test_login_is_answered_with_its_cmd_and_seq(self):
        answer = self.login()
        self.assertEqual((answer.Result, answer.DevID), (0, DEV_ID))
        self.assertEqual(self.link.dev_id, DEV_ID)
        self.assertIs(self.controller.logged_in_link, self.link)
        self.assertOpen()
        self.assertEqual(self.link.stats.logins[0], 1)

    def test_failed_login_is_answered_then_closed(self):
        self.link.dataReceived(frame(LOGIN.__class__(DevVer="V1.5", DevID=DEV_ID, DevKey="bad"), seq=3))
        [answer] = self.sent()
        self.assertEqual(m.decode_body(answer.cmd, True, answer.data).Result, 2)
        self.assertClosed()
        self.assertIsNone(self.link.dev_id)

    def test_no_login_within_the_timeout_closes(self):
        self.clock.advance(self.login_timeout - 1)
        self.assertOpen()
        self.clock.advance(1)
        self.assertClosed()
        self.lose()

    def test_first_frame_must_be_login(self):
        self.link.dataReceived(frame(m.HeartbeatRequest(DevID=DEV_ID)))
        self.assertEqual(self.sent(), [])
        self.assertClosed()
        self.assertEqual(self.link.stats.bad_frames["before_login"], 1)
        self.assertEqual(self.controller.handled, [])

    def test_malformed_login_is_answered_255_then_closed(self):
        self.link.dataReceived(Frame(0x31, 1, b"<LOGIN_REQ><DevID>1</DevID>").to_wire())
        [answer] = self.sent()
        self.assertEqual(m.decode_body(answer.cmd, True, answer.data).Result, 255)
        self.assertClosed()

    def test_login_body_under_another_cmd_before_login_closes(self):
        self.link.dataReceived(frame(LOGIN, cmd=0x33))
        self.assertClosed()

    def test_entities_are_not_expanded(self):
        xxe = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
               b"<LOGIN_REQ><DevVer>V1.5</DevVer><DevID>&e;</DevID><DevKey>good</DevKey></LOGIN_REQ>")
        self.link.dataReceived(Frame(0x31, 1, xxe).to_wire())
        [answer] = self.sent()
        self.assertEqual(m.decode_body(answer.cmd, True, answer.data).Result, 255)
        self.assertNotIn(b"root:", answer.data)
        self.assertEqual(self.controller.logins, [])
        self.assertClosed()

    def test_second_login_on_the_same_link_is_refused(self):
        self.login()
        self.link.dataReceived(frame(LOGIN, seq=8))
        [answer] = self.sent()
        self.assertEqual(m.decode_body(answer.cmd, True, answer.data).Result, 255)
        self.assertOpen()


class FramingTests(LinkTestCase):
    def test_bad_start_word_closes(self):
        self.login()
        self.link.dataReceived(b"\x00\x01" + frame(m.HeartbeatRequest(DevID=DEV_ID)))
        self.assertClosed()
        self.assertEqual(self.link.stats.bad_frames["start_word"], 1)

    def test_bad_digest_is_dropped_and_the_link_stays(self):
        self.login()
        bad = bytearray(frame(m.HeartbeatRequest(DevID=DEV_ID), seq=1))
        bad[-1] ^= 0xFF
        self.link.dataReceived(bytes(bad) + frame(m.HeartbeatRequest(DevID=DEV_ID), seq=2))
        [answer] = self.sent()
        self.assertEqual(answer.seq, 2)
        self.assertEqual(self.link.stats.bad_frames["digest"], 1)
        self.assertOpen()

    def test_oversize_frame_closes(self):
        self.link = DeviceLink(self.controller, self.clock, login_timeout=30, heartbeat_timeout=360,
                               command_timeout=10, max_data=1024)
        self.transport = StringTransport()
        self.link.makeConnection(self.transport)
        self.link.dataReceived(b"\xfa\xf5\x31\x00\x00\x00\xff\xff")
        self.assertClosed()
        self.assertEqual(self.link.stats.bad_frames["oversize"], 1)

    def test_a_slow_sender_is_waited_for_until_the_login_timeout(self):
        data = frame(LOGIN)
        self.link.dataReceived(data[:-5])
        self.assertEqual(self.sent(), [])
        self.clock.advance(self.login_timeout)
        self.assertClosed()
        self.lose()

    def test_unknown_cmd_is_dropped(self):
        self.login()
        self.link.dataReceived(Frame(0x95, 1, b"<X/>").to_wire())
        self.assertEqual(self.sent(), [])
        self.assertEqual(self.link.stats.bad_frames["unknown_cmd"], 1)
        self.assertOpen()

    def test_wrong_body_for_the_cmd_gets_255(self):
        self.login()
        body = m.ExceptionNotifyRequest(DevID=DEV_ID, ExceptionType=1)
        self.link.dataReceived(frame(body, seq=4, cmd=0x37))  # EXCEPTION body as ALARM
        [answer] = self.sent()
        self.assertEqual((answer.cmd, answer.seq), (0x37, 4))
        self.assertEqual(m.decode_body(0x37, True, answer.data).Result, 255)
        self.assertEqual(self.link.stats.bad_frames["malformed"], 1)

    def test_a_report_for_another_devid_gets_255(self):
        self.login()
        self.link.dataReceived(frame(m.AlarmNotifyRequest(DevID="81100000002", ChannelNo=0, AlarmType=1)))
        [answer] = self.sent()
        self.assertEqual(m.decode_body(0x37, True, answer.data).Result, 255)
        self.assertEqual(self.controller.handled, [])

    @given(st.binary(max_size=300))
    @settings(max_examples=100)
    def test_garbage_after_login_never_escapes(self, garbage):
        self.setUp()
        self.login()
        self.link.dataReceived(garbage)  # must not raise

    @given(st.data())
    @settings(max_examples=50)
    def test_any_chunking_gives_the_same_answers(self, data):
        self.setUp()
        stream = frame(LOGIN, seq=1) + b"".join(
            frame(m.HeartbeatRequest(DevID=DEV_ID, CurVideoNum=n), seq=n + 2) for n in range(3))
        for chunk in data.draw(chunked(stream)):
            self.link.dataReceived(chunk)
        self.assertEqual([(f.cmd, f.seq) for f in self.sent()], [(0x31, 1), (0x33, 2), (0x33, 3), (0x33, 4)])


class HeartbeatTests(LinkTestCase):
    def test_silence_for_heartbeat_timeout_closes(self):
        self.login()
        self.clock.advance(self.heartbeat_timeout - 1)
        self.link.dataReceived(frame(m.HeartbeatRequest(DevID=DEV_ID), seq=1))
        self.clock.advance(self.heartbeat_timeout - 1)
        self.assertOpen()
        self.clock.advance(1)
        self.assertClosed()
        self.lose()
        self.assertEqual(self.controller.lost, [self.link])

    def test_other_traffic_does_not_count_as_a_heartbeat(self):
        self.login()
        self.clock.advance(self.heartbeat_timeout - 1)
        self.link.dataReceived(frame(m.AlarmNotifyRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=1)))
        self.clock.advance(1)
        self.assertClosed()


class CallTests(LinkTestCase):
    def call(self, request=None):
        request = request or m.GetChannelRequest(DevID=DEV_ID, ChannelNo=0, StreamType=2)
        d = self.link.call(request)
        [sent] = self.sent()
        return d, sent

    def answer(self, sent, message):
        self.link.dataReceived(Frame(sent.cmd, sent.seq, message.to_xml()).to_wire())

    def test_answer_fires_the_call_with_the_typed_answer(self):
        self.login()
        d, sent = self.call()
        self.assertEqual((sent.cmd, sent.seq), (0x61, 0))
        answer = m.GetChannelResponse(Result=0, DevID=DEV_ID, FrameSize=3, FrameRate=15)
        self.answer(sent, answer)
        self.assertEqual(self.successResultOf(d), answer)
        self.assertEqual(self.clock.getDelayedCalls(), [self.link._timer])

    def test_non_zero_result_is_device_refused(self):
        self.login()
        d, sent = self.call()
        self.answer(sent, m.GetChannelResponse(Result=1, DevID=DEV_ID))
        self.assertEqual(self.failureResultOf(d, DeviceRefused).value.result, 1)

    def test_store_query_result_is_a_state_not_a_refusal(self):
        self.login()
        d, sent = self.call(m.StoreQueryRequest(DevID=DEV_ID))
        self.answer(sent, m.StoreQueryResponse(Result=1, DevID=DEV_ID, TotalSize=100, FreeSize=50))
        self.assertEqual(self.successResultOf(d).Result, 1)

    def test_malformed_answer(self):
        self.login()
        d, sent = self.call()
        self.link.dataReceived(Frame(sent.cmd, sent.seq, b"<nope").to_wire())
        self.failureResultOf(d, BadAnswer)

    def test_no_answer_is_a_timeout(self):
        self.login()
        d, _ = self.call()
        self.clock.advance(self.command_timeout)
        self.failureResultOf(d, CommandTimeout)
        self.assertEqual(self.link.stats.command_timeouts[0x61], 1)

    def test_link_lost_fails_pending_calls(self):
        self.login()
        d, _ = self.call()
        self.lose()
        self.failureResultOf(d, LinkLost)

    def test_answer_with_unknown_seq_is_dropped(self):
        self.login()
        d, sent = self.call()
        self.link.dataReceived(Frame(0x61, sent.seq + 1, m.GetChannelResponse(Result=0, DevID=DEV_ID).to_xml())
                               .to_wire())
        self.assertNoResult(d)
        self.assertEqual(self.link.stats.bad_frames["unknown_seq"], 1)
        self.assertOpen()

    def test_seq_wraps(self):
        self.login()
        self.link._seq = 65535
        _, first = self.call()
        _, second = self.call()
        self.assertEqual((first.seq, second.seq), (65535, 0))

    def test_seq_in_flight_is_skipped(self):
        self.login()
        _, first = self.call()
        self.link._seq = first.seq
        _, second = self.call()
        self.assertNotEqual(first.seq, second.seq)

    def test_call_before_login_fails(self):
        self.failureResultOf(self.link.call(m.RebootRequest(DevID=DEV_ID)), LinkLost)


class BackPressureTests(LinkTestCase):
    def test_reading_pauses_while_reports_pile_up(self):
        self.login()
        self.controller.hold = []
        alarms = b"".join(frame(m.AlarmNotifyRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=1), seq=n)
                          for n in range(MAX_QUEUED_REQUESTS + 5))
        self.link.dataReceived(alarms)
        self.assertEqual(self.transport.producerState, "paused")
        self.assertEqual(len(self.controller.hold), 1)  # one at a time, in order
        while self.controller.hold:
            d, answer = self.controller.hold.pop(0)
            d.callback(answer)
        self.assertEqual(self.transport.producerState, "producing")
        self.assertEqual([f.seq for f in self.sent()], list(range(MAX_QUEUED_REQUESTS + 5)))


    def test_a_request_failing_later_is_answered_255_and_the_next_go_on_in_order(self):
        self.login()
        self.controller.hold = []
        alarms = b"".join(frame(m.AlarmNotifyRequest(DevID=DEV_ID, ChannelNo=0, AlarmType=1), seq=n)
                          for n in range(1, 5))
        self.link.dataReceived(alarms)
        d, _ = self.controller.hold.pop(0)
        d.errback(RuntimeError("store down"))  # the first fails once the store answers
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        while self.controller.hold:  # the others answer later, one at a time
            d, answer = self.controller.hold.pop(0)
            d.callback(answer)
        sent = self.sent()
        self.assertEqual([(f.seq, m.decode_body(f.cmd, True, f.data).Result) for f in sent[-4:]],
                         [(1, 255), (2, 0), (3, 0), (4, 0)])
        self.assertEqual(self.link.stats.request_failures[0x37], 1)
        self.assertIsNone(self.link._queue)


class SharedDeadlinesTests(unittest.SynchronousTestCase):
    """The command timeouts of many links under one timer (CommandDeadlines)."""

    def setUp(self):
        self.clock = task.Clock()
        self.deadlines = CommandDeadlines(self.clock)
        self.links = []
        for n in range(3):
            link = DeviceLink(Controller(), self.clock, login_timeout=30, heartbeat_timeout=360, command_timeout=10,
                              deadlines=self.deadlines)
            link.makeConnection(StringTransport())
            link.dataReceived(frame(m.LoginRequest(DevVer="V1.5_20131210", DevID="8110000000%d" % n, DevKey="good")))
            link.transport.clear()
            self.links.append(link)
        self.heartbeats = set(self.clock.getDelayedCalls())  # each link's heartbeat deadline

    def commands(self):
        return [c for c in self.clock.getDelayedCalls() if c not in self.heartbeats]

    def call(self, link):
        d = link.call(m.GetWifiRequest(DevID=link.dev_id))
        [sent] = list(FrameDecoder().feed(link.transport.value()))
        link.transport.clear()
        return d, sent

    def answer(self, link, sent):
        link.dataReceived(Frame(sent.cmd, sent.seq, m.GetWifiResponse(Result=0, DevID=link.dev_id).to_xml())
                          .to_wire())

    def test_one_timer_for_all_and_none_once_every_command_is_answered(self):
        calls = [self.call(link) for link in self.links for _ in range(2)]
        self.assertEqual(len(self.commands()), 1)
        self.clock.advance(9)
        for link, (d, sent) in zip([x for x in self.links for _ in range(2)], calls):
            self.answer(link, sent)
            self.successResultOf(d)
        self.assertEqual(self.commands(), [])
        self.assertEqual(sum(sum(link.stats.command_timeouts.values()) for link in self.links), 0)

    def test_each_command_times_out_at_its_own_deadline(self):
        first, second = self.links[:2]
        d1, _ = self.call(first)
        self.clock.advance(4)
        d2, sent2 = self.call(second)
        d3, _ = self.call(second)
        self.clock.advance(5.9)
        self.assertNoResult(d1)
        self.answer(second, sent2)  # answered: never times out
        self.successResultOf(d2)
        self.clock.advance(0.1)
        self.failureResultOf(d1, CommandTimeout)
        self.clock.advance(3.9)
        self.assertNoResult(d3)
        self.clock.advance(0.1)
        self.failureResultOf(d3, CommandTimeout)
        self.assertEqual(self.commands(), [])

    def test_a_command_sent_when_another_times_out_does_not_delay_the_rest(self):
        first, second = self.links[:2]
        later = []
        d1, _ = self.call(first)
        d1.addErrback(lambda f: later.append((f, self.call(first)[0])))
        self.clock.advance(1)
        d2, _ = self.call(second)
        self.clock.advance(9)
        [(failure, d3)] = later
        failure.trap(CommandTimeout)
        self.assertNoResult(d2)
        self.clock.advance(1)
        self.failureResultOf(d2, CommandTimeout)
        self.clock.advance(9)
        self.failureResultOf(d3, CommandTimeout)
        self.assertEqual(self.commands(), [])

    def test_a_shorter_timeout_added_later_fires_first(self):
        first, second = self.links[:2]
        second.command_timeout = 2
        d1, _ = self.call(first)
        self.clock.advance(1)
        d2, _ = self.call(second)
        self.clock.advance(2)
        self.failureResultOf(d2, CommandTimeout)
        self.assertNoResult(d1)
        self.clock.advance(7)
        self.failureResultOf(d1, CommandTimeout)

    def test_lost_links_and_cancelled_calls_leave_no_timer(self):
        d1, _ = self.call(self.links[0])
        d2, _ = self.call(self.links[1])
        self.links[0].connectionLost(None)
        self.failureResultOf(d1, LinkLost)
        d2.cancel()
        self.failureResultOf(d2, defer.CancelledError)
        self.assertEqual(self.commands(), [])


class WireTimeTests(unittest.SynchronousTestCase):
    def test_the_answers_time_follows_the_clock_second_by_second(self):
        import datetime

        from kandian.device.controller import LinkController

        clock = task.Clock()
        clock.advance(1_800_000_000.25)  # 2027-01-15 08:00:00.25 UTC
        controller = LinkController(None, None, None, clock, datetime.timezone(datetime.timedelta(hours=8)))
        self.assertEqual(controller.wire_time(), "20270115160000")
        clock.advance(0.7)
        self.assertEqual(controller.wire_time(), "20270115160000")
        clock.advance(0.1)
        self.assertEqual(controller.wire_time(), "20270115160001")
        clock.advance(3600)
        self.assertEqual(controller.wire_time(), "20270115170001")
