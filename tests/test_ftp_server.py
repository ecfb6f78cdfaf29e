"""The FTP protocol interpreter, its data connections and passive ports, without sockets.

StringTransport for the control and data connections, MemoryReactorClock for
the timers and the passive listeners, the core over FakeStore; uploads go to
a real temporary directory (the blocking flush runs inline).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from zoneinfo import ZoneInfo

from twisted.internet import defer, error
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.protocols import ftp
from twisted.python import failure
from twisted.trial import unittest
from zope.interface import implementer

from kandian import ftp as kftp
from kandian.core.files import Files, Layout, format_picture_name
from kandian.core.keys import Keys
from kandian.ftp import shell
from kandian.ftp.data import DataChannel, PassiveFactory, PassivePorts
from kandian.ftp.results import NoPassivePort, TransferAborted
from kandian.store.fake import FakeStore
from kandian.throttle import FailureThrottle

TZ = ZoneInfo("Asia/Shanghai")
DEV, OTHER = "81100000001", "81100000002"
PEER = "198.51.100.7"
NOW = 1_800_000_000
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
PIC = format_picture_name(DEV, 0, NOW, TZ)


class Transport(StringTransport):
    """A connection whose close reaches its protocol, as a socket's does (a
    close or an abort one reactor turn later; a close is clean)."""

    def __init__(self, reactor, host, peer):
        super().__init__(hostAddress=host, peerAddress=peer)
        self.reactor = reactor
        self.connected = True

    def loseConnection(self):
        self._end(error.ConnectionDone())

    def abortConnection(self):
        self.aborted = True
        self._end(error.ConnectionAborted())

    def _end(self, why):
        if self.connected:
            self.connected = False
            self.disconnecting = True
            producer, self.producer = self.producer, None
            if producer is not None:
                producer.stopProducing()
            self.reactor.callLater(0, self.protocol.connectionLost, failure.Failure(why))


class FtpTestCase(unittest.TestCase):
    public_host = "203.0.113.10"
    passive_ports = range(40000, 40003)
    max_file_size = 64 * 1024
    quota = 1024 * 1024
    max_sessions = 2

    def setUp(self):
        self.reactor = MemoryReactorClock()
        self.reactor.advance(NOW)
        self.store = FakeStore()
        for dev_id in (DEV, OTHER):
            self.successResultOf(self.store.devices.add(dev_id, "key"))
        self.keys = Keys(self.store.secrets)
        self.successResultOf(self.keys.load())
        self.layout = Layout(self.mktemp())
        self.layout.prepare(time.time())
        self.throttle = FailureThrottle(self.reactor.seconds, per_address=30, per_account=5, window=900)
        self.files = Files(self.store, self.keys, self.reactor, self.layout, address=lambda: (self.public_host, 2121),
                           throttle=self.throttle, max_file_size=self.max_file_size, quota=self.quota, timezone=TZ)
        self.downloaded = []
        self.logs = []
        self.image = None
        self.factory = kftp.factory(
            self.files, self.layout, reactor=self.reactor, clock=self.reactor, timezone=TZ,
            public_host=self.public_host, passive_ports=self.passive_ports, idle_timeout=120, data_timeout=30,
            max_sessions=self.max_sessions, threads=False,
            firmware_for=lambda dev_id: self.image,
            firmware_downloaded=lambda dev_id, name: self.downloaded.append((dev_id, name)),
            log_stored=lambda *args: self.logs.append(args))

    def connect(self, peer=PEER):
        p = self.factory.buildProtocol(IPv4Address("TCP", peer, 5000))
        t = Transport(self.reactor, IPv4Address("TCP", "10.0.0.5", 2121), IPv4Address("TCP", peer, 5000))
        p.makeConnection(t)
        t.protocol = p
        return Control(self, p, t)

    def login(self, dev_id=DEV, peer=PEER):
        c = self.connect(peer)
        c.read()
        self.assertEqual(c.send("USER " + dev_id), ["331 Password required for %s." % dev_id])
        self.assertEqual(c.send("PASS " + self.keys.ftp_password(dev_id)), ["230 User logged in, proceed"])
        return c

    def listening(self, answer: str):
        """The port number a 227/229 answer names, and the factory listening there."""
        if answer.startswith("227 "):
            fields = answer.split("(")[1].split(")")[0].split(",")
            number = int(fields[4]) * 256 + int(fields[5])
        else:
            number = int(answer.split("|||")[1].split("|")[0])
        [factory] = [f for port, f, _, _ in self.reactor.tcpServers if port == number][-1:]
        return number, factory

    def files_under(self, *parts):
        top = os.path.join(self.layout.root, *parts)
        return sorted(os.path.relpath(os.path.join(d, f), self.layout.root) for d, _, fs in os.walk(top) for f in fs)


class Control:
    def __init__(self, case, protocol, transport):
        self.case = case
        self.protocol = protocol
        self.transport = transport

    def read(self) -> list[str]:
        text = self.transport.value().decode("latin-1")
        self.transport.clear()
        return text.splitlines()

    def send(self, line: str) -> list[str]:
        self.protocol.dataReceived(line.encode("latin-1") + b"\r\n")
        self.case.reactor.advance(0)
        return self.read()

    @property
    def closed(self) -> bool:
        return not self.transport.connected

    def passive(self, command="EPSV", peer=PEER):
        """PASV or EPSV, then the data connection from *peer*: its DataChannel."""
        [answer] = self.send(command)
        self.case.assertTrue(answer.startswith(("227 ", "229 ")), answer)
        port, factory = self.case.listening(answer)
        channel = factory.buildProtocol(IPv4Address("TCP", peer, 6000))
        if channel is None:
            return None
        t = Transport(self.case.reactor, IPv4Address("TCP", "10.0.0.5", port), IPv4Address("TCP", peer, 6000))
        channel.makeConnection(t)
        t.protocol = channel
        self.case.reactor.advance(0)
        return channel

    def store(self, path: str, data: bytes, end=error.ConnectionDone, command="EPSV") -> list[str]:
        channel = self.passive(command)
        replies = self.send("STOR " + path)
        for i in range(0, len(data), 4096):
            if not channel.transport.connected:
                break
            channel.dataReceived(data[i:i + 4096])
        channel.transport._end(end())
        self.case.reactor.advance(0)
        self.case.reactor.advance(0)
        return replies + self.read()


class SendNowTests(unittest.TestCase):
    """kandian.sendnow on a real TCP connection: straight to the socket only with nothing queued ahead."""

    @defer.inlineCallbacks
    def test_straight_to_the_socket_or_behind_what_is_queued(self):
        from twisted.internet import protocol, reactor

        from kandian.sendnow import direct_socket, send_now

        got = defer.Deferred()
        accepted = defer.Deferred()

        class Reader(protocol.Protocol):
            data = b""

            def dataReceived(self, data):
                self.data += data
                if self.data.endswith(b"."):
                    got.callback(self.data)

        class Server(protocol.ServerFactory):
            def buildProtocol(self, addr):
                p = protocol.Protocol()
                accepted.callback(p)
                return p

        port = reactor.listenTCP(0, Server(), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        reader = Reader()
        yield protocol.ClientCreator(reactor, lambda: reader).connectTCP("127.0.0.1", port.getHost().port)
        p = yield accepted
        t = p.transport
        self.addCleanup(t.abortConnection)
        sock = direct_socket(t)
        self.assertIs(sock, t.socket)
        send_now(t, sock, b"a")  # nothing queued: sent, nothing left to write
        self.assertEqual((t._tempDataBuffer, t.dataBuffer), ([], b""))
        self.assertNotIn(t, reactor.getWriters())
        t.write(b"b")  # queued by Twisted …
        send_now(t, sock, b"c")  # … so this goes behind it
        self.assertEqual(t._tempDataBuffer, [b"b", b"c"])
        send_now(t, sock, b".")
        self.assertEqual((yield got), b"abc.")


    def test_any_other_transport_is_written_to(self):
        from twisted.internet.testing import StringTransport

        from kandian.sendnow import direct_socket, send_now

        t = StringTransport()
        self.assertIsNone(direct_socket(t))
        send_now(t, None, b"220 ok\r\n")
        self.assertEqual(t.value(), b"220 ok\r\n")


class StockTwistedTests(unittest.TestCase):
    """Why ``reply`` is overridden: Twisted's STOR answers a shell's 553 with nothing."""

    def test_stock_ftp_never_answers_a_553(self):
        @implementer(ftp.IFTPShell)
        class Refusing:
            def openForWriting(self, path):
                e = ftp.FTPCmdError()
                e.errorCode = ftp.FILENAME_NOT_ALLOWED
                return defer.fail(e)

        server = ftp.FTP()
        server.factory = ftp.FTPFactory()
        t = StringTransport()
        server.makeConnection(t)
        server.shell, server.state, server.workingDirectory = Refusing(), server.AUTHED, []
        server.dtpInstance = object()
        t.clear()
        # what FTP.lineReceived does with the result: reply(*result), which raises
        result = self.successResultOf(server.processCommand("STOR", "bad.jpg"))
        self.assertEqual(result, (ftp.FILENAME_NOT_ALLOWED, "bad.jpg"))
        self.assertRaises(TypeError, server.reply, *result)
        self.assertEqual(t.value(), b"")  # so the client is never answered
        server.setTimeout(None)


class LoginTests(FtpTestCase):
    def test_greeting_and_commands_before_login(self):
        c = self.connect()
        self.assertEqual(c.read(), ["220 kandian FTP ready"])
        self.assertEqual(c.send("PASV"), ["530 Please login with USER and PASS."])
        self.assertEqual(c.send("FEAT")[:2], ["211-Features:", " EPSV"])
        self.assertEqual(c.send("PASS x"), ["503 Incorrect sequence of commands: USER required before PASS"])

    def test_anonymous_is_530(self):
        c = self.connect()
        c.read()
        for user in ("anonymous", "FTP"):
            self.assertEqual(c.send("USER " + user), ["530 Anonymous login is not allowed."])
        self.assertEqual(self.factory.stats.logins["anonymous"], 2)

    def test_wrong_password_530_and_the_third_closes(self):
        c = self.connect()
        c.read()
        for n in range(3):
            c.send("USER " + DEV)
            self.assertEqual(c.send("PASS nope"), ["530 Login incorrect."])
            self.assertEqual(c.closed, n == 2)
        self.assertEqual(self.factory.stats.logins["wrong_password"], 3)

    def test_throttled_even_with_the_right_password(self):
        for _ in range(2):
            c = self.connect()
            for _ in range(3):
                c.send("USER " + DEV)
                c.send("PASS nope")
        c = self.connect()
        c.read()
        c.send("USER " + DEV)
        self.assertEqual(c.send("PASS " + self.keys.ftp_password(DEV)),
                         ["530 Too many failed logins: retry in 900 s."])
        self.assertTrue(c.closed)
        self.login(peer="198.51.100.8")  # not from another address
        self.reactor.advance(900)
        self.login()

    def test_another_devices_password_is_wrong(self):
        c = self.connect()
        c.read()
        c.send("USER " + DEV)
        self.assertEqual(c.send("PASS " + self.keys.ftp_password(OTHER)), ["530 Login incorrect."])

    def test_sessions_per_device_capped_421(self):
        first, second = self.login(), self.login()
        c = self.connect()
        c.read()
        c.send("USER " + DEV)
        self.assertEqual(c.send("PASS " + self.keys.ftp_password(DEV)),
                         ["421 Too many connections for this device, closing control connection."])
        self.assertTrue(c.closed)
        self.login(OTHER)
        self.assertEqual(self.factory.realm.open_sessions(), 3)
        first.send("QUIT")
        self.reactor.advance(0)
        self.assertTrue(first.closed)
        self.login()
        second.transport.loseConnection()
        self.reactor.advance(0)
        self.assertEqual(self.factory.realm.open_sessions(), 2)

    def test_login_deadline_and_idle_timeout(self):
        c = self.connect()
        c.read()
        replies = []
        for _ in range(12):
            self.reactor.advance(10)
            if c.closed:
                break
            replies += c.send("NOOP")  # activity does not buy time before login
        self.assertEqual(self.reactor.seconds(), NOW + 120)
        self.assertEqual(c.read(), ["421 Login timeout, closing control connection."])
        self.assertEqual(replies, ["530 Please login with USER and PASS."] * 11)
        c = self.login()
        self.reactor.advance(119)
        self.assertFalse(c.closed)
        self.reactor.advance(1)
        self.assertEqual(c.read(), ["421 Idle timeout, closing control connection."])
        self.reactor.advance(0)
        self.assertTrue(c.closed)
        self.assertEqual(self.factory.realm.open_sessions(), 0)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_a_long_line_closes(self):
        c = self.connect()
        c.read()
        c.protocol.dataReceived(b"USER " + b"x" * 5000)
        self.assertEqual(c.read(), ["500 Command line too long."])
        self.assertTrue(c.closed)

    def test_answered_in_order_at_once_or_later(self):
        c = self.login()
        later = defer.Deferred()
        c.protocol.ftp_NOOP = lambda: later
        c.protocol.ftp_SITE = lambda arg: 1 / 0
        c.protocol.ftp_HELP = lambda *args: defer.fail(ZeroDivisionError())
        # several lines in one read: one answered later holds back those after it
        c.protocol.dataReceived(b"PWD\r\nNOOP\r\nPWD\r\nTYPE I\r\n")
        self.assertEqual(c.read(), ['257 "/"'])
        self.assertEqual(c.transport.producerState, "paused")
        later.callback((ftp.CMD_OK,))
        self.assertEqual(c.read(), ["200 Command OK", '257 "/"', "200 Type set to I."])
        self.assertEqual(c.transport.producerState, "producing")
        # a missing argument, and the unexpected (raised, or a failed Deferred): answered, counted, logged
        self.assertEqual(c.send("SITE"), ["500 Syntax error: SITE requires an argument."])
        self.assertEqual(c.send("SITE x"), ["451 Requested action aborted: local error in processing."])
        self.assertEqual(c.send("HELP"), ["451 Requested action aborted: local error in processing."])
        self.assertEqual(self.factory.stats.internal_errors, 2)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 2)
        self.assertEqual(c.send("PWD"), ['257 "/"'])

    def test_a_flood_of_commands_is_answered_a_few_at_a_time(self):
        """Answered at once, but no more than lines_at_once in one turn of the reactor (the others' turn)."""
        c = self.connect()
        c.read()
        c.protocol.dataReceived(b"NOOP\r\n" * 40)
        self.assertEqual(len(c.read()), 16)
        self.assertEqual(c.transport.producerState, "paused")
        self.reactor.advance(0)  # (the test clock runs the next turn's call in the same advance too)
        self.assertEqual(c.read(), ["530 Please login with USER and PASS."] * 24)
        self.assertEqual(c.transport.producerState, "producing")


class ViewTests(FtpTestCase):
    def test_listing_and_cwd(self):
        c = self.login()
        channel = c.passive()
        replies = c.send("LIST")
        self.assertEqual(replies, ["125 Data connection already open, starting transfer",
                                   "226 Transfer Complete."])
        names = [line.split()[-1] for line in channel.transport.value().decode().splitlines()]
        self.assertEqual(names, ["pictures", "logs", "firmware"])
        self.assertEqual(c.send("CWD pictures"), ["250 Requested File Action Completed OK"])
        self.assertEqual(c.send("PWD"), ['257 "/pictures"'])
        self.assertEqual(c.send("CWD /%s" % OTHER), ["550 %s: Permission denied." % OTHER])
        self.assertEqual(c.send("CWD ../.."), ["550 ../..: No such file or directory."])
        for command in ("MKD x", "DELE x", "RMD x"):
            self.assertTrue(c.send(command)[0].startswith("550 "), command)
        c.send("RNFR x")
        self.assertTrue(c.send("RNTO y")[0].startswith("550 "))

    def test_active_mode_refused(self):
        c = self.login()
        self.assertEqual(c.send("PORT 127,0,0,1,200,10"),
                         ["502 Active mode (PORT, EPRT) is not offered: use PASV or EPSV."])
        self.assertEqual(c.send("EPRT |1|127.0.0.1|51210|"),
                         ["502 Active mode (PORT, EPRT) is not offered: use PASV or EPSV."])
        self.assertEqual(self.reactor.tcpClients, [])

    def test_pasv_advertises_the_public_host_and_binds_the_local_address(self):
        c = self.login()
        self.assertEqual(c.send("PASV"), ["227 Entering Passive Mode (203,0,113,10,156,64)."])
        port, _, _, interface = self.reactor.tcpServers[-1]
        self.assertEqual((port, interface), (40000, "10.0.0.5"))
        # the next command waits for the data connection (as Twisted's FTP does), or its timeout
        self.assertEqual(c.send("EPSV"), [])
        self.reactor.advance(30)
        self.reactor.advance(0)
        self.assertEqual(c.read(), ["229 Entering Extended Passive Mode (|||40000|)."])
        self.reactor.advance(30)
        self.reactor.advance(0)
        self.assertEqual(c.send("EPSV ALL"), ["200 EPSV ALL OK"])
        self.assertEqual(c.send("PASV"), ["503 Incorrect sequence of commands: may not send PASV after EPSV ALL"])

    def test_a_data_connection_from_another_address_is_refused(self):
        c = self.login()
        self.assertIsNone(c.passive("PASV", peer="198.51.100.99"))
        self.assertEqual(self.factory.stats.foreign_data, 1)
        # the session's own connection is still awaited …
        _, factory = self.reactor.tcpServers[-1][:2]
        self.assertIsInstance(factory.buildProtocol(IPv4Address("TCP", PEER, 6001)), DataChannel)
        # … and once it came, the port listens for nobody until the next PASV
        self.assertIsNone(factory.buildProtocol(IPv4Address("TCP", PEER, 6002)))

    def test_no_data_connection_within_the_timeout(self):
        c = self.login()
        [answer] = c.send("EPSV")
        _, factory = self.listening(answer)
        self.reactor.advance(30)
        self.assertEqual(c.send("STOR " + PIC), ["425 Can't open data connection: use PASV or EPSV first."])
        self.assertIsNone(factory.buildProtocol(IPv4Address("TCP", PEER, 6001)))  # too late: refused
        # the port was given back, still open: the next PASV has it
        self.assertEqual(c.send("EPSV"), ["229 Entering Extended Passive Mode (|||40000|)."])
        self.assertEqual(len(self.reactor.tcpServers), 1)

    def test_the_passive_ports_close_with_the_listener(self):
        waiting, c = self.login(), self.login(OTHER)
        self.assertEqual(waiting.send("EPSV"), ["229 Entering Extended Passive Mode (|||40000|)."])  # held
        self.assertEqual(c.store("/logs/a.log", b"x")[-1], "226 Transfer Complete.")  # 40001, kept open
        self.assertEqual(self.factory.ports.held, {40000, 40001})
        self.factory.doStart()
        self.factory.doStop()
        self.assertEqual(self.factory.ports.held, {40000})
        waiting.transport.loseConnection()
        self.reactor.advance(0)
        self.assertEqual(self.factory.ports.held, set())


class UploadTests(FtpTestCase):
    def test_an_upload_not_recorded_is_not_kept(self):
        """On disk but its record failed: removed (the device, with no 226, sends it again)."""
        from kandian.store.pool import DatabaseUnavailable

        self.patch(self.files.records, "write_many", lambda uploads: defer.fail(DatabaseUnavailable()))
        c = self.login()
        self.assertEqual(c.store("/pictures/" + PIC, JPEG)[-1],
                         "421 Service not available, closing control connection.")
        self.assertEqual(self.files_under(), [])
        self.assertEqual(self.factory.realm.used.get(DEV, 0), 0)

    def test_a_picture_is_stored_whole_and_recorded(self):
        c = self.login()
        replies = c.store("/pictures/" + PIC, JPEG)
        self.assertEqual(replies, ["125 Data connection already open, starting transfer", "226 Transfer Complete."])
        self.assertEqual(self.files_under(), ["pictures/%s/%s" % (DEV, PIC)])
        with open(os.path.join(self.layout.root, "pictures", DEV, PIC), "rb") as f:
            self.assertEqual(f.read(), JPEG)
        self.assertEqual(self.store.files.device_file[DEV, "pictures", PIC][:2],
                         (len(JPEG), hashlib.sha256(JPEG).hexdigest()))
        self.assertEqual(self.factory.stats.transfers["in", "pictures", "ok"], 1)
        self.assertEqual(self.factory.stats.bytes_in, len(JPEG))

    def test_both_passive_commands_and_the_root(self):
        c = self.login()
        self.assertEqual(c.store(PIC, JPEG, command="PASV")[-1], "226 Transfer Complete.")
        self.assertEqual(c.store("/logs/boot.log", b"booted\n")[-1], "226 Transfer Complete.")
        self.assertEqual(c.store("dmesg.txt", b"x")[-1], "226 Transfer Complete.")
        self.assertEqual(self.files_under(), ["logs/%s/boot.log" % DEV, "logs/%s/dmesg.txt" % DEV,
                                              "pictures/%s/%s" % (DEV, PIC)])
        self.assertEqual([args[:3] for args in self.logs], [(DEV, "boot.log", 7), (DEV, "dmesg.txt", 1)])

    def test_refusals(self):
        c = self.login()
        other = format_picture_name(OTHER, 0, NOW, TZ)
        cases = [
            ("/pictures/x.jpg", "553 Requested action not taken, file name not allowed:"
                                " not DevID_ChannelNo_YYYYMMDDHHMMSS.jpg."),
            ("/pictures/" + other, "553 Requested action not taken, file name not allowed: a picture of %s is"
                                   " named %s_...." % (OTHER, DEV)),
            ("/pictures/%s/%s" % (OTHER, other), "550 pictures/%s/%s: Permission denied." % (OTHER, other)),
            ("../../etc/passwd", "550 ../../etc/passwd: Permission denied."),
            ("/firmware/fw.bin", "550 firmware/fw.bin: Permission denied."),
        ]
        for path, answer in cases:
            channel = c.passive()
            self.assertEqual(c.send("STOR " + path), [answer], path)
            self.reactor.advance(0)
            self.assertFalse(channel.isConnected)  # aborted, not left open
        self.assertEqual(self.files_under(), [])

    def test_an_interrupted_upload_leaves_nothing(self):
        c = self.login()
        replies = c.store("/pictures/" + PIC, JPEG[:1000], end=error.ConnectionLost)
        self.assertEqual(replies[-1], "426 Connection closed; transfer aborted.")
        self.assertEqual(self.files_under(), [])
        self.assertEqual(self.store.files.device_file, {})

    def test_a_picture_cut_short_with_an_orderly_close_is_refused(self):
        c = self.login()
        self.assertEqual(c.store("/pictures/" + PIC, JPEG[:1000])[-1],
                         "426 Connection closed; transfer aborted: the picture is incomplete.")
        self.assertEqual(c.store("/pictures/" + PIC, b"GIF89a")[-1],
                         "550 Requested action not taken, not a JPEG picture.")
        self.assertEqual(c.store("/pictures/" + PIC, JPEG + b"\x00" * 10)[-1], "226 Transfer Complete.")
        self.assertEqual(self.files_under("tmp"), [])

    def test_a_stalled_upload_is_aborted_after_the_data_timeout(self):
        c = self.login()
        channel = c.passive()
        c.send("STOR /pictures/" + PIC)
        channel.dataReceived(JPEG[:100])
        self.reactor.advance(29)
        self.assertTrue(channel.isConnected)
        [upload] = self.factory.realm.uploads_of(DEV)
        self.assertEqual((upload.size, self.files_under()), (100, []))  # under way, in memory
        self.reactor.advance(1)
        self.reactor.advance(0)
        self.assertEqual(c.read(), ["426 Connection closed; transfer aborted."])
        self.assertEqual(self.files_under(), [])
        self.assertEqual(c.send("NOOP"), ["200 Command OK"])  # the session goes on

    def test_the_session_ending_mid_upload_leaves_nothing(self):
        c = self.login()
        channel = c.passive()
        c.send("STOR /pictures/" + PIC)
        channel.dataReceived(JPEG[:100])
        c.transport.loseConnection()
        self.reactor.advance(0)
        self.reactor.advance(0)
        self.assertFalse(channel.isConnected)
        self.assertEqual(self.files_under(), [])
        self.assertEqual(self.factory.realm.open_sessions(), 0)

    def full_disk(self):
        import errno

        class Full:
            def __init__(self, f):
                self.f = f

            def write(self, data):
                raise OSError(errno.ENOSPC, "No space left on device")

            writelines = write

            def __getattr__(self, name):
                return getattr(self.f, name)

        create = shell._create
        self.patch(shell, "_create", lambda tmp: Full(create(tmp)))

        def writev(fd, buffers):  # an upload held in memory is written out by writev
            raise OSError(errno.ENOSPC, "No space left on device")
        self.patch(os, "writev", writev)

    def test_a_full_disk_is_452_and_leaves_nothing(self):
        """Written out when whole (held in memory till then): the disk full then."""
        c = self.login()
        self.full_disk()
        self.assertEqual(c.store("/logs/a.log", b"x")[-1],
                         "452 Requested action not taken: insufficient storage space, try again later.")
        self.assertEqual(self.files_under(), [])
        self.assertEqual(self.factory.stats.transfers["in", "logs", "no_space"], 1)

    def test_a_large_upload_goes_to_a_temporary_file_as_it_arrives(self):
        self.patch(shell, "IN_MEMORY", 1000)
        c = self.login()
        channel = c.passive()
        c.send("STOR /logs/big.log")
        [upload] = self.factory.realm.uploads_of(DEV)
        channel.dataReceived(b"x" * 1000)
        self.assertEqual(self.files_under(), [])  # held in memory
        channel.dataReceived(b"y" * 10)
        self.assertEqual(self.files_under(), [os.path.relpath(upload.tmp, self.layout.root)])
        self.assertTrue(upload.tmp.startswith(self.layout.tmp + os.sep))
        channel.dataReceived(b"z" * 10)
        channel.connectionLost(failure.Failure(error.ConnectionDone()))
        self.reactor.advance(0)
        self.assertEqual(c.read(), ["226 Transfer Complete."])
        self.assertEqual(self.files_under(), ["logs/%s/big.log" % DEV])
        whole = b"x" * 1000 + b"y" * 10 + b"z" * 10
        with open(self.layout.log(DEV, "big.log"), "rb") as f:
            self.assertEqual(f.read(), whole)
        self.assertEqual(self.store.files.device_file[DEV, "logs", "big.log"][:2],
                         (len(whole), hashlib.sha256(whole).hexdigest()))

    def test_a_full_disk_under_a_large_upload_is_452_and_leaves_nothing(self):
        self.patch(shell, "IN_MEMORY", 1000)
        self.full_disk()
        c = self.login()
        self.assertEqual(c.store("/logs/big.log", b"x" * 5000)[-1],
                         "452 Requested action not taken: insufficient storage space, try again later.")
        self.assertEqual(self.files_under(), [])

    def test_over_the_file_cap_552(self):
        c = self.login()
        replies = c.store("/logs/big.log", b"x" * (self.max_file_size + 1))
        self.assertEqual(replies[-1], "552 Requested file action aborted, exceeded the per-file size cap.")
        self.assertEqual(self.files_under(), [])
        self.assertEqual(c.store("/logs/big.log", b"x" * self.max_file_size)[-1], "226 Transfer Complete.")


class LandingTests(unittest.TestCase):
    """shell.land on a real directory: what is flushed, in which order."""

    def setUp(self):
        self.layout = Layout(self.mktemp())
        self.layout.prepare(time.time())
        self.calls = []
        fsync, replace = os.fsync, os.replace

        def recorded_fsync(fd):
            self.calls.append(("fsync", os.readlink("/proc/self/fd/%d" % fd)))
            fsync(fd)

        def recorded_replace(a, b):
            replace(a, b)
            self.calls.append(("replace", b))
        self.patch(os, "fsync", recorded_fsync)
        self.patch(os, "replace", recorded_replace)

    def landing(self, dev_id, name, data):
        tmp = os.path.join(self.layout.tmp, "%s-%s.part" % (dev_id, name))
        return shell.Landing(data if isinstance(data, list) else [data], None, tmp, self.layout.picture(dev_id, name))

    def assertLanded(self, landing, data):
        with open(landing.final, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(landing.sha256.hexdigest(), hashlib.sha256(data).hexdigest())
        self.assertFalse(os.path.exists(landing.tmp))

    def test_flushed_then_named_then_its_directory_flushed(self):
        os.makedirs(self.layout.area("pictures", DEV))
        landing = self.landing(DEV, PIC, JPEG)
        shell.land(landing)
        self.assertLanded(landing, JPEG)
        # the file's bytes on disk before its name, its name before its directory is flushed
        self.assertEqual(self.calls, [("fsync", landing.tmp), ("replace", landing.final),
                                      ("fsync", self.layout.area("pictures", DEV))])

    def test_a_devices_first_file_flushes_the_directory_it_made_too(self):
        landing = self.landing(OTHER, "b.jpg", b"b" * 5000)
        shell.land(landing)
        self.assertLanded(landing, b"b" * 5000)
        self.assertEqual(self.calls, [("fsync", landing.tmp), ("replace", landing.final),
                                      ("fsync", self.layout.area("pictures", OTHER)),
                                      ("fsync", os.path.join(self.layout.root, "pictures"))])

    def test_one_that_fails_leaves_nothing(self):
        landing = self.landing(DEV, PIC, JPEG)
        landing.tmp = os.path.join(self.layout.tmp, "no", "such", "dir.part")
        self.assertRaises(FileNotFoundError, shell.land, landing)
        self.assertFalse(os.path.exists(landing.final))

    def test_a_directory_that_cannot_be_flushed_takes_the_file_back(self):
        """Its name could be lost in a crash: not stored, so nothing is left (the device sends it again)."""
        os.makedirs(self.layout.area("pictures", DEV))
        landing = self.landing(DEV, PIC, JPEG)
        fsync = os.fsync

        def failing(fd):
            if os.path.isdir("/proc/self/fd/%d" % fd):
                raise OSError(5, "Input/output error")
            fsync(fd)
        self.patch(os, "fsync", failing)
        self.assertRaises(OSError, shell.land, landing)
        self.assertEqual(os.listdir(self.layout.area("pictures", DEV)), [])
        self.assertEqual(os.listdir(self.layout.tmp), [])

    def test_without_fsync_nothing_is_flushed(self):
        landing = self.landing(DEV, PIC, JPEG)
        shell.land(landing, fsync=False)
        self.assertEqual([kind for kind, _ in self.calls], ["replace"])
        self.assertLanded(landing, JPEG)

    def test_written_whole_whatever_writev_takes_at_a_time(self):
        """Short writes go on where they stopped, and more buffers than one writev takes go in turns."""
        chunks = [bytes([i % 251]) * (1 + i % 7) for i in range(shell._IOV_MAX * 2 + 5)] + [b"", b"end"]
        sizes = []

        def short(fd, buffers):  # takes the first 5 bytes of what it is given, at most
            self.assertLessEqual(len(buffers), shell._IOV_MAX)
            sizes.append(len(buffers))
            return os.write(fd, b"".join(bytes(b) for b in buffers[:5])[:5])
        self.patch(os, "writev", short)
        landing = self.landing(DEV, PIC, chunks)
        shell.land(landing, fsync=False)
        self.assertLanded(landing, b"".join(chunks))
        self.assertEqual(max(sizes), shell._IOV_MAX)


class ThreadsTests(unittest.TestCase):
    def test_calls_run_in_the_threads_and_one_that_fails_is_logged(self):
        import threading

        threads = shell._Threads(1, "test-threads")  # one: the calls run in turn
        ran = []
        done = threading.Event()

        def fails():
            raise ValueError("a bug")

        def runs(x):
            ran.append((x, threading.current_thread().name))
            if len(ran) == 2:
                done.set()
        threads.submit(runs, 1)
        threads.submit(fails)
        threads.submit(runs, 2)
        self.assertTrue(done.wait(10))
        self.assertEqual(sorted(x for x, _ in ran), [1, 2])
        self.assertTrue(all(name.startswith("test-threads-") for _, name in ran))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)


class LanderTests(unittest.TestCase):
    """shell.Lander: each upload landed in one call, the outcomes handed back together."""

    def setUp(self):
        self.layout = Layout(self.mktemp())
        self.layout.prepare(time.time())
        self.scheduled = []  # what the landing threads asked the reactor thread to call
        self.delivering = []

        @contextlib.contextmanager
        def delivering():
            self.delivering.append("in")
            yield
            self.delivering.append("out")
        self.lander = shell.Lander(self.scheduled.append, delivering=delivering,
                                   submit=lambda f, *args: f(*args))

    def landing(self, name, tmp=None):
        return shell.Landing([JPEG], None, tmp or os.path.join(self.layout.tmp, name + ".part"),
                             self.layout.picture(DEV, name))

    def test_those_that_end_before_the_reactor_takes_them_come_back_together(self):
        fired = []
        bad = self.landing("c.jpg", tmp=os.path.join(self.layout.tmp, "no", "such.part"))
        ds = [self.lander.land(x) for x in (self.landing("a.jpg"), self.landing("b.jpg"), bad)]
        for d in ds:
            d.addBoth(lambda r: fired.append((r, list(self.delivering))))
        self.assertEqual(fired, [])
        self.assertEqual(len(self.scheduled), 1)  # one call for the three
        self.scheduled.pop()()
        self.assertEqual([r for r, _ in fired[:2]], [None, None])
        self.assertIsInstance(fired[2][0].value, FileNotFoundError)  # it fails alone
        self.assertTrue(all(within == ["in"] for _, within in fired))
        self.assertEqual(self.delivering, ["in", "out"])
        self.assertEqual(sorted(os.listdir(self.layout.area("pictures", DEV))), ["a.jpg", "b.jpg"])
        self.assertEqual(os.listdir(self.layout.tmp), [])
        self.assertEqual((self.lander.calls, self.lander.batches), (3, 1))

    def test_one_that_ends_after_the_reactor_took_the_others_asks_again(self):
        first = self.lander.land(self.landing("a.jpg"))
        self.scheduled.pop()()
        self.assertIsNone(self.successResultOf(first))
        second = self.lander.land(self.landing("b.jpg"))
        self.assertNoResult(second)
        self.assertEqual(len(self.scheduled), 1)
        self.scheduled.pop()()
        self.assertIsNone(self.successResultOf(second))

    def test_an_unexpected_error_fails_its_upload_too(self):
        """Not only an OSError: whatever stops a landing fails its Deferred (no upload left unanswered)."""
        def broken(landing, fsync):
            raise ValueError("a bug")
        self.patch(shell, "land", broken)
        d = self.lander.land(self.landing("a.jpg"))
        self.scheduled.pop()()
        self.failureResultOf(d, ValueError)

    def test_in_threads(self):
        """The default: the landing threads, back through the reactor's callFromThread."""
        from twisted.internet import reactor

        lander = shell.Lander(reactor.callFromThread)
        d = defer.gatherResults([lander.land(self.landing(n)) for n in ("a.jpg", "b.jpg", "c.jpg")])

        def landed(_):
            self.assertEqual(sorted(os.listdir(self.layout.area("pictures", DEV))), ["a.jpg", "b.jpg", "c.jpg"])
            self.assertLessEqual(lander.batches, 3)
        return d.addCallback(landed)


class QuotaTests(FtpTestCase):
    quota = 100 * 1024
    max_file_size = 64 * 1024

    def test_over_the_quota_552_during_and_before(self):
        c = self.login()
        self.assertEqual(c.store("/logs/a.log", b"x" * 60 * 1024)[-1], "226 Transfer Complete.")
        replies = c.store("/logs/b.log", b"x" * 41 * 1024)
        self.assertEqual(replies[-1], "552 Requested file action aborted, exceeded this device's storage quota.")
        self.assertEqual(c.store("/logs/b.log", b"x" * 40 * 1024)[-1], "226 Transfer Complete.")
        channel = c.passive()
        self.assertEqual(c.send("STOR /logs/c.log"),
                         ["552 Requested file action aborted, exceeded this device's storage quota."])
        self.assertFalse(channel.isConnected)
        self.assertEqual(self.files_under(), ["logs/%s/a.log" % DEV, "logs/%s/b.log" % DEV])
        # another device has its own
        self.assertEqual(self.login(OTHER).store("/logs/a.log", b"x" * 60 * 1024)[-1], "226 Transfer Complete.")

    def test_two_sessions_of_a_device_share_it(self):
        first, second = self.login(), self.login()
        self.assertEqual(first.store("/logs/a.log", b"x" * 60 * 1024)[-1], "226 Transfer Complete.")
        self.assertEqual(second.store("/logs/b.log", b"x" * 41 * 1024)[-1],
                         "552 Requested file action aborted, exceeded this device's storage quota.")
        # an upload in progress holds its room: the other session gets what is left after it
        channel = first.passive()
        first.send("STOR /logs/c.log")
        self.assertEqual(second.store("/logs/d.log", b"x")[-1],
                         "552 Requested file action aborted, exceeded this device's storage quota.")
        channel.transport.abortConnection()
        self.reactor.advance(0)
        self.assertEqual(second.store("/logs/d.log", b"x")[-1], "226 Transfer Complete.")


class DownloadTests(FtpTestCase):
    def setUp(self):
        super().setUp()
        path = self.layout.firmware(3, "fw-1.6.bin")
        os.makedirs(os.path.dirname(path))
        self.body = os.urandom(100_000)
        with open(path, "wb") as f:
            f.write(self.body)
        self.image = ("fw-1.6.bin", path)

    def retrieve(self, c, path):
        channel = c.passive()
        replies = c.send("RETR " + path)
        for _ in range(20):
            channel.transport.producer.resumeProducing() if channel.transport.producer else None
            self.reactor.advance(0)
        return channel, replies + c.read()

    def test_only_the_assigned_image(self):
        c = self.login()
        self.assertEqual(c.send("SIZE /firmware/fw-1.6.bin"), ["213 100000"])
        self.assertEqual(c.send("SIZE /firmware/other.bin")[0][:4], "550 ")
        self.assertEqual(c.send("SIZE /pictures/" + PIC)[0][:4], "550 ")
        channel, replies = self.retrieve(c, "/firmware/fw-1.6.bin")
        self.assertEqual(replies[-1], "226 Transfer Complete.")
        self.assertEqual(channel.transport.value(), self.body)
        self.assertEqual(self.downloaded, [(DEV, "fw-1.6.bin")])
        _, replies = self.retrieve(c, "fw-1.6.bin")  # FtpFileName as given, from the root
        self.assertEqual(replies[-1], "226 Transfer Complete.")
        for path in ("/firmware/other.bin", "/pictures/" + PIC, "/logs/x.log"):
            channel = c.passive()
            self.assertEqual(c.send("RETR " + path)[0][:4], "550 ", path)
        self.image = None
        channel = c.passive()
        self.assertEqual(c.send("RETR /firmware/fw-1.6.bin")[0][:4], "550 ")
        self.assertEqual(len(self.downloaded), 2)

    def test_a_download_cut_short_is_not_downloaded(self):
        c = self.login()
        channel = c.passive()
        c.send("RETR /firmware/fw-1.6.bin")
        channel.transport.producer.resumeProducing()
        channel.transport.abortConnection()
        self.reactor.advance(0)
        self.reactor.advance(0)
        self.assertEqual(c.read(), ["426 Connection closed; transfer aborted."])
        self.assertEqual(self.downloaded, [])


class PassivePortsTests(unittest.TestCase):
    def test_held_until_released_then_waiting_then_425(self):
        reactor = MemoryReactorClock()
        ports = PassivePorts(reactor, range(5000, 5002), wait=10)
        a = self.successResultOf(ports.listen(object()))
        b = self.successResultOf(ports.listen(object()))
        self.assertEqual((a.number, b.number), (5000, 5001))
        waiting = ports.listen(object())
        self.assertNoResult(waiting)
        b.release()
        self.assertIs(self.successResultOf(waiting), b)
        late = ports.listen(object())
        reactor.advance(10)
        self.failureResultOf(late, NoPassivePort)
        self.assertEqual((ports.waited, ports.exhausted), (2, 1))
        a.release()
        self.assertEqual(self.successResultOf(ports.listen(object())).number, 5000)
        self.assertEqual(reactor.getDelayedCalls(), [])
        self.assertEqual(len(reactor.tcpServers), 2)  # each bound once

    def test_a_released_port_stays_open_and_refuses_until_handed_out_again(self):
        reactor = MemoryReactorClock()
        ports = PassivePorts(reactor, range(5000, 5002), wait=10)
        first = PassiveFactory("198.51.100.7", reactor, 5, 5)
        port = self.successResultOf(ports.listen(first))
        listening = reactor.tcpServers[0][1]
        self.assertIsInstance(listening.buildProtocol(IPv4Address("TCP", "198.51.100.7", 1)), DataChannel)
        port.release()
        port.release()  # once is enough
        self.assertIsNone(listening.buildProtocol(IPv4Address("TCP", "198.51.100.7", 2)))
        second = PassiveFactory("198.51.100.8", reactor, 5, 5)
        self.assertIs(self.successResultOf(ports.listen(second)), port)
        channel = listening.buildProtocol(IPv4Address("TCP", "198.51.100.8", 3))
        self.assertIs(channel.factory, second)
        self.assertEqual(len(reactor.tcpServers), 1)

    def test_a_port_another_process_holds_is_skipped(self):
        class Busy(MemoryReactorClock):
            def listenTCP(self, port, factory, backlog=50, interface=""):
                if port == 5000:
                    raise error.CannotListenError(interface, port, "in use")
                return super().listenTCP(port, factory, backlog, interface)

        ports = PassivePorts(Busy(), range(5000, 5002), wait=10)
        self.assertEqual(self.successResultOf(ports.listen(object())).number, 5001)
        self.assertNoResult(ports.listen(object()))  # 5000 is still taken

    def test_an_idle_port_of_another_address_is_closed_for_one_that_waits(self):
        reactor = MemoryReactorClock()
        ports = PassivePorts(reactor, range(5000, 5001), wait=10)
        self.successResultOf(ports.listen(object(), "10.0.0.5")).release()
        other = ports.listen(object(), "10.0.0.6")
        self.assertEqual(self.successResultOf(other).number, 5000)
        self.assertEqual([(p, i) for p, _, _, i in reactor.tcpServers], [(5000, "10.0.0.5"), (5000, "10.0.0.6")])

    def test_no_range_is_any_port_and_only_so_many_kept(self):
        reactor = MemoryReactorClock()
        ports = PassivePorts(reactor, None, wait=10, keep=1)
        a = self.successResultOf(ports.listen(object(), "::1"))
        b = self.successResultOf(ports.listen(object(), "::1"))
        self.assertEqual(reactor.tcpServers[0][0], 0)
        a.release()
        b.release()
        self.assertEqual(ports.idle["::1"], [a])

    def test_closed_with_the_listener(self):
        reactor = MemoryReactorClock()
        ports = PassivePorts(reactor, range(5000, 5002), wait=10)
        a = self.successResultOf(ports.listen(object()))
        self.successResultOf(ports.listen(object())).release()
        ports.close()
        self.assertEqual(ports.held, {a.number})  # the idle one closed; the one handed out …
        a.release()
        self.assertEqual(ports.held, set())  # … once released


class DataChannelTests(unittest.TestCase):
    def channel(self, peer="198.51.100.7"):
        reactor = MemoryReactorClock()
        factory = PassiveFactory("::ffff:198.51.100.7", reactor, 5, 5)
        factory.start()
        channel = factory.buildProtocol(IPv6Address("TCP", "::ffff:" + peer, 1))
        t = Transport(reactor, IPv4Address("TCP", "10.0.0.5", 1), IPv4Address("TCP", peer, 1))
        channel.makeConnection(t)
        t.protocol = channel
        return reactor, channel, t

    def test_bytes_before_a_sink_pause_the_socket(self):
        _, channel, t = self.channel()
        channel.dataReceived(b"early")
        self.assertEqual(t.producerState, "paused")
        got = []

        class Sink:
            write = got.append
        d = channel.receive(Sink())
        self.assertEqual((got, t.producerState), ([b"early"], "producing"))
        channel.dataReceived(b"late")
        channel.connectionLost(failure.Failure(error.ConnectionDone()))
        self.successResultOf(d)
        self.assertEqual(got, [b"early", b"late"])

    def test_a_sink_that_refuses_aborts(self):
        reactor, channel, t = self.channel()

        class Sink:
            def write(self, data):
                raise ValueError("enough")
        d = channel.receive(Sink())
        channel.dataReceived(b"x")
        self.failureResultOf(d, ValueError)
        self.assertTrue(t.aborted)
        reactor.advance(0)
        self.assertFalse(channel.isConnected)

    def test_a_reset_is_not_an_end(self):
        _, channel, _ = self.channel()
        d = channel.receive(type("Sink", (), {"write": lambda self, data: None})())
        channel.connectionLost(failure.Failure(error.ConnectionLost()))
        self.failureResultOf(d, TransferAborted)

    def test_mapped_and_plain_ipv4_are_one_host(self):
        reactor = MemoryReactorClock()
        factory = PassiveFactory("198.51.100.7", reactor, 5, 5)
        self.assertIsNone(factory.buildProtocol(IPv4Address("TCP", "198.51.100.8", 1)))
        self.assertIsNotNone(factory.buildProtocol(IPv6Address("TCP", "::ffff:198.51.100.7", 1)))
