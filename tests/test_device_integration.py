"""A device's whole life against the running platform: real TCP, real
PostgreSQL, the shipped simulator as the camera.

The platform's domain clock and the simulator's clock are two ``task.Clock``s
advanced by hand, so timeouts and the 60 s windows are exact; bytes travel
over loopback sockets on the real reactor.
"""

import socket

from twisted.internet import defer, protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol

from kandian.device import messages as m
from kandian.device.commands import DeviceCommands
from kandian.device.frame import Frame, FrameDecoder
from kandian.device.link import CommandTimeout, DeviceOffline
from kandian.sim.link import LoginRefused, connect_device
from kandian.sim.register import register
from kandian.sim.state import DeviceState
from kandian.store.devices import DeviceStore
from kandian.store.tokens import TokenStore

from .test_register import ServiceTestCase

DEV_ID = "81100000001"


def pause(seconds=0.01):
    return task.deferLater(reactor, seconds, lambda: None)


@defer.inlineCallbacks
def eventually(check, what="condition", tries=500):
    """Wait (on the real reactor) until *check()* fires truthy; for effects
    that happen after an answer was sent, such as the offline mark."""
    for _ in range(tries):
        value = yield defer.maybeDeferred(check)
        if value:
            return value
        yield pause()
    raise AssertionError("never happened: " + what)


class DeviceTestCase(ServiceTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.sim_clock = task.Clock()
        self.sim_clock.advance(self.clock.seconds())
        self.links = []

    @defer.inlineCallbacks
    def connect(self, state, login=True):
        link = yield connect_device(reactor, ("127.0.0.1", self.port("device")), state, clock=self.sim_clock)
        self.links.append(link)
        self.addCleanup(link.close)
        if login:
            yield link.logged_in()
        return link

    @defer.inlineCallbacks
    def device_row(self, *columns, dev_id=DEV_ID):
        rows = yield self.db.runQuery("SELECT %s FROM device WHERE dev_id = %%s" % ", ".join(columns), (dev_id,))
        return rows[0] if rows else None

    @defer.inlineCallbacks
    def online(self, dev_id=DEV_ID):
        row = yield self.device_row("online", dev_id=dev_id)
        return row[0]

    @defer.inlineCallbacks
    def offline(self, dev_id=DEV_ID):
        """True once the store shows the device offline; offline marks are
        batched every second of the domain clock, so time moves on each try."""
        self.clock.advance(self.service.platform.offline.interval)
        online = yield self.online(dev_id)
        return not online


class WholeLifeTests(DeviceTestCase):
    register_settings = "auto_provision = true\n"

    @defer.inlineCallbacks
    def test_register_login_ability_heartbeat_command_alarm_timeout(self):
        state = DeviceState(DEV_ID, "key-1", channel_num=2, dev_ver="V1.5_20131210")
        # registration provisions the device (auto_provision) and says where to log in
        answer = yield register(reactor, "http://127.0.0.1:%d/register" % self.port("register"), state)
        self.assertTrue(answer.ok)
        self.assertEqual(answer.link_address, ("127.0.0.1", self.port("device")))

        link = yield self.connect(state)
        self.assertTrue(self.service.platform.links.online(DEV_ID))
        row = yield eventually(lambda: self.device_row("online, dev_ver, local_ip, public_ip::text"),
                               "login recorded")
        yield eventually(lambda: self.online(), "online")
        row = yield self.device_row("online, dev_ver, local_ip, host(public_ip)")
        self.assertEqual(row, (True, "V1.5_20131210", state.addresses.LocalIP, "127.0.0.1"))

        # ability: channels and video capabilities recorded before the answer
        yield link.report_ability()
        channels = yield self.db.runQuery("SELECT channel_no FROM channel WHERE dev_id = %s ORDER BY 1", (DEV_ID,))
        self.assertEqual([c[0] for c in channels], [0, 1])
        videos = yield self.db.runQuery("SELECT stream_type FROM video_capability WHERE dev_id = %s", (DEV_ID,))
        self.assertTrue(videos)

        # a heartbeat with new addresses is recorded at once
        yield link.set_addresses(LocalIP="192.168.7.7", RtspLocalPort=8554)
        row = yield self.device_row("local_ip, rtsp_local_port")
        self.assertEqual(row, ("192.168.7.7", 8554))

        # commands from the platform reach the device and come back typed
        commands = DeviceCommands(self.service.platform.links, DEV_ID)
        yield commands.set_channel(ChannelNo=1, StreamType=2, FrameSize=4, FrameRate=15, BitRate=4)
        params = yield commands.get_channel(ChannelNo=1, StreamType=2)
        self.assertEqual((params.FrameSize, params.FrameRate, params.BitRate), (4, 15, 4))
        yield commands.ptz(ChannelNo=0, PtzDirection=3)
        self.assertIn((0x64, m.PtzRequest(DevID=DEV_ID, ChannelNo=0, PtzDirection=3)), link.commands_received)

        # an alarm is stored once per 60 s
        for _ in range(2):
            answer = yield link.send_alarm(0, 1, desc="motion")
            self.assertEqual(answer.Result, 0)
        self.clock.advance(61)
        yield link.send_alarm(0, 1, desc="motion")
        rows = yield self.db.runQuery("SELECT alarm_type, alarm_desc FROM alarm WHERE dev_id = %s", (DEV_ID,))
        self.assertEqual(rows, [(1, "motion"), (1, "motion")])

        # exceptions and pictures are stored
        answer = yield link.send_exception(12, desc="UPNP mapping failed")
        self.assertEqual(answer.Result, 0)
        yield link.send_picture(0)
        rows = yield self.db.runQuery(
            "SELECT (SELECT count(*) FROM device_exception), (SELECT count(*) FROM picture)")
        self.assertEqual(rows, [(1, 1)])

        # no heartbeat for heartbeat_timeout: the platform closes the link
        self.clock.advance(self.service.config.device.heartbeat_timeout)
        yield link.when_closed()
        yield eventually(self.offline, "offline")
        self.assertFalse(self.service.platform.links.online(DEV_ID))


class TokenTests(DeviceTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        yield DeviceStore(self.db).add(DEV_ID, "key-1", channels=2)
        self.link = yield self.connect(DeviceState(DEV_ID, "key-1", channel_num=2))
        self.tokens = TokenStore(self.db)

    def issue(self, **binding):
        return self.tokens.issue(DEV_ID, binding.pop("channel_no", 0), now=self.clock.seconds(), **binding)

    @defer.inlineCallbacks
    def test_video_token_succeeds_once(self):
        token = yield self.issue(stream_type=2)
        first = yield self.link.check_video_token(0, 2, token)
        again = yield self.link.check_video_token(0, 2, token)
        self.assertEqual((first, again), (0, 1))

    @defer.inlineCallbacks
    def test_video_token_expires_after_60_s(self):
        token = yield self.issue(stream_type=2)
        self.clock.advance(60)
        result = yield self.link.check_video_token(0, 2, token)
        self.assertEqual(result, 1)

    @defer.inlineCallbacks
    def test_values_no_token_can_carry_are_refused_not_errors(self):
        token = yield self.issue(stream_type=2)
        # values beyond the codec's bounds (ChannelNo 2**31) never reach the token check:
        # they are answered 255 (tests.test_device_limits)
        for channel, stream in [(256, 2), (0, 40000), (0, -1), (0, 2**31 - 1), (256, -2**31)]:
            result = yield self.link.check_video_token(channel, stream, token)
            self.assertEqual(result, 1, (channel, stream))
        self.assertEqual(self.flushLoggedErrors(), [])
        result = yield self.link.check_video_token(0, 2, token)
        self.assertEqual(result, 0)

    @defer.inlineCallbacks
    def test_video_token_is_bound_to_its_stream(self):
        token = yield self.issue(stream_type=2)
        for channel, stream in [(1, 2), (0, 1)]:
            result = yield self.link.check_video_token(channel, stream, token)
            self.assertEqual(result, 1)
        forged = yield self.link.check_video_token(0, 2, "0" * 32)
        self.assertEqual(forged, 1)
        result = yield self.link.check_video_token(0, 2, token)
        self.assertEqual(result, 0)

    @defer.inlineCallbacks
    def test_record_token_is_bound_to_its_file(self):
        token = yield self.issue(file_name="81100000001_0_20261118190000.ts")
        wrong = yield self.link.check_record_token(0, "81100000001_0_20261118191500.ts", token)
        right = yield self.link.check_record_token(0, "81100000001_0_20261118190000.ts", token)
        live = yield self.link.check_video_token(0, 2, token)
        self.assertEqual((wrong, right, live), (1, 0, 1))


class LinkRulesTests(DeviceTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        yield DeviceStore(self.db).add(DEV_ID, "key-1")

    @defer.inlineCallbacks
    def test_wrong_key_is_refused_and_closed(self):
        link = yield self.connect(DeviceState(DEV_ID, "guess"), login=False)
        refused = yield self.assertFailure(link.logged_in(), LoginRefused)
        self.assertEqual(refused.result, 2)
        yield link.when_closed()
        self.assertEqual(self.service.platform.link_stats.logins[2], 1)

    @defer.inlineCallbacks
    def test_unknown_device_is_refused(self):
        link = yield self.connect(DeviceState("81100000009", "k"), login=False)
        refused = yield self.assertFailure(link.logged_in(), LoginRefused)
        self.assertEqual(refused.result, 1)
        yield link.when_closed()

    @defer.inlineCallbacks
    def test_unsupported_protocol_version_is_3(self):
        link = yield self.connect(DeviceState(DEV_ID, "key-1", dev_ver="V2.0_20260101"), login=False)
        refused = yield self.assertFailure(link.logged_in(), LoginRefused)
        self.assertEqual(refused.result, 3)
        yield link.when_closed()

    @defer.inlineCallbacks
    def test_second_login_replaces_the_first(self):
        first = yield self.connect(DeviceState(DEV_ID, "key-1"))
        second = yield self.connect(DeviceState(DEV_ID, "key-1"))
        yield first.when_closed()
        self.assertTrue(second.is_logged_in)
        yield pause(0.1)
        online = yield self.online()
        self.assertTrue(online)
        answer = yield DeviceCommands(self.service.platform.links, DEV_ID).get_wifi()
        self.assertEqual(answer.Result, 0)

    @defer.inlineCallbacks
    def test_closing_marks_offline(self):
        link = yield self.connect(DeviceState(DEV_ID, "key-1"))
        yield eventually(self.online, "online")
        link.close()
        yield eventually(self.offline, "offline")

    @defer.inlineCallbacks
    def test_commands_to_an_offline_device_fail_typed(self):
        yield self.assertFailure(DeviceCommands(self.service.platform.links, DEV_ID).reboot(), DeviceOffline)

    @defer.inlineCallbacks
    def test_a_device_that_does_not_answer_times_out(self):
        raw = yield RawDevice.connect(self.port("device"))
        raw.send(m.LoginRequest(DevVer="V1.5", DevID=DEV_ID, DevKey="key-1"))
        yield eventually(lambda: self.service.platform.links.online(DEV_ID), "logged in")
        d = DeviceCommands(self.service.platform.links, DEV_ID).reboot()
        yield eventually(lambda: any(f.cmd == 0x6C for f in raw.frames), "REBOOT_REQ sent")
        self.clock.advance(self.service.config.device.command_timeout)
        yield self.assertFailure(d, CommandTimeout)
        raw.transport.loseConnection()

    @defer.inlineCallbacks
    def test_upnp_reachability_is_probed(self):
        listening = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            protocol.Factory.forProtocol(protocol.Protocol))
        self.addCleanup(listening.stopListening)
        open_port = listening.getHost().port
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed_port = s.getsockname()[1]
        link = yield self.connect(DeviceState(DEV_ID, "key-1"))
        yield link.set_addresses(UpnpIP="127.0.0.1", RtspUpnpPort=open_port)
        yield eventually(lambda: self.device_row("upnp_reachable").addCallback(lambda r: r[0] is True),
                         "UPnP reachable")
        yield link.set_addresses(UpnpIP="127.0.0.1", RtspUpnpPort=closed_port)
        yield eventually(lambda: self.device_row("upnp_reachable").addCallback(lambda r: r[0] is False),
                         "UPnP unreachable")


class WriteOrderTests(DeviceTestCase):
    @defer.inlineCallbacks
    def test_a_heartbeat_with_new_addresses_lands_after_the_login_row(self):
        """The login row and a heartbeat's addresses write the same columns:
        however late the login's write is, the heartbeat's must not be overtaken."""
        yield DeviceStore(self.db).add(DEV_ID, "key-1")
        store = self.service.platform.link_store
        real, held = store.logged_in, []

        def slow_logged_in(*args, **kw):
            release = defer.Deferred()
            held.append(release)
            return release.addCallback(lambda _: real(*args, **kw))

        store.logged_in = slow_logged_in
        self.addCleanup(setattr, store, "logged_in", real)
        link = yield self.connect(DeviceState(DEV_ID, "key-1"))
        self.assertEqual(len(held), 1)
        answered = link.set_addresses(LocalIP="192.168.7.7", RtspLocalPort=8554)
        yield pause(0.2)
        self.assertFalse(answered.called)  # the heartbeat waits for the login row
        held[0].callback(None)
        yield answered
        row = yield self.device_row("online", "local_ip", "rtsp_local_port")
        self.assertEqual(row, (True, "192.168.7.7", 8554))


class BadInputTests(DeviceTestCase):
    """Bad bytes on one link never disturb another."""

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        yield DeviceStore(self.db).add(DEV_ID, "key-1")
        yield DeviceStore(self.db).add("81100000002", "key-2")
        self.good = yield self.connect(DeviceState(DEV_ID, "key-1"))

    @defer.inlineCallbacks
    def assertGoodLinkUnharmed(self):
        answer = yield self.good.heartbeat_now()
        self.assertEqual(answer.DevID, DEV_ID)
        answer = yield DeviceCommands(self.service.platform.links, DEV_ID).get_wifi()
        self.assertEqual(answer.Result, 0)

    @defer.inlineCallbacks
    def test_garbage_before_login(self):
        raw = yield RawDevice.connect(self.port("device"))
        raw.transport.write(b"GET / HTTP/1.1\r\n\r\n")
        yield raw.closed
        yield self.assertGoodLinkUnharmed()

    @defer.inlineCallbacks
    def test_bad_digest_slow_sender_and_xxe_after_login(self):
        raw = yield RawDevice.connect(self.port("device"))
        raw.send(m.LoginRequest(DevVer="V1.5", DevID="81100000002", DevKey="key-2"))
        yield eventually(lambda: raw.frames, "login answered")
        bad = bytearray(Frame(0x33, 1, m.HeartbeatRequest(DevID="81100000002").to_xml()).to_wire())
        bad[-1] ^= 1
        raw.transport.write(bytes(bad))
        xxe = (b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
               b"<ALARM_NOTIFY_REQ><DevID>81100000002</DevID><ChannelNo>0</ChannelNo>"
               b"<AlarmType>1</AlarmType><AlarmDesc>&e;</AlarmDesc></ALARM_NOTIFY_REQ>")
        raw.transport.write(Frame(0x37, 2, xxe).to_wire())
        yield eventually(lambda: len(raw.frames) == 2, "XXE answered")
        answer = m.decode_body(0x37, True, raw.frames[1].data)
        self.assertEqual(answer.Result, 255)
        half = Frame(0x33, 3, m.HeartbeatRequest(DevID="81100000002").to_xml()).to_wire()
        raw.transport.write(half[:20])  # a slow sender: the rest never comes
        yield self.assertGoodLinkUnharmed()
        stats = self.service.platform.link_stats
        self.assertEqual((stats.bad_frames["digest"], stats.bad_frames["malformed"]), (1, 1))
        rows = yield self.db.runQuery("SELECT count(*) FROM alarm")
        self.assertEqual(rows, [(0,)])
        raw.transport.loseConnection()

    @defer.inlineCallbacks
    def test_out_of_sync_closes_only_that_link(self):
        raw = yield RawDevice.connect(self.port("device"))
        raw.send(m.LoginRequest(DevVer="V1.5", DevID="81100000002", DevKey="key-2"))
        yield eventually(lambda: raw.frames, "login answered")
        raw.transport.write(b"\xfa\xf6" + b"\x00" * 30)
        yield raw.closed
        yield self.assertGoodLinkUnharmed()


class RawDevice(protocol.Protocol):
    """A device made of bare frames, for what a well-behaved simulator won't send."""

    def __init__(self):
        self.decoder = FrameDecoder()
        self.frames = []
        self.closed = defer.Deferred()
        self.seq = 0

    @classmethod
    def connect(cls, port):
        return connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), cls())

    def send(self, message):
        self.transport.write(Frame(message.CMD, self.seq, message.to_xml()).to_wire())
        self.seq += 1

    def dataReceived(self, data):
        self.frames.extend(self.decoder.feed(data))

    def connectionLost(self, reason):
        self.closed.callback(None)
