"""The hostile suite (issue 10): kandian attacked as a hostile peer and a failing
network would attack it, against a live daemon.

The daemon is the real ``twistd -n kandian`` as a child process, on a fresh
data_dir with the embedded PostgreSQL, every listener on 127.0.0.1 at a free
port; its output goes to ``daemon.log`` in the run's directory.  Users and
the named devices are provisioned with ``kandianctl``; the many devices of the
fuzz, flap and alarm-load probes with one SQL statement each.

While each probe runs, an *honest* camera (a device link driven by this
script: login, ability report, heartbeats, answers to every platform command
from :class:`kandian.sim.state.DeviceState`) stays online, and its owner's
phone (SOAP on /mcu) and the camera do a command round trip (GetWifiList,
platform -> device -> platform) and an alarm round trip (ALARM_NOTIFY_REQ ->
RES) every ``HONEST_PERIOD`` seconds.  Every probe prints what it sent and
then, one line each, what held:

* the daemon is still running; honest peers unaffected (every round trip
  answered, Result 0, within ``HONEST_DEADLINE`` s);
* tracebacks written to the daemon's log during the probe: 0;
* RSS before / after (VmRSS of the daemon), open fds back to the baseline;
* the probe's own figures and checks (see each ``probe_*`` docstring).

A probe passes when all its checks hold; the script exits 1 if any probe
failed, 0 otherwise.  ``--only`` runs some probes, ``--json`` writes every
figure.  The probes, in the order they run (pgkill last: it is destructive):

    fuzz xml creds tokens ssrf slowloris flaps slowreader pgkill

    python bench/hostile.py [--frames 1000000] [--only fuzz,xml] [--json FILE] [--keep]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import queue
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import attrs

from kandian import config as kandian_config
from kandian.device import messages as m
from kandian.device.frame import Frame, FrameDecoder, FrameError
from kandian.sim.answers import answer as device_answer
from kandian.sim.state import Addresses, DeviceState
from kandian.store.embedded import read_postmaster_pid

# bench/_measure.py and bench/soap.py, beside this script
from _measure import CLK_TCK, cpu_model, git_commit, memory_gib, proc_stat, reap, reap_all, say, spawn
from soap import NS, envelope

BIN = os.path.dirname(sys.executable)
LISTENERS = ("device", "register", "mcu", "rtsp", "admin", "ftp")
PROBES = ("fuzz", "xml", "creds", "tokens", "ssrf", "slowloris", "flaps", "slowreader", "pgkill")

OWNER, OWNER_PASSWORD = "13800000001", "owner-pass-1"
ATTACKER, ATTACKER_PASSWORD = "13800000002", "attacker-pass-2"
SMS_USER, SMS_PASSWORD = "13800000003", "sms-pass-3"
HONEST_DEVID, HONEST_KEY = "81100000001", "honest-key"
SSRF_DEVID, SSRF_KEY = "81100000002", "ssrf-key"
FLAP_FIRST, FUZZ_FIRST, LOAD_FIRST = 81100010000, 81100100000, 81100020000
GUESSER, OWNER_ADDRESS, SSRF_ADDRESS = "127.0.0.1", "127.0.0.2", "127.0.0.3"

HONEST_PERIOD = 2.0  # seconds between two honest round trips
HONEST_DEADLINE = 5.0  # an honest round trip slower than this counts as affected
FD_SLACK = 3  # open fds may end this many above the baseline (log rotation, pool reconnects)


# -- small helpers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, step: float = 0.2):
    """The first true value of *predicate()* within *timeout* seconds, else its last value."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        time.sleep(step)


def machine() -> dict:
    model = cpu_model()
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "kernel": platform.release(), "memory_gib": memory_gib(),
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)}


def known_keys() -> dict[str, set[str]]:
    """Config keys today's kandian knows, per section (kandian/config.py): probes skip the others."""
    return {name: {f.name for f in attrs.fields(cls)} for name, cls in kandian_config.SECTIONS.items()}


# -- the daemon ----------------------------------------------------------------------------------------


class Daemon:
    """``twistd -n kandian`` as a child, with its log, its PostgreSQL and kandianctl."""

    def __init__(self, directory: str, extra: dict[str, dict[str, str]]):
        self.directory = directory
        self.data_dir = os.path.join(directory, "var")
        self.ports = {name: free_port() for name in LISTENERS}
        self.ini = os.path.join(directory, "kandian.ini")
        self.log_path = os.path.join(directory, "daemon.log")
        self.extra = extra
        self.proc: subprocess.Popen | None = None
        self._db = None
        self.write_config()

    def write_config(self) -> None:
        sections: dict[str, dict[str, str]] = {"platform": {"data_dir": self.data_dir}}
        for name in LISTENERS:
            sections[name] = {"listen": "tcp:%d:interface=127.0.0.1" % self.ports[name]}
        for section, values in self.extra.items():
            sections.setdefault(section, {}).update(values)
        with open(self.ini, "w") as f:
            for section, values in sections.items():
                f.write("[%s]\n" % section)
                for key, value in values.items():
                    f.write("%s = %s\n" % (key, value))

    def start(self, timeout: float = 90.0) -> None:
        log = open(self.log_path, "ab")
        self.proc = spawn([os.path.join(BIN, "twistd"), "-n", "--pidfile=", "kandian", "--config", self.ini],
                          stdout=log, stderr=subprocess.STDOUT, cwd=self.directory)
        log.close()
        start = self.log_size()
        ready = wait_until(lambda: self.proc.poll() is not None or b"kandian ready" in self._read(start), timeout, 0.2)
        if self.proc.poll() is not None or not ready:
            raise SystemExit("the daemon did not start:\n" + self._read(start)[-3000:].decode(errors="replace"))

    def stop(self) -> int | None:
        self.close_db()
        if self.proc is None:
            return None
        return reap(self.proc, signal.SIGINT, 30.0)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # what the process holds
    def rss_mib(self) -> float:
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return float("nan")

    def fds(self) -> int:
        try:
            return len(os.listdir("/proc/%d/fd" % self.pid))
        except OSError:
            return -1

    def cpu(self) -> float:
        fields = proc_stat(self.pid)
        return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else 0.0

    def quiesce(self, timeout: float = 120.0) -> float:
        """Wait until the daemon uses < 10 % of a core for a second; seconds waited."""
        start = time.monotonic()
        while time.monotonic() - start < timeout and self.alive():
            before = self.cpu()
            time.sleep(1.0)
            if self.cpu() - before < 0.1:
                break
        return time.monotonic() - start

    # its log
    def log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def _read(self, start: int, end: int | None = None) -> bytes:
        with open(self.log_path, "rb") as f:
            f.seek(start)
            return f.read(-1 if end is None else max(0, end - start))

    def log_since(self, start: int) -> dict:
        """Lines, bytes and tracebacks written since offset *start* (read in chunks: the log may be large)."""
        lines = tracebacks = 0
        longest = 0
        with open(self.log_path, "rb") as f:
            f.seek(start)
            tail = b""
            while True:
                chunk = f.read(1 << 22)
                if not chunk:
                    break
                data = tail + chunk
                lines += chunk.count(b"\n")
                tracebacks += data.count(b"Traceback (most recent call last)") - tail.count(
                    b"Traceback (most recent call last)")
                tail = data[-64:]
                longest = max([longest] + [len(x) for x in chunk.split(b"\n")])
        return {"lines": lines, "bytes": self.log_size() - start, "tracebacks": tracebacks, "longest_line": longest}

    def grep(self, start: int, pattern: str, limit: int = 5) -> tuple[int, list[str]]:
        """(count, first *limit* lines) of log lines since *start* matching the regex *pattern*."""
        found, first = 0, []
        rx = re.compile(pattern.encode())
        with open(self.log_path, "rb") as f:
            f.seek(start)
            for line in f:
                if rx.search(line):
                    found += 1
                    if len(first) < limit:
                        first.append(line.decode(errors="replace").rstrip()[:240])
        return found, first

    # operator HTTP
    def http_get(self, path: str, timeout: float = 5.0) -> tuple[int | None, bytes]:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.ports["admin"], timeout=timeout)
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            return None, b""

    def health(self) -> int | None:
        return self.http_get("/health")[0]

    # kandianctl and SQL
    def ctl(self, *args: str) -> str:
        done = subprocess.run([os.path.join(BIN, "kandianctl"), "--config", self.ini, *args],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError("kandianctl %s: %s" % (" ".join(args), done.stderr.strip()))
        return done.stdout

    def postmaster(self) -> int | None:
        found = read_postmaster_pid(os.path.join(self.data_dir, "postgres"))
        return found[0] if found else None

    def db(self):
        import psycopg2
        if self._db is None or self._db.closed:
            found = read_postmaster_pid(os.path.join(self.data_dir, "postgres"))
            if not found:
                raise RuntimeError("the embedded PostgreSQL is not running")
            self._db = psycopg2.connect(host=found[1], port=5432, user="kandian", dbname="kandian",
                                        connect_timeout=5)
            self._db.autocommit = True
        return self._db

    def close_db(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except Exception:
                pass
            self._db = None

    def sql(self, query: str, args=()) -> list[tuple]:
        with self.db().cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else []


# -- a device link, synchronous (honest cameras and hostile ones) ----------------------------------------


class LinkClosed(Exception):
    pass


class Camera:
    """One device on the binary link (§7.3-§7.5), a reader thread answering platform commands
    with :meth:`DeviceState.answer`; its own requests wait for their answer by SEQ."""

    def __init__(self, port: int, dev_id: str, key: str, *, bind: str = "127.0.0.1",
                 addresses: Addresses | None = None, channels: int = 1):
        self.port, self.bind = port, bind
        self.state = DeviceState(dev_id, key, channel_num=channels,
                                 addresses=addresses or Addresses(LocalIP="127.0.0.1", RtspLocalPort=554))
        self.sock: socket.socket | None = None
        self.lock = threading.Lock()
        self.pending: dict[int, queue.Queue] = {}
        self.seq = 0
        self.closed = threading.Event()
        self.commands = 0

    @property
    def dev_id(self) -> str:
        return self.state.dev_id

    def connect(self, timeout: float = 10.0) -> int:
        """Log in and report abilities; the LOGIN_RES Result (0: online)."""
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout, source_address=(self.bind, 0))
        self.sock.settimeout(None)
        self.closed.clear()
        threading.Thread(target=self._reader, daemon=True).start()
        answer = self.request(self.state.login_request(), timeout)
        if answer.Result == 0:
            self.request(self.state.ability_request(), timeout)
        return answer.Result

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        self.closed.wait(5)

    def online(self) -> bool:
        return self.sock is not None and not self.closed.is_set()

    def send(self, frame: Frame) -> None:
        with self.lock:
            self.sock.sendall(frame.to_wire())

    def request(self, message, timeout: float = 10.0):
        if self.closed.is_set():
            raise LinkClosed("link closed")
        box: queue.Queue = queue.Queue()
        with self.lock:
            seq = self.seq = (self.seq + 1) % 65536
            self.pending[seq] = box
            self.sock.sendall(Frame(message.CMD, seq, message.to_xml()).to_wire())
        try:
            answer = box.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("no answer to %s in %g s" % (message.ROOT, timeout)) from None
        finally:
            self.pending.pop(seq, None)
        if isinstance(answer, Exception):
            raise answer
        return m.decode_body(message.CMD, True, answer.data)

    def heartbeat(self, **addresses) -> None:
        """HEARTBEAT_REQ (with changed addresses, if any); HEARTBEAT_RES carries no Result."""
        if addresses:
            self.state.set_addresses(**addresses)
        self.request(self.state.heartbeat_request())

    def alarm(self, desc: str = "hostile", timeout: float = 10.0, dido_no: int | None = None) -> int:
        """ALARM_NOTIFY_REQ: a motion alarm, or with *dido_no* a DIDO alarm (a distinct alarm per DIDONo:
        the platform stores the same alarm once a minute, §7.5.34); the Result."""
        alarm_type = 1 if dido_no is None else 4
        return self.request(self.state.alarm_request(0, alarm_type, desc=desc, dido_no=dido_no), timeout).Result

    def _reader(self) -> None:
        decoder = FrameDecoder()
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                for frame in decoder.feed(data):
                    if not isinstance(frame, Frame):
                        continue
                    if frame.cmd in m.DEVICE_INITIATED:
                        box = self.pending.get(frame.seq)
                        if box is not None:
                            box.put(frame)
                    else:
                        self._answer(frame)
        except (OSError, FrameError):
            pass
        finally:
            self.closed.set()
            for box in list(self.pending.values()):
                box.put(LinkClosed("link closed"))

    def _answer(self, frame: Frame) -> None:
        try:
            request = m.decode_body(frame.cmd, False, frame.data)
            data = device_answer(self.state, request).to_xml()
        except Exception:
            return
        self.commands += 1
        try:
            self.send(Frame(frame.cmd, frame.seq, data))
        except OSError:
            pass


# -- SOAP (the phone), HTTP and RTSP clients ----------------------------------------------------------


def http_post(port: int, path: str, body: bytes, *, source: str = "127.0.0.1", timeout: float = 30.0,
              headers: dict | None = None) -> tuple[int | None, bytes]:
    """(status, body); status None when the connection closed or timed out without an answer."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
        conn.request("POST", path, body, headers or {"Content-Type": "text/xml; charset=utf-8",
                                                     "SOAPAction": '""'})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, data
    except (OSError, http.client.HTTPException):
        return None, b""


def soap_fields(data: bytes) -> dict:
    """The children of the first ``...Response`` element by local name (texts), or {"fault": ...}."""
    from lxml import etree
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return {"fault": "not XML"}
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.endswith("Response"):
            return {etree.QName(child).localname: child.text for child in element}
    fault = root.find(".//faultstring")
    return {"fault": fault.text if fault is not None else "?"}


class Phone:
    """An MCU client (§8) from one source address."""

    def __init__(self, port: int, account: str, password: str, source: str = "127.0.0.1"):
        self.port, self.account, self.password, self.source = port, account, password, source
        self.session = ""

    def call(self, operation: str, params: list[tuple[str, object]], timeout: float = 30.0) -> dict:
        status, data = http_post(self.port, "/mcu", envelope(operation, params), source=self.source,
                                 timeout=timeout)
        answer = soap_fields(data) if data else {"fault": "no answer"}
        answer["http"] = status
        return answer

    def result(self, operation: str, params, timeout: float = 30.0) -> int | None:
        value = self.call(operation, params, timeout).get("Result")
        return int(value) if value is not None and value.lstrip("-").isdigit() else None

    def login(self, password: str | None = None) -> int | None:
        answer = self.call("McuLogin", [("Account", self.account), ("Password", password or self.password),
                                        ("Version", "A-1.0")])
        if answer.get("Result") == "0":
            self.session = answer.get("LoginSession") or ""
        return int(answer["Result"]) if (answer.get("Result") or "").isdigit() else None

    def with_session(self, operation: str, params, timeout: float = 30.0) -> dict:
        return self.call(operation, [("Account", self.account), ("LoginSession", self.session)] + params, timeout)

    def video_play(self, dev_id: str) -> dict:
        return self.with_session("VideoPlay", [("DevID", dev_id), ("ChannelNo", 0), ("StreamType", 1)])


def rtsp_exchange(port: int, uri: str, *, method: str = "DESCRIBE", source: str = "127.0.0.1",
                  timeout: float = 10.0, headers: str = "") -> int | None:
    """One RTSP request on a fresh connection: the status code, None if closed with no status line."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout, source_address=(source, 0)) as s:
            s.sendall(("%s %s RTSP/1.0\r\nCSeq: 1\r\n%s\r\n" % (method, uri, headers)).encode("latin-1"))
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    match = re.match(rb"RTSP/1\.0 (\d{3})", data)
    return int(match.group(1)) if match else None


class RtspPlayer:
    """DESCRIBE, SETUP (interleaved TCP), PLAY through the relay; then reads (or stops reading)."""

    def __init__(self, url: str, *, rcvbuf: int | None = None, timeout: float = 10.0,
                 source: str = OWNER_ADDRESS):
        """*source*: the owner's address by default — not the token guesser's,
        which the relay has rightly stopped for a while."""
        parsed = urllib.parse.urlsplit(url)
        self.url = url
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", parsed.port))
        self.buffer = b""
        self.cseq = 0
        self.received = 0
        self.reading = threading.Event()
        self.closed_at: float | None = None

    def _request(self, method: str, uri: str, extra: str = "") -> tuple[int, dict]:
        self.cseq += 1
        self.sock.sendall(("%s %s RTSP/1.0\r\nCSeq: %d\r\n%s\r\n" % (method, uri, self.cseq, extra)).encode())
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise LinkClosed("closed during %s" % method)
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = dict((k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]))
        length = int(fields.get("content-length", "0"))
        while len(self.buffer) < length:
            self.buffer += self.sock.recv(65536)
        self.buffer = self.buffer[length:]
        return int(lines[0].split()[1]), fields

    def play(self) -> int:
        code, _ = self._request("DESCRIBE", self.url, "Accept: application/sdp\r\n")
        if code != 200:
            return code
        track = self.url + "/trackID=0"
        code, fields = self._request("SETUP", track, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
        if code != 200:
            return code
        session = fields.get("session", "").split(";")[0]
        code, _ = self._request("PLAY", self.url, "Session: %s\r\nRange: npt=0.000-\r\n" % session)
        return code

    def read_for(self, seconds: float) -> None:
        """Read in a thread for *seconds* (counting bytes); note when the relay closes."""
        def run():
            end = time.monotonic() + seconds
            self.received += len(self.buffer)
            self.sock.settimeout(1.0)
            while time.monotonic() < end:
                try:
                    chunk = self.sock.recv(1 << 16)
                except TimeoutError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    self.closed_at = time.monotonic()
                    break
                self.received += len(chunk)
            self.reading.set()
        threading.Thread(target=run, daemon=True).start()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class FakeRtspCamera:
    """The camera's RTSP server the relay dials: answers OPTIONS/DESCRIBE/SETUP/PLAY and then floods
    interleaved RTP-sized frames; counts connections (the canary of the SSRF probe when *answer* is off)."""

    FRAME = b"$\x00\x05\x78" + bytes([0x80, 96]) + b"\x00" * 10 + bytes(1388)

    def __init__(self, answer: bool = True, host: str = "127.0.0.1"):
        self.answer = answer
        self.server = socket.create_server((host, 0), backlog=128)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.first_bytes: list[bytes] = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self.stopped = True
        self.server.close()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            conn.settimeout(30)
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                if len(self.first_bytes) < 20 and not buffer:
                    self.first_bytes.append(chunk[:200])
                if not self.answer:
                    continue
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    if self._respond(conn, head.decode("latin-1")):
                        self._flood(conn)
                        return
        except OSError:
            return
        finally:
            conn.close()

    def _respond(self, conn: socket.socket, head: str) -> bool:
        lines = head.split("\r\n")
        method = lines[0].split(" ")[0]
        cseq = next((line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("cseq:")), "0")
        headers = "CSeq: %s\r\n" % cseq
        body = b""
        if method == "DESCRIBE":
            body = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=hostile\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                    b"m=video 0 RTP/AVP/TCP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n")
            headers += "Content-Type: application/sdp\r\nContent-Length: %d\r\n" % len(body)
        elif method == "SETUP":
            headers += "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: HOSTILE;timeout=60\r\n"
        elif method == "PLAY":
            headers += "Session: HOSTILE\r\nRange: npt=0.000-\r\n"
        elif method == "OPTIONS":
            headers += "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n"
        conn.sendall(("RTSP/1.0 200 OK\r\n%s\r\n" % headers).encode() + body)
        return method == "PLAY"

    def _flood(self, conn: socket.socket) -> None:
        run = self.FRAME * 40  # ~56 KB; about 2 MB/s: 36 runs a second
        conn.settimeout(60)
        while not self.stopped:
            conn.sendall(run)
            time.sleep(1 / 36)


# -- the honest peers, watched during every probe -------------------------------------------------------


class Honest:
    """The owner's phone and the honest camera: a command and an alarm round trip every HONEST_PERIOD s."""

    def __init__(self, daemon: Daemon, camera: Camera, phone: Phone):
        self.daemon, self.camera, self.phone = daemon, camera, phone
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.reset()

    def reset(self) -> None:
        self.rounds = 0
        self.failures: list[str] = []
        self.worst = 0.0

    def round_trip(self) -> None:
        start = time.monotonic()
        try:
            if not self.camera.online():
                raise LinkClosed("the honest camera's link is closed")
            answer = self.phone.with_session("GetWifiList", [("DevID", HONEST_DEVID)], timeout=HONEST_DEADLINE)
            if answer.get("Result") != "0":
                raise RuntimeError("GetWifiList answered %s" % (answer,))
            command = time.monotonic() - start
            result = self.camera.alarm("honest round trip", timeout=HONEST_DEADLINE)
            if result != 0:
                raise RuntimeError("ALARM_NOTIFY_RES Result %s" % result)
            self.camera.heartbeat()
            self.worst = max(self.worst, command, time.monotonic() - start - command)
        except Exception as e:
            if len(self.failures) < 50:
                self.failures.append("%s: %s" % (type(e).__name__, str(e)[:160]))
        self.rounds += 1

    def _loop(self) -> None:
        while not self.stop_event.wait(HONEST_PERIOD):
            self.round_trip()

    def start(self) -> None:
        self.reset()
        self.stop_event.clear()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(HONEST_DEADLINE * 3)
        self.round_trip()  # and once more after the probe


# -- probe bookkeeping --------------------------------------------------------------------------------


class Probe:
    """What one probe sent, its figures and its checks."""

    def __init__(self, name: str):
        self.name = name
        self.sent: list[str] = []
        self.figures: dict = {}
        self.checks: list[tuple[str, bool, str]] = []
        self.error: str | None = None
        self.log0 = 0

    def note(self, line: str) -> None:
        self.sent.append(line)
        say("  sent: " + line)

    def figure(self, key: str, value) -> None:
        self.figures[key] = value

    def check(self, label: str, ok: bool, detail: str = "") -> bool:
        self.checks.append((label, bool(ok), detail))
        say("  %s  %s%s" % ("PASS" if ok else "FAIL", label, (": " + detail) if detail else ""))
        return bool(ok)

    @property
    def passed(self) -> bool:
        return self.error is None and all(ok for _, ok, _ in self.checks)

    def as_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "sent": self.sent, "figures": self.figures,
                "checks": [{"label": label, "ok": ok, "detail": detail} for label, ok, detail in self.checks],
                "error": self.error}


class Suite:
    """The daemon, the honest peers and the run of each probe with the common checks around it."""

    def __init__(self, args, directory: str):
        self.args = args
        self.directory = directory
        self.keys = known_keys()
        self.daemon = Daemon(directory, self.daemon_settings())
        self.results: list[Probe] = []

    def daemon_settings(self) -> dict[str, dict[str, str]]:
        """Settings the probes need, each only when today's config knows the key (others are reported)."""
        wanted = {
            # short deadlines so the slowloris probe stays bounded in time (issue 10 item 7)
            **{section: {key: str(self.args.deadline) for key in
                         ("request_timeout", "request_deadline", "header_timeout", "read_timeout")}
               for section in ("rtsp", "mcu", "register", "device", "admin")},
            "throttle": {"window": "900", "failures_per_address": "30", "failures_per_account": "5"},
        }
        settings: dict[str, dict[str, str]] = {}
        for section, values in wanted.items():
            for key, value in values.items():
                if key in self.keys.get(section, ()):
                    settings.setdefault(section, {})[key] = value
        self.settings = settings
        return settings

    def settings_text(self, word: str) -> str:
        found = ["[%s] %s = %s" % (s, k, v) for s, kv in self.settings.items() for k, v in kv.items()
                 if "timeout" in k or word in k]
        return ", ".join(found) or "none: today's config has no deadline key, the daemon's own timers apply"

    # set-up
    def start(self) -> None:
        d = self.daemon
        t0 = time.monotonic()
        d.start()
        say("daemon: pid %d, ports %s, ready in %.1f s; log %s" % (d.pid, d.ports, time.monotonic() - t0,
                                                                  d.log_path))
        if self.settings:
            say("settings for the run: %s" % "; ".join("[%s] %s = %s" % (s, k, v) for s, kv in self.settings.items()
                                                         for k, v in kv.items()))
        say("request deadline for the run: %s" % self.settings_text("deadline"))
        d.ctl("user", "add", OWNER, "--password", OWNER_PASSWORD, "--max-devices", "50")
        d.ctl("user", "add", ATTACKER, "--password", ATTACKER_PASSWORD, "--max-devices", "50")
        d.ctl("user", "add", SMS_USER, "--password", SMS_PASSWORD)
        d.ctl("device", "add", HONEST_DEVID, "--key", HONEST_KEY)
        d.ctl("device", "add", SSRF_DEVID, "--key", SSRF_KEY)
        self.provision(FLAP_FIRST, 8)
        self.provision(LOAD_FIRST, 4)
        self.provision(FUZZ_FIRST, self.args.fuzz_devices + 3)
        self.rtsp_camera = FakeRtspCamera()
        self.camera = Camera(d.ports["device"], HONEST_DEVID, HONEST_KEY,
                             addresses=Addresses(LocalIP="127.0.0.1", RtspLocalPort=self.rtsp_camera.port))
        result = self.camera.connect()
        if result != 0:
            raise SystemExit("the honest camera could not log in: Result %s" % result)
        self.phone = Phone(d.ports["mcu"], OWNER, OWNER_PASSWORD, source=OWNER_ADDRESS)
        if self.phone.login() != 0:
            raise SystemExit("the owner could not log in")
        for dev_id, key in ((HONEST_DEVID, HONEST_KEY), (SSRF_DEVID, SSRF_KEY)):
            result = self.phone.result("AddDevice", [("Account", OWNER), ("LoginSession", self.phone.session),
                                                     ("DevID", dev_id), ("DevKey", key)])
            if result != 0:
                raise SystemExit("AddDevice %s: Result %s" % (dev_id, result))
        self.honest = Honest(d, self.camera, self.phone)
        self.honest.round_trip()
        if self.honest.failures:
            raise SystemExit("the honest round trip fails before any probe: %s" % self.honest.failures)
        say("honest camera %s online (its RTSP server on 127.0.0.1:%d); owner %s logged in from %s"
            % (HONEST_DEVID, self.rtsp_camera.port, OWNER, OWNER_ADDRESS))

    def provision(self, first: int, count: int) -> None:
        self.daemon.sql("INSERT INTO device (dev_id, dev_key) SELECT g::text, 'key-' || g::text"
                        " FROM generate_series(%s::bigint, %s::bigint) g ON CONFLICT DO NOTHING",
                        (first, first + count - 1))

    # one probe, with the common checks
    def run(self, name: str, fn) -> Probe:
        d = self.daemon
        probe = Probe(name)
        say("\n== %s: %s" % (name, (fn.__doc__ or "").strip().splitlines()[0]))
        if not d.alive():
            probe.error = "the daemon was not running"
            probe.check("daemon running before the probe", False)
            self.results.append(probe)
            return probe
        d.quiesce(30)
        fds0, rss0, log0 = d.fds(), d.rss_mib(), d.log_size()
        probe.log0 = log0
        t0 = time.monotonic()
        self.honest.start()
        try:
            fn(self, probe)
        except Exception as e:  # the probe itself broke: report it, go on with the next
            import traceback
            probe.error = "%s: %s" % (type(e).__name__, e)
            say("  ERROR in the probe: %s" % traceback.format_exc().rstrip().replace("\n", "\n  "))
        finally:
            self.honest.stop()
        probe.figure("seconds", round(time.monotonic() - t0, 1))
        alive = d.alive()
        if alive:
            d.quiesce(30)
        fds1 = wait_until(lambda: d.fds() <= fds0 + FD_SLACK and d.fds(), 30, 0.5) or d.fds()
        rss1 = d.rss_mib()
        logged = d.log_since(log0)
        probe.figure("rss_mib_before", round(rss0, 1))
        probe.figure("rss_mib_after", round(rss1, 1))
        probe.figure("fds_before", fds0)
        probe.figure("fds_after", fds1)
        probe.figure("log", logged)
        probe.figure("honest_round_trips", self.honest.rounds)
        probe.figure("honest_worst_s", round(self.honest.worst, 3))
        if name != "pgkill":  # pgkill judges the daemon's exit itself
            probe.check("daemon still running", alive, "exit status %s" % d.proc.returncode if not alive else "")
        probe.check("honest peers unaffected", not self.honest.failures,
                    "%d round trips (command + alarm), worst %.3f s%s"
                    % (self.honest.rounds, self.honest.worst,
                       "; failures: " + " | ".join(self.honest.failures[:3]) if self.honest.failures else ""))
        probe.check("tracebacks in the daemon's log == 0", logged["tracebacks"] == 0,
                    "%d tracebacks, %d log lines written" % (logged["tracebacks"], logged["lines"]))
        say("  ----  RSS %.1f -> %.1f MiB" % (rss0, rss1))
        probe.check("open fds back to baseline", alive and fds1 <= fds0 + FD_SLACK, "%d -> %d" % (fds0, fds1))
        if probe.error:
            probe.check("probe ran to its end", False, probe.error)
        say("  => %s %s (%.0f s)" % (name, "PASS" if probe.passed else "FAIL", probe.figures["seconds"]))
        self.results.append(probe)
        return probe


# -- probe 1: fuzzed device-link frames ---------------------------------------------------------------


def _laughs(root: str) -> str:
    entities = '<!ENTITY a0 "lol">' + "".join(
        '<!ENTITY a%d "%s">' % (i, ("&a%d;" % (i - 1)) * 10) for i in range(1, 10))
    return "<!DOCTYPE %s [%s]>" % (root, entities)


# name -> (DOCTYPE given the root's name, the text field's content, attributes on the field, encoding)
XML_ATTACKS = {
    "billion_laughs": (_laughs, "&a9;", 0, "utf-8"),
    "xxe_file": (lambda root: '<!DOCTYPE %s [<!ENTITY x SYSTEM "file:///etc/passwd">]>' % root, "&x;", 0, "utf-8"),
    "external_dtd": (lambda root: '<!DOCTYPE %s SYSTEM "http://127.0.0.1:9/evil.dtd">' % root, "1", 0, "utf-8"),
    "deep_nesting": (lambda root: "", "<a>" * 5000 + "</a>" * 5000, 0, "utf-8"),
    "attributes_20000": (lambda root: "", "1", 20000, "utf-8"),
    "huge_text": (lambda root: "", "A" * 60000, 0, "utf-8"),
    "gb2312_declared": (lambda root: "", "看店", 0, "gb2312"),
    "utf16_declared": (lambda root: "", "13800000001", 0, "utf-16"),
}

SOAP_OPEN = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="%s">'
             "<soapenv:Body><m:McuLogin>" % NS)
SOAP_CLOSE = "<m:Password>x</m:Password><m:Version>A-1.0</m:Version></m:McuLogin></soapenv:Body></soapenv:Envelope>"


def attack_body(name: str, opening: str, field: str, closing: str, max_bytes: int = 1 << 20) -> bytes:
    """The document of attack *name*: *opening* (the root's start tag and what precedes the field),
    ``<field>`` carrying the attack, *closing*; attributes cut to fit *max_bytes*."""
    doctype, text, attributes, encoding = XML_ATTACKS[name]
    root = re.match(r"<([^\s>]+)", opening).group(1)
    if attributes:
        attributes = min(attributes, max(0, (max_bytes - 400) // len(' a19999="x"')))
    attrs_text = "".join(' a%d="x"' % i for i in range(attributes))
    document = '<?xml version="1.0" encoding="%s"?>%s%s<%s%s>%s</%s>%s' % (
        encoding.upper(), doctype(root), opening, field, attrs_text, text, field, closing)
    return document.encode(encoding)


def register_attack(name: str) -> bytes:
    return attack_body(name, "<REGISTER_REQ><DevType>1</DevType>", "DevID", "<DevKey>k</DevKey></REGISTER_REQ>")


def soap_attack(name: str) -> bytes:
    return attack_body(name, SOAP_OPEN, "m:Account", SOAP_CLOSE)


def link_attack(name: str, root: str) -> bytes:
    return attack_body(name, "<%s>" % root, "DevID", "</%s>" % root, max_bytes=65535)


def fuzz_pool(rng: random.Random, dev_id: str) -> list[tuple[str, bytes]]:
    """(kind, wire bytes) of mutated frames, repeated by weight: the mix each fuzz link sends."""
    state = DeviceState(dev_id, "key-" + dev_id, addresses=Addresses(LocalIP="127.0.0.1"))
    beat = state.heartbeat_request().to_xml()
    beat_cmd = m.HeartbeatRequest.CMD
    platform_cmds = sorted(set(range(0x60, 0x83)) - m.DEVICE_INITIATED)

    def wire(cmd, data, seq=None):
        return Frame(cmd, rng.randrange(65536) if seq is None else seq, data[:65535]).to_wire()

    def bad_md5():
        w = bytearray(wire(beat_cmd, beat))
        w[-1 - rng.randrange(16)] ^= 0xFF
        return bytes(w)

    kinds = {
        "bad_md5": (300, bad_md5),
        "random_cmd": (200, lambda: wire(rng.randrange(256), rng.randbytes(rng.randrange(64)))),
        "answer_to_nothing": (100, lambda: wire(rng.choice(platform_cmds), b"<X_RES><Result>0</Result></X_RES>")),
        "garbage_xml": (150, lambda: wire(beat_cmd, rng.randbytes(rng.randrange(1, 200)))),
        "truncated_xml": (80, lambda: wire(beat_cmd, beat[: rng.randrange(1, len(beat))])),
        "wrong_root": (70, lambda: wire(beat_cmd, b"<LOGIN_REQ><DevID>1</DevID></LOGIN_REQ>")),
        "oversize_int": (50, lambda: wire(beat_cmd, beat.replace(b"<CurVideoNum>0</CurVideoNum>",
                                                                  b"<CurVideoNum>%d</CurVideoNum>" % rng.choice(
                                                                      [2**31, 2**63, 10**30, -1])))),
        "xml_bomb": (10, lambda: wire(beat_cmd, link_attack("billion_laughs", "HEARTBEAT_REQ"))),
        "xxe": (10, lambda: wire(beat_cmd, link_attack("xxe_file", "HEARTBEAT_REQ"))),
        "deep_nesting": (10, lambda: wire(beat_cmd, link_attack("deep_nesting", "HEARTBEAT_REQ"))),
        "attributes": (5, lambda: wire(beat_cmd, link_attack("attributes_20000", "HEARTBEAT_REQ"))),
        "devid_60000": (5, lambda: wire(beat_cmd, b"<HEARTBEAT_REQ><DevID>" + b"9" * 60000
                                        + b"</DevID></HEARTBEAT_REQ>")),
    }
    pool = []
    for kind, (weight, make) in kinds.items():
        variants = [make() for _ in range(min(weight, 20))]
        pool.extend((kind, variants[i % len(variants)]) for i in range(weight))
    rng.shuffle(pool)
    return pool


FATAL_ENDINGS = {
    "bad_start_word": b"\xfa\xf6" + bytes(30),
    "huge_len_then_close": b"\xfa\xf5\x33\x00\x01\x00\xff\xff" + bytes(100),
}


def fuzz_worker(port: int, dev_ids: list[str], frames: int, per_link: int, seed: int, out) -> None:
    """One process: links in turn, each logged in, then *per_link* mutated frames and a fatal ending."""
    rng = random.Random(seed)
    sent, links, cut_short, unanswered = 0, 0, 0, 0
    kinds: dict[str, int] = {}
    pools = {dev_id: fuzz_pool(rng, dev_id) for dev_id in dev_ids}
    t0 = time.monotonic()
    while sent < frames:
        dev_id = dev_ids[links % len(dev_ids)]
        camera = Camera(port, dev_id, "key-" + dev_id)
        try:
            if camera.connect() != 0:
                cut_short += 1
                continue
        except Exception:
            cut_short += 1
            camera.close()
            time.sleep(0.2)
            continue
        links += 1
        pool = pools[dev_id]
        n = min(per_link, frames - sent)
        start = rng.randrange(len(pool))
        batch, count = [], 0
        try:
            for i in range(n):
                kind, data = pool[(start + i) % len(pool)]
                kinds[kind] = kinds.get(kind, 0) + 1
                batch.append(data)
                count += 1
                if len(batch) >= 64:
                    camera.sock.sendall(b"".join(batch))
                    sent += len(batch)
                    batch = []
            if batch:
                camera.sock.sendall(b"".join(batch))
                sent += len(batch)
            # the link handles device requests in order: once this one is answered, every frame before it
            # was handled (frames still queued when a link closes are dropped, so they would not count)
            try:
                camera.request(camera.state.heartbeat_request(), timeout=120)
            except Exception:
                unanswered += 1
            ending = rng.choice(sorted(FATAL_ENDINGS))
            kinds[ending] = kinds.get(ending, 0) + 1
            camera.sock.sendall(FATAL_ENDINGS[ending])
            sent += 1
        except OSError:
            cut_short += 1  # the daemon closed the link before the fatal ending
        camera.close()
    out.put({"sent": sent, "links": links, "cut_short": cut_short, "unanswered": unanswered, "kinds": kinds,
             "seconds": time.monotonic() - t0})


def probe_fuzz(suite: Suite, probe: Probe) -> None:
    """N fuzzed device-link frames across many links, with the honest camera online."""
    d, args = suite.daemon, suite.args
    procs = args.fuzz_procs
    per_proc = -(-args.frames // procs)
    devs = [str(FUZZ_FIRST + i) for i in range(args.fuzz_devices)]
    probe.note("%d frames in %d processes, %d frames a link then a fatal ending (bad start word / LEN 65535 and"
               " close), devices %s..%s; mix by weight: bad MD5 30 %%, random CMD/SEQ 20 %%, answers to nothing"
               " 10 %%, garbage XML 15 %%, truncated XML 8 %%, wrong root 7 %%, oversize integers 5 %%,"
               " billion laughs / XXE / 5,000-deep nesting 1 %% each, 5,900 attributes and a 60,000-char DevID"
               " 0.5 %% each" % (args.frames, procs, args.per_link, devs[0], devs[-1]))
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    t0 = time.monotonic()
    workers = [ctx.Process(target=fuzz_worker, args=(d.ports["device"], devs[i::procs], per_proc, args.per_link,
                                                     1000 + i, out)) for i in range(procs)]
    for w in workers:
        w.start()
    reports = [out.get(timeout=args.fuzz_timeout) for _ in workers]
    for w in workers:
        w.join(10)
    sending = time.monotonic() - t0
    waited = d.quiesce(120)
    total = sum(r["sent"] for r in reports)
    links = sum(r["links"] for r in reports)
    kinds: dict[str, int] = {}
    for r in reports:
        for k, v in r["kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
    probe.figure("frames", total)
    probe.figure("links", links)
    probe.figure("links_cut_short", sum(r["cut_short"] for r in reports))
    probe.figure("closing_heartbeat_unanswered", sum(r["unanswered"] for r in reports))
    probe.figure("frames_per_s_handled", round(total / sending))
    probe.figure("frames_per_s_end_to_end", round(total / (sending + waited)))
    probe.figure("kinds", kinds)
    logged = d.log_since(suite_log_mark(probe, d))
    bound = links * (len(kinds) + 6)
    probe.figure("log_lines", logged["lines"])
    probe.figure("log_bytes", logged["bytes"])
    probe.figure("longest_log_line", logged["longest_line"])
    say("  %d frames over %d links in %.1f s (each link's frames handled: a closing heartbeat answered) + %.1f s"
        " until the daemon was idle: %d frames/s; links closed early by the daemon %d, closing heartbeat"
        " unanswered on %d" % (total, links, sending, waited, total / (sending + waited),
                               probe.figures["links_cut_short"], probe.figures["closing_heartbeat_unanswered"]))
    probe.check("log lines bounded (first bad frame per kind per link)", logged["lines"] <= bound,
                "%d lines (%d bytes) for %d links x %d kinds (+6): bound %d" % (
                    logged["lines"], logged["bytes"], links, len(kinds), bound))
    probe.check("peer strings truncated in the log", logged["longest_line"] < 4096,
                "longest line %d bytes (60,000-char DevIDs were sent)" % logged["longest_line"])
    _oversize_counts(suite, probe)


def suite_log_mark(probe: Probe, d: Daemon) -> int:
    """The daemon log's offset when the probe started."""
    return probe.log0


def _oversize_counts(suite: Suite, probe: Probe) -> None:
    """ABILITYUP_REQ with ChannelNum / DIDONum far beyond any device: answered at once with an error."""
    d = suite.daemon
    cases = [("ChannelNum", 10**6), ("ChannelNum", 2**31), ("DIDONum", 10**6)]
    probe.note("ABILITYUP_REQ with %s, one link each, the honest camera online"
               % ", ".join("%s=%d" % c for c in cases))
    for i, (field, value) in enumerate(cases):
        dev_id = str(FUZZ_FIRST + suite.args.fuzz_devices + i)
        camera = Camera(d.ports["device"], dev_id, "key-" + dev_id)
        t0 = time.monotonic()
        try:
            camera.sock = socket.create_connection(("127.0.0.1", d.ports["device"]), 10)
            threading.Thread(target=camera._reader, daemon=True).start()
            camera.request(camera.state.login_request())
            body = camera.state.ability_request()
            body = attrs.evolve(body, **{field: 1}).to_xml().replace(
                b"<%s>1</%s>" % (field.encode(), field.encode()), b"<%s>%d</%s>" % (field.encode(), value,
                                                                                   field.encode()))
            box: queue.Queue = queue.Queue()
            camera.pending[777] = box
            camera.send(Frame(m.AbilityUpRequest.CMD, 777, body))
            try:
                frame = box.get(timeout=suite.args.oversize_timeout)
                answer = "link closed" if isinstance(frame, Exception) else getattr(
                    m.decode_body(m.AbilityUpRequest.CMD, True, frame.data), "Result", "ABILITYUP_RES")
            except queue.Empty:
                answer = "no answer in %d s" % suite.args.oversize_timeout
        finally:
            camera.close()
        seconds = time.monotonic() - t0
        d.quiesce(60)
        rows = d.sql("SELECT (SELECT count(*) FROM channel WHERE dev_id = %s), (SELECT count(*) FROM dido"
                     " WHERE dev_id = %s)", (dev_id, dev_id))[0]
        probe.figure("oversize_%s_%d" % (field, value), {"answer": answer, "seconds": round(seconds, 2),
                                                          "channel_rows": rows[0], "dido_rows": rows[1]})
        probe.check("%s=%d answered at once (within 5 s, <= 256 rows stored)" % (field, value),
                    not str(answer).startswith("no answer") and seconds < 5 and max(rows) <= 256,
                    "answer %s after %.1f s; %d channel rows, %d DIDO rows" % (answer, seconds, rows[0], rows[1]))


# -- probe 2: XML attacks on every XML endpoint -----------------------------------------------------


def probe_xml(suite: Suite, probe: Probe) -> None:
    """Every XML attack on every XML endpoint: POST /register, POST /mcu (SOAP), device-link bodies."""
    d = suite.daemon
    probe.note("attacks %s on POST /register (REGISTER_REQ), POST /mcu (McuLogin in a SOAP envelope), a new"
               " device link's LOGIN_REQ and a logged-in link's HEARTBEAT_REQ" % ", ".join(XML_ATTACKS))
    outcomes = {}
    unanswered = []
    for name in XML_ATTACKS:
        row = {}
        t0 = time.monotonic()
        status, _ = http_post(d.ports["register"], "/register", register_attack(name), timeout=15)
        row["register"] = status
        row["register_s"] = round(time.monotonic() - t0, 2)
        t1 = time.monotonic()
        status, data = http_post(d.ports["mcu"], "/mcu", soap_attack(name), timeout=15)
        row["mcu"] = status
        row["mcu_s"] = round(time.monotonic() - t1, 2)
        fields = soap_fields(data) if data else {}
        row["mcu_answer"] = fields.get("Result") or (fields.get("fault") or "")[:60] or None
        for where, root in (("link_login", "LOGIN_REQ"), ("link_heartbeat", "HEARTBEAT_REQ")):
            dev_id = str(FUZZ_FIRST)
            camera = Camera(d.ports["device"], dev_id, "key-" + dev_id)
            try:
                if where == "link_login":
                    camera.sock = socket.create_connection(("127.0.0.1", d.ports["device"]), 10)
                    threading.Thread(target=camera._reader, daemon=True).start()
                    cmd = m.LoginRequest.CMD
                else:
                    camera.connect()
                    cmd = m.HeartbeatRequest.CMD
                box: queue.Queue = queue.Queue()
                camera.pending[4242] = box
                camera.send(Frame(cmd, 4242, link_attack(name, root)[:65535]))
                try:
                    got = box.get(timeout=2)
                    row[where] = "closed" if isinstance(got, Exception) else "answered"
                except queue.Empty:
                    row[where] = "dropped (link open)" if camera.online() else "closed"
            except Exception as e:
                row[where] = "error %s" % type(e).__name__
            finally:
                camera.close()
        row["seconds"] = round(time.monotonic() - t0, 2)
        outcomes[name] = row
        if row["register"] is None or row["mcu"] is None:
            unanswered.append(name)
        say("  %-17s /register HTTP %s (%.2f s) | /mcu HTTP %s (%.2f s, %s) | link LOGIN_REQ %s | HEARTBEAT_REQ %s"
            % (name, row["register"], row["register_s"], row["mcu"], row["mcu_s"], row["mcu_answer"],
               row["link_login"], row["link_heartbeat"]))
    probe.figure("outcomes", outcomes)
    errors = [n for n, r in outcomes.items() if (r["register"] or 0) >= 500 or (r["mcu"] or 0) >= 500
              and r["mcu_answer"] in (None, "")]
    probe.check("every HTTP attack answered, no 5xx without a SOAP Fault", not unanswered and not errors,
                "unanswered %s, 5xx %s" % (unanswered or "none", errors or "none"))
    slow = [n for n, r in outcomes.items() if max(r["register_s"], r["mcu_s"]) > 2]
    probe.check("every HTTP attack answered within 2 s", not slow, ", ".join(slow) or "")
    leaked, _ = d.grep(suite_log_mark(probe, d), r"root:x:0:0")
    probe.check("no external entity resolved (no /etc/passwd in the log)", leaked == 0, "%d lines" % leaked)
    declared = {n: outcomes[n]["mcu_answer"] for n in ("gb2312_declared", "utf16_declared")}
    probe.figure("mcu_non_utf8", declared)
    say("  /mcu with GB2312 / UTF-16 declared bodies: %s (docs say UTF-8 only: compare)" % declared)

    # memory per 230 hostile SOAP bodies of 20,000 attributes
    body = soap_attack("attributes_20000")
    rss0 = d.rss_mib()
    statuses: dict = {}
    for _ in range(suite.args.soap_bombs):
        status, _ = http_post(d.ports["mcu"], "/mcu", body, timeout=30)
        statuses[status] = statuses.get(status, 0) + 1
    peak = d.rss_mib()
    d.quiesce(30)
    time.sleep(2)
    rss1 = d.rss_mib()
    probe.note("%d SOAP bodies of %d bytes, 20,000 attributes each, to /mcu (answers %s)"
               % (suite.args.soap_bombs, len(body), statuses))
    probe.figure("soap_20000_attributes", {"bodies": suite.args.soap_bombs, "bytes": len(body),
                                           "rss_mib": [round(rss0, 1), round(peak, 1), round(rss1, 1)],
                                           "statuses": {str(k): v for k, v in statuses.items()}})
    probe.check("RSS comes back after %d hostile SOAP bodies (growth < 64 MiB)" % suite.args.soap_bombs,
                rss1 - rss0 < 64, "%.1f -> peak %.1f -> %.1f MiB (growth %.1f MiB)" % (rss0, peak, rss1, rss1 - rss0))


# -- probe 3: credential guessing -----------------------------------------------------------------


def probe_creds(suite: Suite, probe: Probe) -> None:
    """McuLogin guessing, AddDevice DevKey guessing, GetSmsPassword with no SMS gateway."""
    d = suite.daemon
    mcu = d.ports["mcu"]
    guesses = suite.args.guesses
    guesser = Phone(mcu, OWNER, "wrong", source=GUESSER)
    t0 = time.monotonic()
    answers: dict = {}
    for i in range(guesses):
        r = guesser.login("guess-%d" % i)
        answers[r] = answers.get(r, 0) + 1
    rate = guesses / (time.monotonic() - t0)
    probe.note("%d wrong McuLogin passwords for %s from %s (%.0f/s): Results %s"
               % (guesses, OWNER, GUESSER, rate, answers))
    right_from_guesser = guesser.login(OWNER_PASSWORD)
    owner = Phone(mcu, OWNER, OWNER_PASSWORD, source=OWNER_ADDRESS).login()
    probe.figure("mculogin", {"guesses": guesses, "per_s": round(rate, 1), "results": {str(k): v for k, v in
                                                                                       answers.items()},
                              "right_password_from_guesser": right_from_guesser, "owner_elsewhere": owner})
    probe.check("a guessing address is stopped (the right password from it is refused)",
                right_from_guesser != 0, "McuLogin with the right password from %s: Result %s"
                % (GUESSER, right_from_guesser))
    probe.check("the owner from another address still logs in", owner == 0,
                "McuLogin from %s: Result %s" % (OWNER_ADDRESS, owner))

    attacker = Phone(mcu, ATTACKER, ATTACKER_PASSWORD, source="127.0.0.4")
    attacker.login()
    t0 = time.monotonic()
    answers = {}
    for i in range(guesses):
        r = attacker.result("AddDevice", [("Account", ATTACKER), ("LoginSession", attacker.session),
                                          ("DevID", HONEST_DEVID), ("DevKey", "guess-%d" % i)])
        answers[r] = answers.get(r, 0) + 1
    rate = guesses / (time.monotonic() - t0)
    wrong = attacker.result("AddDevice", [("Account", ATTACKER), ("LoginSession", attacker.session),
                                          ("DevID", HONEST_DEVID), ("DevKey", "still-wrong")])
    right = attacker.result("AddDevice", [("Account", ATTACKER), ("LoginSession", attacker.session),
                                          ("DevID", HONEST_DEVID), ("DevKey", HONEST_KEY)])
    probe.note("%d wrong DevKeys for %s (the owner's camera) in AddDevice by %s from 127.0.0.4 (%.0f/s):"
               " Results %s; then a wrong key -> %s, the right key -> %s"
               % (guesses, HONEST_DEVID, ATTACKER, rate, answers, wrong, right))
    probe.figure("adddevice", {"guesses": guesses, "per_s": round(rate, 1),
                               "results": {str(k): v for k, v in answers.items()}, "wrong_after": wrong,
                               "right_after": right})
    probe.check("AddDevice is no DevKey oracle after guessing (right key answers as a wrong one)",
                right == wrong, "wrong key %s, right key %s" % (wrong, right))

    before = d.sql("SELECT password_hash FROM app_user WHERE mobile = %s", (SMS_USER,))[0][0]
    sms = Phone(mcu, SMS_USER, SMS_PASSWORD, source="127.0.0.5")
    result = sms.result("GetSmsPassword", [("MobileTel", SMS_USER), ("Type", 0)])
    after = d.sql("SELECT password_hash FROM app_user WHERE mobile = %s", (SMS_USER,))[0][0]
    login = sms.login()
    probe.note("GetSmsPassword for %s with no SMS gateway configured: Result %s" % (SMS_USER, result))
    probe.figure("getsmspassword", {"result": result, "password_changed": before != after, "login_after": login})
    probe.check("GetSmsPassword with no gateway answers 2, password unchanged",
                result == 2 and before == after and login == 0,
                "Result %s, password %s, McuLogin with the old one: %s"
                % (result, "changed" if before != after else "unchanged", login))


# -- probe 4: play tokens on the RTSP relay ---------------------------------------------------------


def probe_tokens(suite: Suite, probe: Probe) -> None:
    """1,000 random play tokens on the RTSP relay; bad token on known vs unknown device; a NUL in the query."""
    d = suite.daemon
    port = d.ports["rtsp"]
    url = "rtsp://127.0.0.1:%d/realplay?devid=%s&channelno=0&streamtype=1&hashtoken=%s"
    rng = random.Random(7)
    statuses: dict = {}
    t0 = time.monotonic()
    for _ in range(suite.args.tokens):
        s = rtsp_exchange(port, url % (port, HONEST_DEVID, "%032x" % rng.getrandbits(128)), source=GUESSER)
        statuses[s] = statuses.get(s, 0) + 1
    rate = suite.args.tokens / (time.monotonic() - t0)
    probe.note("%d random hashtokens for %s from %s (%.0f/s): statuses %s"
               % (suite.args.tokens, HONEST_DEVID, GUESSER, rate, statuses))
    answer = suite.phone.video_play(HONEST_DEVID)
    relay_url = answer.get("RelayPlayUrl") or ""
    valid_from_guesser = rtsp_exchange(port, relay_url, source=GUESSER) if relay_url else None
    answer = suite.phone.video_play(HONEST_DEVID)
    relay_url = answer.get("RelayPlayUrl") or ""
    valid_elsewhere = rtsp_exchange(port, relay_url, source=OWNER_ADDRESS) if relay_url else None
    probe.figure("random_tokens", {"count": suite.args.tokens, "per_s": round(rate, 1),
                                   "statuses": {str(k): v for k, v in statuses.items()},
                                   "valid_from_guesser": valid_from_guesser, "valid_from_owner": valid_elsewhere})
    probe.check("token guessing throttled (a valid token from the guessing address is refused)",
                valid_from_guesser not in (200, None), "DESCRIBE with a fresh valid token from %s: %s"
                % (GUESSER, valid_from_guesser))
    probe.check("a valid token from another address still plays", valid_elsewhere == 200,
                "DESCRIBE from %s: %s" % (OWNER_ADDRESS, valid_elsewhere))
    fresh = "127.0.0.6"
    known = rtsp_exchange(port, url % (port, HONEST_DEVID, "0" * 32), source=fresh)
    unknown = rtsp_exchange(port, url % (port, "81199999999", "0" * 32), source=fresh)
    probe.note("bad token for a known device and for an unknown one, from %s" % fresh)
    probe.figure("enumeration", {"known": known, "unknown": unknown})
    probe.check("a bad token answers the same for a known and an unknown device", known == unknown,
                "known %s, unknown %s" % (known, unknown))
    nul = rtsp_exchange(port, "rtsp://127.0.0.1:%d/realplay?devid=%%00&channelno=0&streamtype=1&hashtoken=x"
                        % port, source=fresh)
    probe.note("DESCRIBE .../realplay?devid=%00...")
    probe.figure("nul_in_query", nul)
    probe.check("devid=%00 answers a 4xx", nul is not None and 400 <= nul < 500, "status %s" % nul)


# -- probe 5: SSRF through the relay ------------------------------------------------------------------


def probe_ssrf(suite: Suite, probe: Probe) -> None:
    """A device reporting internal addresses: the relay must not dial them; the client gets an RTSP status."""
    d = suite.daemon
    canary = FakeRtspCamera(answer=False)
    camera = Camera(d.ports["device"], SSRF_DEVID, SSRF_KEY, bind=SSRF_ADDRESS,
                    addresses=Addresses(LocalIP="127.0.0.1", RtspLocalPort=canary.port))
    camera.connect()
    cases = [
        ("LocalIP 127.0.0.1, the admin listener's port",
         {"LocalIP": "127.0.0.1", "RtspLocalPort": d.ports["admin"]}),
        ("LocalIP 127.0.0.1, a canary port", {"LocalIP": "127.0.0.1", "RtspLocalPort": canary.port}),
        ("LocalIP 'localhost', a canary port", {"LocalIP": "localhost", "RtspLocalPort": canary.port}),
        ("a made-up TurnRelayIP 127.0.0.1, a canary port",
         {"LocalIP": "0.0.0.0", "RtspLocalPort": 0, "TurnRelayIP": "127.0.0.1", "RtspTurnRelayPort": canary.port}),
    ]
    probe.note("device %s linked from %s, so only %s is its own address; it reported in turn: %s"
               % (SSRF_DEVID, SSRF_ADDRESS, SSRF_ADDRESS, "; ".join(c for c, _ in cases)))
    try:
        for label, addresses in cases:
            base = {"UpnpIP": "0.0.0.0", "RtspUpnpPort": 0, "TurnRelayIP": "0.0.0.0", "RtspTurnRelayPort": 0}
            base.update(addresses)
            camera.heartbeat(**base)
            connections0 = canary.connections
            admin0 = accepted_from(d.ports["admin"])
            answer = suite.phone.video_play(SSRF_DEVID)
            relay_url = answer.get("RelayPlayUrl") or ""
            status = rtsp_exchange(d.ports["rtsp"], relay_url, source=OWNER_ADDRESS, timeout=15) if relay_url else None
            time.sleep(0.5)
            dialled = canary.connections - connections0
            if "admin" in label:
                dialled = len(accepted_from(d.ports["admin"]) - admin0)
            probe.figure(label, {"status": status, "dialled": dialled, "videoplay": answer.get("Result")})
            probe.check("%s: not dialled, client got an RTSP status" % label, dialled == 0 and status is not None,
                        "%s connection(s) to the target, client got %s" % (dialled, status
                                                                              or "no status line"))
    finally:
        camera.close()
        canary.stop()


def accepted_from(port: int) -> set[str]:
    """Remote ends of the TCP sockets (any state, TIME_WAIT included) whose local port is *port*:
    who connected to a listener lately (/proc/net/tcp)."""
    found = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            local, remote = line.split()[1:3]
            if int(local.split(":")[1], 16) == port:
                found.add(remote)
    return found


# -- probe 6: slowloris ------------------------------------------------------------------------------


def probe_slowloris(suite: Suite, probe: Probe) -> None:
    """Connections trickling bytes on RTSP, /mcu and /register: closed at a deadline; logins and /metrics go on."""
    d, args = suite.daemon, suite.args
    targets = {"rtsp": (d.ports["rtsp"], b"DESCRIBE rtsp://127.0.0.1/realplay?devid=1 RTSP/1.0\r\nCSeq: 1\r\n"),
               "mcu": (d.ports["mcu"], b"POST /mcu HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"),
               "register": (d.ports["register"], b"POST /register HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")}
    socks: dict[str, list[socket.socket]] = {name: [] for name in targets}
    refused: dict[str, int] = {name: 0 for name in targets}
    for name, (port, _) in targets.items():
        for i in range(args.slow_conns):
            try:
                s = socket.create_connection(("127.0.0.1", port), 5, source_address=("127.0.1.%d" % (1 + i % 200), 0))
                s.setblocking(False)
                socks[name].append(s)
            except OSError:
                refused[name] += 1
    probe.note("%d connections each to RTSP, /mcu and /register (from 127.0.1.1-200), each writing one byte of a"
               " request every %g s for up to %g s (deadline configured: %s)"
               % (args.slow_conns, args.trickle, args.slow_hold, suite.settings_text("deadline")))
    offsets = {name: 0 for name in targets}
    held: dict[str, list[int]] = {name: [] for name in targets}
    t0 = time.monotonic()
    login_ok = metrics_ok = None
    while time.monotonic() - t0 < args.slow_hold:
        for name, (_, request) in targets.items():
            byte = request[offsets[name] % len(request): offsets[name] % len(request) + 1]
            offsets[name] += 1
            alive = []
            for s in socks[name]:
                try:
                    try:
                        if s.recv(4096) == b"":
                            raise OSError("closed")
                    except BlockingIOError:
                        pass
                    s.send(byte)
                    alive.append(s)
                except OSError:
                    s.close()
            socks[name] = alive
            held[name].append(len(alive))
        if login_ok is None and time.monotonic() - t0 > args.trickle:
            flap = Camera(d.ports["device"], str(FLAP_FIRST), "key-%d" % FLAP_FIRST)
            try:
                login_ok = flap.connect() == 0
            except Exception:
                login_ok = False
            flap.close()
            metrics_ok = d.http_get("/metrics")[0] == 200
        if all(not v for v in socks.values()):
            break
        time.sleep(args.trickle)
    elapsed = time.monotonic() - t0
    still = {name: len(v) for name, v in socks.items()}
    for v in socks.values():
        for s in v:
            s.close()
    probe.figure("connections", args.slow_conns)
    probe.figure("refused_at_connect", refused)
    probe.figure("still_open_after_s", {"seconds": round(elapsed, 1), **still})
    probe.figure("device_login_while_held", login_ok)
    probe.figure("metrics_while_held", metrics_ok)
    limit = args.deadline + args.trickle * 3
    for name in targets:
        closed_at = next((i * args.trickle for i, n in enumerate(held[name]) if n == 0), None)
        probe.check("%s: trickling connections closed at the deadline" % name,
                    still[name] == 0 and closed_at is not None and closed_at <= limit,
                    "%d of %d still open after %.0f s (limit %.0f s)" % (still[name], args.slow_conns - refused[name],
                                                                         elapsed, limit))
    probe.check("a device logs in while they are held", bool(login_ok), "login %s" % login_ok)
    probe.check("/metrics answers while they are held", bool(metrics_ok), "/metrics %s" % metrics_ok)


# -- probe 7: login/logout flaps ----------------------------------------------------------------------


def probe_flaps(suite: Suite, probe: Probe) -> None:
    """5,000 device login/logout flaps: no fd or RSS leak."""
    d, args = suite.daemon, suite.args
    threads_n = 8
    counts = [0] * threads_n
    failed = [0] * threads_n

    def flapper(i: int) -> None:
        dev_id = str(FLAP_FIRST + i)
        for _ in range(args.flaps // threads_n):
            camera = Camera(d.ports["device"], dev_id, "key-" + dev_id)
            try:
                if camera.connect() == 0:
                    counts[i] += 1
                else:
                    failed[i] += 1
            except Exception:
                failed[i] += 1
            camera.close()

    rss0 = d.rss_mib()
    t0 = time.monotonic()
    workers = [threading.Thread(target=flapper, args=(i,)) for i in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.monotonic() - t0
    d.quiesce(60)
    online = d.sql("SELECT count(*) FROM device WHERE dev_id::bigint BETWEEN %s AND %s AND online",
                   (FLAP_FIRST, FLAP_FIRST + threads_n - 1)) if _has_column(d, "device", "online") else [[None]]
    probe.note("%d login/logout flaps (connect, LOGIN_REQ, ABILITYUP_REQ, close) of %d devices in %d threads"
               % (args.flaps, threads_n, threads_n))
    probe.figure("flaps", sum(counts))
    probe.figure("failed", sum(failed))
    probe.figure("per_s", round(sum(counts) / seconds, 1))
    probe.figure("rss_mib", [round(rss0, 1), round(d.rss_mib(), 1)])
    probe.figure("still_online_in_db", online[0][0])
    say("  %d flaps in %.1f s (%.0f/s), %d failed" % (sum(counts), seconds, sum(counts) / seconds, sum(failed)))
    probe.check("every flap logged in", sum(failed) == 0, "%d of %d failed" % (sum(failed), args.flaps))
    probe.check("no RSS leak (growth < 16 MiB)", d.rss_mib() - rss0 < 16, "%.1f -> %.1f MiB" % (rss0, d.rss_mib()))
    if online[0][0] is not None:
        probe.check("flapped devices recorded offline", online[0][0] == 0, "%s still online" % online[0][0])


def _has_column(d: Daemon, table: str, column: str) -> bool:
    return bool(d.sql("SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
                      (table, column)))


# -- probe 8: a relay client that stops reading -----------------------------------------------------------


def probe_slowreader(suite: Suite, probe: Probe) -> None:
    """An RTSP relay client that stops reading: logged with its real cause, other streams unaffected."""
    d, args = suite.daemon, suite.args
    log0 = d.log_size()
    urls = [suite.phone.video_play(HONEST_DEVID).get("RelayPlayUrl") or "" for _ in range(2)]
    reader, stalled = RtspPlayer(urls[0]), RtspPlayer(urls[1], rcvbuf=4096)
    codes = (reader.play(), stalled.play())
    probe.note("two streams of the honest camera (~2 MB/s each) through the relay; one client reads, the other"
               " stops reading after PLAY (4 KiB receive buffer) for %g s" % args.stall)
    if codes != (200, 200):
        probe.check("both streams play", False, "PLAY answered %s" % (codes,))
        reader.close()
        stalled.close()
        return
    rss0 = d.rss_mib()
    reader.read_for(args.stall)
    samples = []
    t0 = time.monotonic()
    while not reader.reading.is_set():
        samples.append((time.monotonic() - t0, reader.received, d.rss_mib()))
        time.sleep(1)
    rates = [(b2 - b1) / (t2 - t1) for (t1, b1, _), (t2, b2, _) in zip(samples, samples[1:])]
    peak = max(s[2] for s in samples)
    try:
        stalled.sock.setblocking(False)
        stalled_open = stalled.sock.recv(1) != b""
    except BlockingIOError:
        stalled_open = True
    except OSError:
        stalled_open = False
    reader.close()
    stalled.close()
    time.sleep(1)
    wrong, wrong_lines = d.grep(log0, r"no media from upstream")
    right, right_lines = d.grep(log0, r"(?i)(client|player).{0,60}(not read|stopped reading|slow|buffer|backlog|"
                                      r"write)|(not read|stopped reading|slow reader|too slow)")
    probe.figure("reader_bytes", reader.received)
    probe.figure("reader_min_rate_kb_s", round(min(rates) / 1000, 1) if rates else None)
    probe.figure("rss_mib_peak", round(peak, 1))
    probe.figure("stalled_still_open", stalled_open)
    probe.figure("log_cause", right_lines[:2] or wrong_lines[:2])
    say("  the reading client got %d bytes in %g s (lowest 1-s rate %.0f kB/s); the stalled one %s; RSS %.1f ->"
        " peak %.1f MiB" % (reader.received, args.stall, min(rates) / 1000 if rates else 0,
                            "still open" if stalled_open else "closed by the relay", rss0, peak))
    probe.check("the other stream unaffected (>= 1 MB/s every second, not closed)",
                bool(rates) and min(rates) >= 1e6 and reader.closed_at is None,
                "lowest %.0f kB/s%s" % (min(rates) / 1000 if rates else 0,
                                        ", closed by the relay" if reader.closed_at else ""))
    probe.check("the relay's memory bounded while a client stalls (peak growth < 64 MiB)", peak - rss0 < 64,
                "%.1f -> %.1f MiB" % (rss0, peak))
    probe.check("the real cause logged (a client not reading), not 'no media from upstream'",
                right > 0 and wrong == 0, "'no media from upstream' %d lines; a client-side cause %d lines: %s"
                % (wrong, right, (right_lines or wrong_lines or ["-"])[0]))


# -- probe 9: PostgreSQL killed mid-alarm-load ------------------------------------------------------------


OUTAGE_LINES_MAX = 6


def probe_pgkill(suite: Suite, probe: Probe) -> None:
    """PostgreSQL killed (SIGKILL to the embedded postmaster) mid-alarm-load: acknowledged == stored."""
    d, args = suite.daemon, suite.args
    cameras = [Camera(d.ports["device"], str(LOAD_FIRST + i), "key-%d" % (LOAD_FIRST + i)) for i in range(4)]
    for camera in cameras:
        camera.connect()
    acked: list[str] = []
    refused: dict = {}
    stop = threading.Event()

    def load(camera: Camera) -> None:
        n = 0
        while not stop.is_set():
            desc = "load-%s-%d" % (camera.dev_id, n)
            n += 1
            try:
                if not camera.online():
                    if camera.connect() != 0:
                        time.sleep(0.5)
                        continue
                r = camera.alarm(desc, timeout=10, dido_no=n)
            except Exception as e:
                r = type(e).__name__
                time.sleep(0.2)
            if r == 0:
                acked.append(desc)
            else:
                refused[r] = refused.get(r, 0) + 1
            time.sleep(0.02)

    log0 = d.log_size()
    workers = [threading.Thread(target=load, args=(c,), daemon=True) for c in cameras]
    for w in workers:
        w.start()
    time.sleep(3)
    postmaster = d.postmaster()
    acked_before = len(acked)
    d.close_db()
    os.kill(postmaster, signal.SIGKILL)
    killed_at = time.monotonic()
    probe.note("4 cameras sending ALARM_NOTIFY_REQ back to back (unique AlarmDesc each); after 3 s"
               " (%d acknowledged) SIGKILL to the postmaster (pid %d); load goes on for up to %g s"
               % (acked_before, postmaster, args.recovery))
    states = []
    recovered = None
    while time.monotonic() - killed_at < args.recovery:
        if not d.alive():
            break
        code = d.health()
        states.append(code)
        if code == 200 and len(states) > 1:
            recovered = time.monotonic() - killed_at
            # the honest round trips need the database: judge them from the recovery on
            probe.figure("honest_failures_during_outage", len(suite.honest.failures))
            suite.honest.reset()
            break
        time.sleep(1)
    if recovered is not None:
        time.sleep(3)  # alarms after the recovery
    stop.set()
    for w in workers:
        w.join(15)
    for camera in cameras:
        camera.close()
    exit_status = d.proc.poll()
    outcome = ("recovered: /health 200 %.1f s after the kill" % recovered if recovered is not None else
               "exited with status %s" % exit_status if exit_status is not None else
               "neither: alive, /health %s after %g s" % (states[-1] if states else None, args.recovery))
    outage, outage_lines = d.grep(log0, r"(?i)(database|postgres|store|pool).{0,80}(unavailable|down|lost|gone|"
                                        r"unreachable|terminat|closed|refused|not answer)", limit=50)
    logged = d.log_since(log0)
    probe.figure("outcome", outcome)
    probe.figure("acked_before_kill", acked_before)
    probe.figure("refused_answers", {str(k): v for k, v in refused.items()})
    probe.figure("outage_log_lines", outage)
    probe.figure("tracebacks", logged["tracebacks"])
    say("  %s; %d alarms acknowledged, other answers %s; %d log lines about the outage, %d tracebacks"
        % (outcome, len(acked), refused, outage, logged["tracebacks"]))
    restarted = False
    if not (d.alive() and recovered is not None):
        # count what was stored: a daemon on the same data_dir starts the embedded PostgreSQL again
        if d.alive():
            d.stop()
        d.start()
        restarted = True
    stored = {row[0] for row in d.sql("SELECT alarm_desc FROM alarm WHERE alarm_desc LIKE 'load-%%'")}
    acked_set = set(acked)
    probe.figure("acknowledged", len(acked_set))
    probe.figure("stored", len(stored))
    probe.figure("daemon_restarted_by_suite_to_count", restarted)
    probe.check("the daemon recovers (/health 200 within %g s) or exits non-zero" % args.recovery,
                recovered is not None or (exit_status not in (None, 0)), outcome)
    probe.check("acknowledged alarms == stored alarms", acked_set == stored,
                "%d acknowledged, %d stored; acknowledged but not stored %d, stored but not acknowledged %d"
                % (len(acked_set), len(stored), len(acked_set - stored), len(stored - acked_set)))
    # once, not per request: the pool's start and end lines once each, and a handful of lines in all
    # (start, the first reconnection failure's reason, the postmaster's death and restart, end)
    # however many queries were refused meanwhile
    starts = sum(1 for line in outage_lines if "database connection lost" in line)
    ends = sum(1 for line in outage_lines if "database connections restored" in line)
    probe.check("the outage logged once, not per request",
                starts == 1 and ends <= 1 and outage <= OUTAGE_LINES_MAX,
                "%d lines about it (at most %d), 'connection lost' %d, 'restored' %d, while %d answers were"
                " refused%s" % (outage, OUTAGE_LINES_MAX, starts, ends, sum(refused.values()),
                                ("; first: " + outage_lines[0]) if outage_lines else ""))
    if restarted:
        # the honest peers were on the old process: bring them back for the after-probe checks
        suite.camera.connect()
        suite.phone.login()


PROBE_FUNCTIONS = {"fuzz": probe_fuzz, "xml": probe_xml, "creds": probe_creds, "tokens": probe_tokens,
                   "ssrf": probe_ssrf, "slowloris": probe_slowloris, "flaps": probe_flaps,
                   "slowreader": probe_slowreader, "pgkill": probe_pgkill}


# -- the report --------------------------------------------------------------------------------------


def summary(results: list[Probe]) -> None:
    say("\n== summary")
    say("| probe | result | checks failed | seconds | RSS MiB before -> after | fds before -> after | tracebacks |")
    say("| --- | --- | --- | --- | --- | --- | --- |")
    for p in results:
        f = p.figures
        failed = [label for label, ok, _ in p.checks if not ok]
        say("| %s | %s | %s | %s | %s -> %s | %s -> %s | %s |" % (
            p.name, "PASS" if p.passed else "FAIL", "; ".join(failed) or "-", f.get("seconds"),
            f.get("rss_mib_before"), f.get("rss_mib_after"), f.get("fds_before"), f.get("fds_after"),
            f.get("log", {}).get("tracebacks")))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10**6, help="fuzzed device frames (default 10^6)")
    parser.add_argument("--only", default="", help="comma-separated probes to run (default all: %s)"
                        % ",".join(PROBES))
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (daemon.log, data_dir)")
    parser.add_argument("--fuzz-procs", type=int, default=4, help="fuzzing processes (default 4)")
    parser.add_argument("--fuzz-devices", type=int, default=32, help="devices the fuzz links log in as")
    parser.add_argument("--per-link", type=int, default=2000, help="fuzzed frames per link (default 2000)")
    parser.add_argument("--fuzz-timeout", type=float, default=900, help="give up on the fuzzers after S s")
    parser.add_argument("--oversize-timeout", type=float, default=40, help="wait S s for an ABILITYUP answer")
    parser.add_argument("--soap-bombs", type=int, default=230, help="20,000-attribute SOAP bodies (default 230)")
    parser.add_argument("--guesses", type=int, default=60, help="wrong passwords / DevKeys (default 60)")
    parser.add_argument("--tokens", type=int, default=1000, help="random play tokens (default 1000)")
    parser.add_argument("--slow-conns", type=int, default=300, help="slowloris connections per listener")
    parser.add_argument("--deadline", type=int, default=5, help="request deadline set for the run, s (default 5)")
    parser.add_argument("--trickle", type=float, default=2.0, help="seconds between two slowloris bytes")
    parser.add_argument("--slow-hold", type=float, default=30.0, help="hold slowloris connections up to S s")
    parser.add_argument("--flaps", type=int, default=5000, help="login/logout flaps (default 5000)")
    parser.add_argument("--stall", type=float, default=20.0, help="seconds a relay client stops reading")
    parser.add_argument("--recovery", type=float, default=40.0, help="seconds allowed to recover from pgkill")
    args = parser.parse_args(argv)
    args.only = [p for p in args.only.split(",") if p] or list(PROBES)
    unknown = set(args.only) - set(PROBES)
    if unknown:
        parser.error("unknown probe(s) %s; known: %s" % (", ".join(sorted(unknown)), ", ".join(PROBES)))
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    info = machine()
    say("machine: nproc %(nproc)d, %(cpu)s, %(memory_gib)s GiB, Linux %(kernel)s, Python %(python)s,"
        " open files %(nofile)s" % info)
    commit = git_commit()
    say("kandian at commit %s; probes %s; %d fuzzed frames" % (commit or "?", ",".join(args.only), args.frames))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    directory = tempfile.mkdtemp(prefix="kandian-hostile-")
    os.chmod(directory, 0o755)  # the embedded PostgreSQL runs as an unprivileged user
    suite = Suite(args, directory)
    t0 = time.monotonic()
    try:
        suite.start()
        for name in PROBES:
            if name in args.only:
                suite.run(name, PROBE_FUNCTIONS[name])
    finally:
        stop_status = suite.daemon.stop() if suite.daemon.proc is not None else None
        reap_all(signal.SIGTERM, 5.0)
        if args.keep:
            say("kept %s" % directory)
        else:
            shutil.rmtree(directory, ignore_errors=True)
    summary(suite.results)
    failed = [p.name for p in suite.results if not p.passed]
    say("\n%d of %d probes passed in %.0f s; daemon stopped with status %s%s"
        % (len(suite.results) - len(failed), len(suite.results), time.monotonic() - t0, stop_status,
           "; FAILED: " + ", ".join(failed) if failed else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "commit": commit, "args": vars(args),
                       "probes": [p.as_dict() for p in suite.results]}, f, indent=1, default=str)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
