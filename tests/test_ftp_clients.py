"""The FTP server against real clients: Python's ftplib and curl, PASV and EPSV, on loopback.

The server is :func:`kandian.ftp.factory` over the core's files on real
PostgreSQL, listening on a real port; ftplib runs in the reactor's thread
pool, curl as a child process, and the misbehaving clients (a reset upload,
a stalled one) are raw sockets driven by hand.
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import socket
import struct
import time
from zoneinfo import ZoneInfo

from twisted.internet import defer, reactor, task, threads, utils

from kandian import ftp as kftp
from kandian.core.files import Files, Layout, format_picture_name
from kandian.core.keys import Keys
from kandian.limits import REFUSALS, LimitingFactory, ListenerLimit
from kandian.store.connector import Store
from kandian.throttle import FailureThrottle

from .pg import DatabaseTestCase
from .test_device_integration import eventually, pause

TZ = ZoneInfo("Asia/Shanghai")
DEV, OTHER = "81100000001", "81100000002"
NOW = 1_795_000_000
PIC = format_picture_name(DEV, 0, NOW, TZ)
PIC2 = format_picture_name(DEV, 1, NOW + 1, TZ)
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(200 * 1024) + b"\xff\xd9"
FIRMWARE = os.urandom(300 * 1024)
TIMEOUT = 30  # seconds a client waits for anything (a hang fails the test, it does not stall the suite)


class EpsvFTP(ftplib.FTP):
    """ftplib speaks EPSV only over IPv6; this one always does (RFC 2428)."""

    def makepasv(self):
        return ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())


class FtpServerTestCase(DatabaseTestCase):
    max_file_size = 512 * 1024
    quota = 1024 * 1024
    data_timeout = 30

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.clock = task.Clock()  # the domain clock: the throttle's windows
        self.clock.advance(NOW)
        self.store = Store(self.db)
        for dev_id in (DEV, OTHER):
            yield self.store.devices.add(dev_id, "key", channels=2)
        self.keys = Keys(self.store.secrets)
        yield self.keys.load()
        self.layout = Layout(self.mktemp())
        self.layout.prepare(time.time())
        self.files = Files(self.store, self.keys, self.clock, self.layout, address=lambda: ("127.0.0.1", self.port),
                           throttle=FailureThrottle(self.clock.seconds, per_address=30, per_account=5, window=900),
                           max_file_size=self.max_file_size, quota=self.quota, timezone=TZ)
        path = self.layout.firmware(1, "fw-2.0.bin")
        os.makedirs(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(FIRMWARE)
        self.images = {DEV: ("fw-2.0.bin", path)}
        self.downloaded, self.logs = [], []
        self.ftp = kftp.factory(
            self.files, self.layout, reactor=reactor, clock=self.clock, timezone=TZ, public_host="127.0.0.1",
            passive_ports=None, idle_timeout=60, data_timeout=self.data_timeout, max_sessions=2,
            firmware_for=self.images.get,
            firmware_downloaded=lambda dev_id, name: self.downloaded.append((dev_id, name)),
            log_stored=lambda *args: self.logs.append(args))
        self.limited = LimitingFactory(self.ftp, ListenerLimit("ftp", 100), reactor, REFUSALS["ftp"])
        self.listening = reactor.listenTCP(0, self.limited, interface="127.0.0.1")
        self.port = self.listening.getHost().port
        self.addCleanup(self._stop)

    @defer.inlineCallbacks
    def _stop(self):
        yield self.listening.stopListening()
        for p in list(self.limited.connections):
            p.transport.abortConnection()
        yield self.limited.when_drained()
        yield pause()  # the data connections the sessions aborted

    def password(self, dev_id=DEV):
        return self.keys.ftp_password(dev_id)

    def client(self, cls=ftplib.FTP, dev_id=DEV, password=None):
        f = cls()
        f.connect("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            f.login(dev_id, password if password is not None else self.password(dev_id))
        except BaseException:
            f.close()
            raise
        return f

    def in_thread(self, f, *args, **kw):
        return threads.deferToThread(f, *args, **kw)

    def on_disk(self, area=None):
        top = os.path.join(self.layout.root, area) if area else self.layout.root
        return sorted(os.path.relpath(os.path.join(d, f), self.layout.root) for d, _, fs in os.walk(top) for f in fs
                      if not d.startswith(os.path.join(self.layout.root, "firmware")))

    @defer.inlineCallbacks
    def rows(self):
        rows = yield self.db.runQuery("SELECT area, file_name, size, sha256 FROM device_file ORDER BY 1, 2")
        return [tuple(r) for r in rows]


class FtplibTests(FtpServerTestCase):
    @defer.inlineCallbacks
    def test_upload_list_download_in_pasv_and_epsv(self):
        def session(cls):
            got = io.BytesIO()
            with self.client(cls) as f:
                names = f.nlst()
                f.cwd("pictures")
                f.storbinary("STOR " + (PIC if cls is ftplib.FTP else PIC2), io.BytesIO(JPEG))
                f.cwd("/logs")
                f.storbinary("STOR boot-%s.log" % cls.__name__, io.BytesIO(b"boot ok\n"))
                size = f.size("/firmware/fw-2.0.bin")
                f.retrbinary("RETR /firmware/fw-2.0.bin", got.write)
            return names, size, got.getvalue()

        for cls in (ftplib.FTP, EpsvFTP):
            names, size, body = yield self.in_thread(session, cls)
            self.assertEqual(names, ["pictures", "logs", "firmware"])
            self.assertEqual((size, body), (len(FIRMWARE), FIRMWARE))
        self.assertEqual(self.on_disk(), ["logs/%s/boot-EpsvFTP.log" % DEV, "logs/%s/boot-FTP.log" % DEV,
                                          "pictures/%s/%s" % (DEV, PIC), "pictures/%s/%s" % (DEV, PIC2)])
        with open(self.layout.picture(DEV, PIC), "rb") as f:
            self.assertEqual(f.read(), JPEG)
        digest = hashlib.sha256(JPEG).hexdigest()
        self.assertEqual((yield self.rows()), [
            ("logs", "boot-EpsvFTP.log", 8, hashlib.sha256(b"boot ok\n").hexdigest()),
            ("logs", "boot-FTP.log", 8, hashlib.sha256(b"boot ok\n").hexdigest()),
            ("pictures", PIC, len(JPEG), digest), ("pictures", PIC2, len(JPEG), digest)])
        self.assertEqual(self.downloaded, [(DEV, "fw-2.0.bin")] * 2)
        self.assertEqual([args[:3] for args in self.logs], [(DEV, "boot-FTP.log", 8), (DEV, "boot-EpsvFTP.log", 8)])
        self.assertEqual(self.ftp.stats.logins["ok"], 2)

    @defer.inlineCallbacks
    def test_refusals(self):
        def attempt(action, **login):
            try:
                with self.client(**login) as f:
                    action(f)
            except ftplib.all_errors as e:
                return str(e)
            return "ok"

        def store(path, data=JPEG):
            return lambda f: f.storbinary("STOR " + path, io.BytesIO(data))

        other = format_picture_name(OTHER, 0, NOW, TZ)
        cases = [
            (lambda f: None, dict(dev_id="anonymous", password="me@example.com"),
             "530 Anonymous login is not allowed."),
            (store("/pictures/%s/%s" % (OTHER, other)), {}, "550 pictures/%s/%s: Permission denied." % (OTHER, other)),
            (store("../../../etc/passwd"), {}, "550 ../../../etc/passwd: Permission denied."),
            (store("/pictures/holiday.jpg"), {},
             "553 Requested action not taken, file name not allowed: not DevID_ChannelNo_YYYYMMDDHHMMSS.jpg."),
            (store("/pictures/" + other), {}, "553 Requested action not taken, file name not allowed:"
                                              " a picture of %s is named %s_...." % (OTHER, DEV)),
            (store("/logs/big.log", b"x" * (self.max_file_size + 1)), {},
             "552 Requested file action aborted, exceeded the per-file size cap."),
            (lambda f: f.retrbinary("RETR /firmware/fw-1.0.bin", lambda b: None), {},
             "550 firmware/fw-1.0.bin: Permission denied."),
            (lambda f: f.retrbinary("RETR /firmware/fw-2.0.bin", lambda b: None), dict(dev_id=OTHER),
             "550 firmware/fw-2.0.bin: Permission denied."),
        ]
        for action, login, expected in cases:
            got = yield self.in_thread(attempt, action, **login)
            self.assertEqual(got, expected)
        self.assertEqual(self.on_disk(), [])
        self.assertEqual(self.on_disk("tmp"), [])

    @defer.inlineCallbacks
    def test_quota(self):
        def fill():
            answers = []
            with self.client() as f:
                for n in range(3):
                    try:
                        answers.append(f.storbinary("STOR /logs/%d.log" % n, io.BytesIO(b"x" * 400 * 1024)))
                    except ftplib.error_temp as e:  # 4xx: ftplib's error_temp; 552 is error_perm
                        answers.append(str(e))
                    except ftplib.error_perm as e:
                        answers.append(str(e))
                    except OSError:
                        # the server cut the data connection at the quota while this client still sent
                        # (a race of the two sockets): its reply is on the control connection
                        try:
                            f.voidresp()
                        except ftplib.error_perm as e:
                            answers.append(str(e))
            return answers

        answers = yield self.in_thread(fill)
        self.assertEqual(answers, ["226 Transfer Complete.", "226 Transfer Complete.",
                                   "552 Requested file action aborted, exceeded this device's storage quota."])
        self.assertEqual(self.on_disk(), ["logs/%s/0.log" % DEV, "logs/%s/1.log" % DEV])
        # the other device has a quota of its own
        yield self.in_thread(lambda: self.client(dev_id=OTHER).storbinary("STOR x.log", io.BytesIO(b"x" * 1000)))

    @defer.inlineCallbacks
    def test_wrong_password_throttled_then_released(self):
        def login(password):
            try:
                self.client(password=password).quit()
            except ftplib.all_errors as e:
                return str(e)
            return "ok"

        for _ in range(5):
            self.assertEqual((yield self.in_thread(login, "guess")), "530 Login incorrect.")
        self.assertEqual((yield self.in_thread(login, self.password())),
                         "530 Too many failed logins: retry in 900 s.")
        self.clock.advance(900)
        self.assertEqual((yield self.in_thread(login, self.password())), "ok")
        self.assertEqual(self.ftp.stats.logins["wrong_password"], 5)
        self.assertEqual(self.ftp.stats.logins["throttled"], 1)

    @defer.inlineCallbacks
    def test_connections_per_device(self):
        first, second = yield self.in_thread(lambda: (self.client(), self.client()))
        try:
            with self.assertRaises(ftplib.error_temp) as cm:
                yield self.in_thread(self.client)
            self.assertEqual(str(cm.exception),
                             "421 Too many connections for this device, closing control connection.")
            other = yield self.in_thread(self.client, ftplib.FTP, OTHER)
            yield self.in_thread(other.quit)
        finally:
            yield self.in_thread(first.quit)
        third = yield self.in_thread(self.client)  # a place came free
        yield self.in_thread(lambda: (second.quit(), third.quit()))


class CurlTests(FtpServerTestCase):
    @defer.inlineCallbacks
    def curl(self, *args):
        out, err, code = yield utils.getProcessOutputAndValue(
            "curl", ("-sS", "-v", "--max-time", str(TIMEOUT)) + args, env=os.environ)
        return code, out, err.decode("latin-1")

    def url(self, path, dev_id=DEV, password=None):
        return "ftp://%s:%s@127.0.0.1:%d/%s" % (dev_id, password or self.password(dev_id), self.port, path)

    @defer.inlineCallbacks
    def test_upload_and_download_epsv_then_pasv(self):
        source = self.mktemp()
        with open(source, "wb") as f:
            f.write(JPEG)
        for mode, name in ((), PIC), (("--disable-epsv",), PIC2):
            code, _, err = yield self.curl(*mode, "-T", source, self.url("pictures/" + name))
            self.assertEqual(code, 0, err)
            self.assertIn("> PASV" if mode else "> EPSV", err)
            target = self.mktemp()
            code, _, err = yield self.curl(*mode, "-o", target, self.url("firmware/fw-2.0.bin"))
            self.assertEqual(code, 0, err)
            with open(target, "rb") as f:
                self.assertEqual(f.read(), FIRMWARE)
        self.assertEqual(self.on_disk(), ["pictures/%s/%s" % (DEV, PIC), "pictures/%s/%s" % (DEV, PIC2)])
        self.assertEqual([r[1:3] for r in (yield self.rows())], [(PIC, len(JPEG)), (PIC2, len(JPEG))])
        self.assertEqual(self.downloaded, [(DEV, "fw-2.0.bin")] * 2)

    @defer.inlineCallbacks
    def test_refusals_reach_curl(self):
        source = self.mktemp()
        with open(source, "wb") as f:
            f.write(JPEG)
        code, _, err = yield self.curl("-T", source, self.url("pictures/holiday.jpg"))
        self.assertNotEqual(code, 0)
        self.assertIn("< 553 ", err)
        code, _, err = yield self.curl("-T", source, self.url("pictures/" + PIC, password="wrong"))
        self.assertEqual(code, 67, err)  # CURLE_LOGIN_DENIED
        self.assertIn("< 530 Login incorrect.", err)
        code, _, err = yield self.curl("-T", source, "ftp://anonymous:x@127.0.0.1:%d/x.jpg" % self.port)
        self.assertIn("< 530 Anonymous login is not allowed.", err)
        self.assertEqual(self.on_disk(), [])


class RawClient:
    """A hand-driven FTP client on blocking sockets (run in a thread)."""

    def __init__(self, port, dev_id, password):
        self.control = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.reader = self.control.makefile("rb")
        self.expect("220")
        self.command("USER " + dev_id, "331")
        self.command("PASS " + password, "230")
        self.data = None

    def expect(self, code):
        line = self.reader.readline().decode("latin-1").rstrip("\r\n")
        assert line.startswith(code + " "), line
        return line

    def command(self, line, code):
        self.control.sendall(line.encode("latin-1") + b"\r\n")
        return self.expect(code)

    def start_upload(self, path):
        port = int(self.command("EPSV", "229").split("|||")[1].split("|")[0])
        self.data = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.command("STOR " + path, "125")

    def reset_data(self):
        """Close the data connection with a RST (SO_LINGER 0): a crashed client, a broken path."""
        self.data.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.data.close()

    def close(self):
        for s in (self.data, self.reader, self.control):
            if s is not None:
                s.close()


class MisbehavingClientTests(FtpServerTestCase):
    data_timeout = 2  # a stalled transfer is aborted after this many seconds without a byte

    @defer.inlineCallbacks
    def raw(self):
        client = yield self.in_thread(RawClient, self.port, DEV, self.password())
        self.addCleanup(client.close)
        return client

    @defer.inlineCallbacks
    def test_an_upload_reset_midway_leaves_no_file(self):
        client = yield self.raw()
        yield self.in_thread(client.start_upload, "/pictures/" + PIC)
        yield self.in_thread(client.data.sendall, JPEG[:100_000])
        yield eventually(lambda: any(u.size for u in self.ftp.realm.uploads_of(DEV)), "the upload under way")
        yield self.in_thread(client.reset_data)
        answer = yield self.in_thread(client.expect, "426")
        self.assertEqual(answer, "426 Connection closed; transfer aborted.")
        self.assertEqual(self.on_disk(), [])
        self.assertEqual((yield self.rows()), [])
        # the session goes on: the same picture again, whole
        yield self.in_thread(client.start_upload, "/pictures/" + PIC)
        yield self.in_thread(lambda: (client.data.sendall(JPEG), client.data.close()))
        yield self.in_thread(client.expect, "226")
        self.assertEqual(self.on_disk(), ["pictures/%s/%s" % (DEV, PIC)])

    @defer.inlineCallbacks
    def test_a_picture_cut_short_by_a_crash_is_not_kept(self):
        """A killed client's socket closes with a FIN, like a finished upload: a
        picture must still end as a JPEG does, or nothing is kept."""
        client = yield self.raw()
        yield self.in_thread(client.start_upload, "/pictures/" + PIC)
        yield self.in_thread(lambda: (client.data.sendall(JPEG[:50_000]), client.data.close()))
        answer = yield self.in_thread(client.expect, "426")
        self.assertEqual(answer, "426 Connection closed; transfer aborted: the picture is incomplete.")
        self.assertEqual(self.on_disk(), [])

    @defer.inlineCallbacks
    def test_a_stalled_client_does_not_hold_up_others_and_is_aborted(self):
        stalled = yield self.raw()
        yield self.in_thread(stalled.start_upload, "/pictures/" + PIC)
        yield self.in_thread(stalled.data.sendall, JPEG[:1000])  # and then nothing
        # meanwhile another device uploads and downloads in full
        self.images[OTHER] = self.images[DEV]

        def other():
            got = io.BytesIO()
            with self.client(EpsvFTP, dev_id=OTHER) as f:
                f.storbinary("STOR " + format_picture_name(OTHER, 0, NOW, TZ), io.BytesIO(JPEG))
                f.retrbinary("RETR fw-2.0.bin", got.write)
            return got.getvalue()

        self.assertEqual((yield self.in_thread(other)), FIRMWARE)
        self.assertEqual(len(list(self.ftp.realm.uploads_of(DEV))), 1)  # the stalled one, still waiting
        # the stalled transfer is aborted after data_timeout, and nothing of it is kept
        answer = yield self.in_thread(stalled.expect, "426")
        self.assertEqual(answer, "426 Connection closed; transfer aborted.")
        self.assertEqual(self.on_disk(), ["pictures/%s/%s" % (OTHER, format_picture_name(OTHER, 0, NOW, TZ))])
        self.assertEqual((yield self.in_thread(stalled.command, "NOOP", "200")), "200 Command OK")

    @defer.inlineCallbacks
    def test_a_download_nobody_reads_is_aborted(self):
        big = os.urandom(8 * 1024 * 1024)  # more than the socket buffers hold
        with open(self.images[DEV][1], "wb") as f:
            f.write(big)
        client = yield self.raw()

        def start():
            port = int(client.command("EPSV", "229").split("|||")[1].split("|")[0])
            client.data = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            client.data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.command("RETR /firmware/fw-2.0.bin", "125")
        yield self.in_thread(start)
        answer = yield self.in_thread(client.expect, "426")  # never read: aborted after data_timeout
        self.assertEqual(answer, "426 Connection closed; transfer aborted.")
        self.assertEqual(self.downloaded, [])

