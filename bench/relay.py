"""RTSP relay: one stream's throughput and many 2 Mbit/s streams (PRODUCT.md:
one stream >= 90 % of ``twisted.protocols.portforward``'s throughput measured
in the same run; 1,000 concurrent 2 Mbit/s streams on one core).

Every party is a process of its own, all on the epoll reactor:

* the **camera**: a Twisted RTSP server that answers OPTIONS, DESCRIBE,
  SETUP (``RTP/AVP/TCP;interleaved=0-1``), PLAY and TEARDOWN, then sends
  ``$`` interleaved frames of 1,400 bytes (an RTP header and payload; 1,404
  bytes with the ``$`` header) -- either as fast as the socket takes them
  (``flood``: a streaming producer writing runs of 46 frames, 64,584 bytes)
  or paced (``paced``: ``--fps`` frames a second per session, sent in bursts
  at ``--burst-hz`` as a camera sends each video frame's packets together;
  the sessions' bursts are spread over the burst period and a late tick
  catches up, so each session is offered exactly its rate);
* the **middle-man**: the kandian relay (``RelayFactory`` with a static
  authorizer that sends every request to the camera), or the baseline
  ``twisted.protocols.portforward.ProxyFactory`` (which, in Twisted 26.10,
  registers each side as the other's streaming producer: it has
  back-pressure, like the relay), or none (direct);
* the **player**: does the RTSP handshake for each of its sessions, then
  counts the bytes it reads (the first MiB of each session is decoded and
  checked: whole 1,404-byte frames on channel 0, nothing else).

One run measures:

1. **one stream**: flood camera -> middle-man -> player, ``--seconds`` per
   run after ``--warmup``, ``--runs`` runs of each of relay, portforward and
   direct in rotating order; MB/s (10^6 bytes) median, MB per CPU-second of
   the middle-man, and relay / portforward against the 90 % target; then
   py-spy on each middle-man for one more (untimed) stretch;
2. **N streams** (``--streams``, default 100,250,500,1000, added step by
   step), through the relay and then, as the baseline, through portforward:
   paced camera -> middle-man -> sink; over a steady ``--window`` (10 s) the
   middle-man's CPU (utime + stime from /proc/PID/stat per wall second = %
   of one core), its RSS, and each stream's bytes against the nominal rate
   (streams under 95 % counted), the longest gap between two reads of a
   stream; the camera's and the sink's CPU too, and whether the camera kept
   up (what it offered against the nominal rate);
3. **profile** of the relay at the largest N (py-spy ``--native --idle``,
   after the measured window, not during it): share of the busy samples by
   part, own and inclusive, and the relay's CPU per relayed frame by part.

With ``--pin`` (the default on a 2-core machine) the middle-man runs on CPU
1 and the camera and the player share CPU 0, so "on one core" is literal,
the middle-man never competes with the load generator, and the "direct" row
is the ceiling of camera + player on one core.  Other load: before each
window the script waits (polling every 30 s; ``--max-wait`` seconds in all)
until other processes use less than 0.15 of a core, measures what they used
during the window, and measures a disturbed window again (``--retries``).

    python bench/relay.py [--runs 5] [--seconds 5] [--streams 100,250,500,1000]
        [--window 10] [--fps 180] [--burst-hz 25] [--no-pin] [--no-baseline]
        [--no-profile] [--only one|many] [--json PATH] [--keep]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

# bench/_measure.py, beside this script
from _measure import (
    CLK_TCK,
    QUIET_CORES,
    cpu_model,
    describe_spread,
    die_with_parent as _die_with_parent,
    folded_stacks,
    git_commit,
    headline,
    machine_busy,
    memory_gib,
    proc_stat as _stat,
    process_cpu,
    say,
    say_state,
    spread,
)

HERE = os.path.abspath(__file__)
BIN = os.path.dirname(sys.executable)

PAYLOAD = 1400  # RTP header + payload per interleaved frame
FRAME = PAYLOAD + 4  # on the wire, with '$', channel and length
CHECK_BYTES = 1 << 20  # decoded and checked at the start of each player session
DEVID = "81100000001"
QUERY = "/realplay?devid=%s&channelno=0&streamtype=1&hashtoken=" % DEVID
TARGET_RATIO = 1.00  # issue 19: one stream at or above portforward
TARGET_CPU_RATIO = 1.00  # and per byte no more CPU than portforward (MB per CPU-second, relay / portforward)
TARGET_STREAMS = 1000
RATE_OK = 0.95  # a stream kept its rate when it received >= 95 % of the nominal bytes


# -- the camera ---------------------------------------------------------------------------------------


def rtp_frame(seq: int) -> bytes:
    header = bytes([0x80, 96]) + seq.to_bytes(2, "big") + (seq * 500).to_bytes(4, "big") + b"\x12\x34\x56\x78"
    return b"$\x00" + PAYLOAD.to_bytes(2, "big") + header + bytes(range(256)) * 5 + b"\x00" * (PAYLOAD - 12 - 1280)


def run_camera(args) -> None:
    from twisted.internet import epollreactor
    epollreactor.install()
    from twisted.internet import reactor, task
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.internet.interfaces import IPushProducer
    from twisted.internet.protocol import Factory, Protocol
    from zope.interface import implementer

    from kandian.rtsp.message import Request, Response, RTSPDecoder

    frames = [rtp_frame(n) for n in range(64)]
    run = b"".join(frames[: (1 << 16) // FRAME])  # 46 frames, 64,584 bytes: one write of the flood
    bursts: dict[int, bytes] = {}

    def burst(n: int) -> bytes:
        data = bursts.get(n)
        if data is None:
            data = bursts[n] = b"".join(frames[i % 64] for i in range(n))
        return data

    sessions: list = []
    pacer_slots: list[list] = [[] for _ in range(max(1, round(200 / args.burst_hz)))]

    @implementer(IPushProducer)
    class Camera(Protocol):
        def connectionMade(self):
            self.decoder = RTSPDecoder()
            self.sent = 0
            self.frames = 0
            self.playing = False
            self.paused = False
            self.start = 0.0
            self.index = len(sessions)
            sessions.append(self)

        def dataReceived(self, data):
            for event in self.decoder.feed(data):
                if isinstance(event, Request):
                    self.answer(event)

        def answer(self, request):
            headers = [("CSeq", str(request.cseq)), ("Server", "bench-camera")]
            body = b""
            if request.method == "OPTIONS":
                headers.append(("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN"))
            elif request.method == "DESCRIBE":
                base = "rtsp://127.0.0.1:%d%sCAMERA" % (self.factory.port, QUERY)
                body = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=bench\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                        b"m=video 0 RTP/AVP/TCP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n")
                headers += [("Content-Base", base + "/"), ("Content-Type", "application/sdp")]
            elif request.method == "SETUP":
                headers += [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"), ("Session", "BENCH;timeout=60")]
            elif request.method == "PLAY":
                headers += [("Session", "BENCH"), ("Range", "npt=0.000-")]
            self.transport.write(Response(200, "OK", headers, body).to_bytes())
            if request.method == "PLAY" and not self.playing:
                self.playing = True
                self.start = time.monotonic()
                if args.mode == "flood":
                    self.transport.registerProducer(self, True)
                    self.resumeProducing()
                else:
                    pacer_slots[self.index % len(pacer_slots)].append(self)
            elif request.method == "TEARDOWN":
                self.transport.loseConnection()

        # flood: a streaming producer, paused by the transport when its buffer is full
        def resumeProducing(self):
            self.paused = False
            while not self.paused and self.transport.connected and not self.transport.disconnecting:
                self.transport.write(run)
                self.sent += len(run)

        def pauseProducing(self):
            self.paused = True

        def stopProducing(self):
            self.paused = True

        # paced: the frames due since PLAY, sent by the pacer
        def pace(self, now):
            due = int((now - self.start) * args.fps) - self.frames
            if due > 0:
                self.transport.write(burst(due) if due <= 256 else burst(1) * due)
                self.frames += due
                self.sent += due * FRAME

        def connectionLost(self, reason):
            self.playing = False
            for slot in pacer_slots:
                if self in slot:
                    slot.remove(self)

    tick = [0]

    def pace_slot():
        now = time.monotonic()
        slot = pacer_slots[tick[0] % len(pacer_slots)]
        tick[0] += 1
        for camera in slot:
            camera.pace(now)

    factory = Factory.forProtocol(Camera)

    def control(line: str) -> dict:
        if line == "snap":
            return {"t": time.monotonic(), "sent": [s.sent for s in sessions],
                    "playing": sum(1 for s in sessions if s.playing)}
        return {"error": "unknown command %r" % (line,)}

    def listening(port):
        factory.port = port.getHost().port
        if args.mode == "paced":
            task.LoopingCall(pace_slot).start(1.0 / (args.burst_hz * len(pacer_slots)))
        serve_control(control, {"port": factory.port, "pid": os.getpid()})

    TCP4ServerEndpoint(reactor, 0, backlog=2048, interface="127.0.0.1").listen(factory).addCallback(listening)
    reactor.run()


# -- the middle-men -------------------------------------------------------------------------------------


def run_relay(args) -> None:
    from twisted.internet import epollreactor
    epollreactor.install()
    from twisted.internet import defer, reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint

    from kandian.rtsp.relay import RelayFactory, Upstream

    begin_logging(args.log)
    base = "rtsp://127.0.0.1:%d%sCAMERA" % (args.upstream, QUERY)

    class StaticAuthorizer:
        """Every request goes to the bench camera (the platform's authorizer checks a token in PostgreSQL)."""

        upstream = Upstream(DEVID, [("127.0.0.1", args.upstream, base)])

        def authorize(self, request, peer):
            return defer.succeed(self.upstream)

        def release(self, key):
            pass

    factory = RelayFactory(StaticAuthorizer(), reactor)

    def control(line: str) -> dict:
        if line == "stats":
            s = factory.stats
            return {"active": s.active, "sessions": s.sessions, "bytes_to_client": s.bytes_to_client,
                    "bytes_to_upstream": s.bytes_to_upstream,
                    "refusals": {"%s %s" % k: v for k, v in s.refusals.items()}}
        return {"error": "unknown command %r" % (line,)}

    def listening(port):
        serve_control(control, {"port": port.getHost().port, "pid": os.getpid()})

    TCP4ServerEndpoint(reactor, 0, backlog=2048, interface="127.0.0.1").listen(factory).addCallback(listening)
    reactor.run()


def run_portforward(args) -> None:
    from twisted.internet import epollreactor
    epollreactor.install()
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.protocols.portforward import ProxyFactory

    begin_logging(args.log)
    factory = ProxyFactory("127.0.0.1", args.upstream)

    def listening(port):
        serve_control(lambda line: {"error": "no commands"}, {"port": port.getHost().port, "pid": os.getpid()})

    TCP4ServerEndpoint(reactor, 0, backlog=2048, interface="127.0.0.1").listen(factory).addCallback(listening)
    reactor.run()


# -- the player ---------------------------------------------------------------------------------------


def run_player(args) -> None:
    from twisted.internet import epollreactor
    epollreactor.install()
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
    from twisted.internet.protocol import Protocol

    from kandian.rtsp.message import InterleavedRun, Request, Response, RTSPDecoder

    url = "rtsp://127.0.0.1:%d%s" % (args.target, QUERY)
    sessions: list = []
    state = {"failed": 0, "bad": 0, "waiting": None}

    class Player(Protocol):
        def __init__(self, index):
            self.index = index
            self.url = url + "PLAYER%d" % (index,)
            self.decoder = RTSPDecoder(coalesce_interleaved=True)
            self.cseq = 0
            self.bytes = 0
            self.checked = 0
            self.playing = False
            self.failed = None
            self.last = 0.0
            self.gap = 0.0  # longest time between two reads since the last snap

        def send(self, method, uri, headers=()):
            self.cseq += 1
            self.transport.write(Request(method, uri, [("CSeq", str(self.cseq)), *headers]).to_bytes())

        def connectionMade(self):
            self.send("DESCRIBE", self.url, [("Accept", "application/sdp")])

        def dataReceived(self, data):
            if self.checked >= CHECK_BYTES:  # the steady state: count
                self.bytes += len(data)
                now = time.monotonic()
                if now - self.last > self.gap:
                    self.gap = now - self.last
                self.last = now
                return
            try:
                events = self.decoder.feed(data)
            except ValueError as e:
                return self.fail("bad RTSP: %s" % (e,))
            for event in events:
                if type(event) is InterleavedRun:
                    if not self.playing or event.frames * FRAME != len(event.data) or \
                            any(f.channel != 0 or len(f.data) != PAYLOAD for f in event.split()):
                        state["bad"] += 1
                        return self.fail("unexpected media %d bytes" % (len(event.data),))
                    self.bytes += len(event.data)
                    self.checked += len(event.data)
                elif isinstance(event, Response):
                    self.response(event)
                else:
                    return self.fail("unexpected %r" % (event,))
            if self.checked >= CHECK_BYTES:
                self.bytes += self.decoder.buffered  # a partial frame: counted now, the rest raw
                self.last = time.monotonic()

        def response(self, response):
            if response.code != 200:
                return self.fail("%d %s" % (response.code, response.reason))
            if self.cseq == 1:
                self.send("SETUP", self.url + "/trackID=0", [("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")])
            elif self.cseq == 2:
                self.session = response.session_id
                self.send("PLAY", self.url + "/", [("Session", self.session), ("Range", "npt=0.000-")])
            elif self.cseq == 3:
                self.playing = True
                check_ready()

        def fail(self, why):
            if self.failed is None:
                self.failed = why
                state["failed"] += 1
                log_line("session %d failed: %s" % (self.index, why))
                self.transport.loseConnection()
                check_ready()

        def connectionLost(self, reason):
            if not self.playing and self.failed is None:
                self.fail("closed before PLAY: %s" % (reason.getErrorMessage(),))
            elif self.playing and self.failed is None:
                self.failed = "closed while playing"
                state["failed"] += 1
                log_line("session %d closed while playing" % (self.index,))

    def log_line(text):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def connect_failed(failure, index):
        state["failed"] += 1
        log_line("session %d: connect failed: %s" % (index, failure.getErrorMessage()))
        check_ready()

    def check_ready():
        waiting = state["waiting"]
        if waiting is None:
            return
        target, respond = waiting
        playing = sum(1 for s in sessions if s.playing and s.failed is None)
        if playing + state["failed"] >= target:
            state["waiting"] = None
            respond({"playing": playing, "failed": state["failed"], "bad": state["bad"]})

    def open_sessions(target, respond):
        state["waiting"] = (target, respond)
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", args.target, timeout=30)
        batch = max(1, int(args.connect_rate / 50))

        def more():
            start = len(sessions)
            for index in range(start, min(target, start + batch)):
                player = Player(index)
                sessions.append(player)
                connectProtocol(endpoint, player).addErrback(connect_failed, index)
            if len(sessions) < target:
                reactor.callLater(0.02, more)
            else:
                check_ready()

        more()

    def control(line: str, respond) -> None:
        command, _, arg = line.partition(" ")
        if command == "open":
            open_sessions(int(arg), respond)
        elif command == "snap":
            now = time.monotonic()
            gaps = [max(s.gap, now - s.last) if s.last else 0.0 for s in sessions]
            for s in sessions:
                s.gap = 0.0
            respond({"t": now, "bytes": [s.bytes for s in sessions], "gaps": gaps,
                     "playing": sum(1 for s in sessions if s.playing and s.failed is None),
                     "failed": state["failed"], "bad": state["bad"]})
        else:
            respond({"error": "unknown command %r" % (line,)})

    serve_control(control, {"pid": os.getpid()}, asynchronous=True)
    reactor.run()


# -- child side of the control pipe ---------------------------------------------------------------------


def serve_control(handler, hello: dict, asynchronous: bool = False) -> None:
    """Line commands on stdin, one JSON answer a line on stdout; *hello* first. EOF on stdin stops."""
    from twisted.internet import reactor, stdio
    from twisted.protocols.basic import LineReceiver

    class Control(LineReceiver):
        delimiter = b"\n"

        def connectionMade(self):
            self.answer(hello)

        def answer(self, data):
            self.transport.write(json.dumps(data).encode() + b"\n")

        def lineReceived(self, line):
            text = line.decode().strip()
            if asynchronous:
                handler(text, self.answer)
            else:
                self.answer(handler(text))

        def connectionLost(self, reason):
            if reactor.running:
                reactor.stop()

    stdio.StandardIO(Control())


def begin_logging(path: str) -> None:
    """Info and up to a file, as ``twistd`` would log."""
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )
    stream = open(path, "a", encoding="utf-8")
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(textFileLogObserver(stream), [LogLevelFilterPredicate(LogLevel.info)])],
        redirectStandardIO=False)


# -- parent side: processes, /proc ------------------------------------------------------------------------


_children: list[Child] = []


class Child:
    """A role of this script in a process of its own, driven over its stdin/stdout."""

    def __init__(self, name: str, role: list[str], directory: str, cpus: str | None = None):
        self.name = name
        self.err = os.path.join(directory, name + ".err")
        command = [sys.executable, HERE, "--role", *role]
        if cpus is not None:
            command = ["taskset", "-c", cpus, *command]
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                         preexec_fn=_die_with_parent, cwd=os.path.dirname(os.path.dirname(HERE)))
        _children.append(self)
        self.hello = self.read(30.0)
        self.pid = self.proc.pid  # taskset execs, so it is the Python process

    def read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError("%s: no answer in %.0f s%s" % (self.name, timeout, self.tail()))
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("%s exited (%s)%s" % (self.name, self.proc.poll(), self.tail()))
        return json.loads(line)

    def ask(self, command: str, timeout: float = 30.0) -> dict:
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()
        return self.read(timeout)

    def tail(self) -> str:
        try:
            with open(self.err, errors="replace") as f:
                lines = f.readlines()[-15:]
        except OSError:
            return ""
        return (":\n" + "".join(lines)) if lines else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # EOF: the child stops its reactor
                self.proc.wait(5)
            except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self in _children:
            _children.remove(self)

    def cpu(self) -> tuple[float, float]:
        return cpu_times(self.pid)

    def rss_kib(self) -> int:
        return status_kib(self.pid, "VmRSS")


def stop_all() -> None:
    for child in reversed(list(_children)):
        child.stop()


def cpu_times(pid) -> tuple[float, float]:
    """(utime, stime) seconds of *pid*, all its threads."""
    fields = _stat(pid)
    if fields is None:
        return 0.0, 0.0
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def status_kib(pid, key: str) -> int:
    try:
        with open("/proc/%s/status" % (pid,)) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_steal() -> float:
    with open("/proc/stat") as f:
        return int(f.readline().split()[8]) / CLK_TCK


def ours() -> set[int]:
    return {os.getpid(), *(c.pid for c in _children)}


def other_load(sample: float = 2.0) -> tuple[float, list[tuple[str, float]]]:
    """Cores used by processes other than this benchmark's over *sample* seconds, and the top users."""
    before, busy0, t0 = process_cpu(), machine_busy(), time.monotonic()
    time.sleep(sample)
    after, busy1, t1 = process_cpu(), machine_busy(), time.monotonic()
    mine = ours()
    wall = t1 - t0
    ours_used = sum(after[p][1] - before[p][1] for p in mine if p in before and p in after)
    others = (busy1 - busy0 - ours_used) / wall
    top = sorted(((after[p][0], (after[p][1] - before[p][1]) / wall) for p in after
                  if p in before and p not in mine), key=lambda x: -x[1])[:5]
    return max(0.0, others), [(name, round(cores, 2)) for name, cores in top if cores >= 0.01]


_waited = [0.0]  # seconds waited for a quiet machine in this run, all phases together


def wait_for_quiet(what: str, max_wait: float, notes: list[str], verbose: bool = True) -> float:
    """Wait (poll every 30 s, up to *max_wait* seconds in the whole run) while other processes use
    >= QUIET_CORES; the cores they used at the last look."""
    waited = 0.0
    while True:
        with open("/proc/loadavg") as f:
            loadavg = " ".join(f.read().split()[:3])
        others, top = other_load()
        if others < QUIET_CORES:
            if verbose or waited:
                say("  [%s: quiet — others use %.2f cores; loadavg %s]" % (what, others, loadavg))
            return others
        if _waited[0] >= max_wait:
            note = "%s: other processes used %.2f cores (%s), the run's %.0f s of waiting spent; measured anyway" % (
                what, others, ", ".join("%s %.2f" % t for t in top), _waited[0])
            say("  [%s]" % note)
            notes.append(note)
            return others
        say("  [%s: busy — others use %.2f cores (%s), loadavg %s; waiting 30 s]" % (
            what, others, ", ".join("%s %.2f" % t for t in top), loadavg))
        time.sleep(30)
        waited += 32
        _waited[0] += 32


def machine() -> dict:
    model = cpu_model()
    import twisted
    return {"cores": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "memory_gib": memory_gib(),
            "python": "%s %s" % (platform.python_implementation(), platform.python_version()),
            "twisted": twisted.__version__, "reactor": "epoll",
            "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE))}


class Window:
    """CPU of some children and of the machine between two points."""

    def __init__(self, children: dict[str, Child]):
        self.children = children
        self.t0 = time.monotonic()
        self.cpu0 = {name: c.cpu() for name, c in children.items()}
        self.busy0 = machine_busy()
        self.steal0 = machine_steal()
        self.all0 = process_cpu()

    def end(self) -> dict:
        t1 = time.monotonic()
        wall = t1 - self.t0
        out = {"wall": wall}
        used = 0.0
        for name, child in self.children.items():
            (u0, s0), (u1, s1) = self.cpu0[name], child.cpu()
            out[name] = {"cpu": (u1 + s1 - u0 - s0) / wall, "user": (u1 - u0) / wall, "sys": (s1 - s0) / wall}
            used += u1 + s1 - u0 - s0
        after = process_cpu()
        me = os.getpid()
        used += after.get(me, ("", 0.0))[1] - self.all0.get(me, ("", 0.0))[1]
        out["others"] = max(0.0, (machine_busy() - self.busy0 - used) / wall)
        out["steal"] = (machine_steal() - self.steal0) / wall
        mine = {me, *(c.pid for c in self.children.values())}
        top = sorted(((after[p][0], (after[p][1] - self.all0[p][1]) / wall) for p in after
                      if p in self.all0 and p not in mine), key=lambda x: -x[1])[:3]
        out["others_top"] = [(name, round(cores, 2)) for name, cores in top if cores >= 0.02]
        return out


# -- 1. one stream ---------------------------------------------------------------------------------------


def disturbed(cpu: dict) -> bool:
    return cpu["others"] >= QUIET_CORES


def describe_others(cpu: dict) -> str:
    top = ", ".join("%s %.2f" % t for t in cpu["others_top"])
    return "others %.2f cores%s" % (cpu["others"], " (%s)" % top if top and disturbed(cpu) else "")


def middle_man(kind: str, upstream: int, directory: str, cpus: str | None, tag: str) -> Child:
    return Child("%s-%s" % (kind, tag), [kind, "--upstream", str(upstream),
                                         "--log", os.path.join(directory, "%s-%s.log" % (kind, tag))],
                 directory, cpus)


def one_stream(args, directory: str, notes: list[str]) -> dict:
    load_cpus, middle_cpus = ("0", "1") if args.pin else (None, None)
    camera = Child("camera-flood", ["camera", "--mode", "flood"], directory, load_cpus)
    port = camera.hello["port"]
    middles = {kind: middle_man(kind, port, directory, middle_cpus, "1") for kind in ("relay", "portforward")}
    targets = {"relay": middles["relay"].hello["port"], "portforward": middles["portforward"].hello["port"],
               "direct": port}
    order = ["relay", "portforward", "direct"]
    results: dict[str, list] = {name: [] for name in order}
    wait_for_quiet("one stream", args.max_wait, notes)
    for run in range(args.runs):
        for name in order[run % 3:] + order[: run % 3]:
            for attempt in range(args.retries + 1):
                wait_for_quiet("one stream, run %d, %s" % (run + 1, name), args.max_wait, notes, verbose=False)
                player = Child("player-%s-%d-%d" % (name, run, attempt), ["player", "--target", str(targets[name])],
                               directory, load_cpus)
                ready = player.ask("open 1")
                if ready["playing"] != 1:
                    raise RuntimeError("%s: the player did not play: %r%s" % (name, ready, player.tail()))
                time.sleep(args.warmup)
                watched = {"camera": camera, "player": player}
                if name in middles:
                    watched["middle"] = middles[name]
                first = player.ask("snap")
                window = Window(watched)
                time.sleep(args.seconds)
                last = player.ask("snap")
                cpu = window.end()
                if last["failed"] or last["bad"]:
                    raise RuntimeError("%s: player failed: %r%s" % (name, last, player.tail()))
                mbps = (last["bytes"][0] - first["bytes"][0]) / (last["t"] - first["t"]) / 1e6
                player.stop()
                result = {"mbps": mbps, "cpu": cpu, "disturbed": disturbed(cpu), "attempt": attempt + 1}
                if "middle" in cpu and cpu["middle"]["cpu"] > 0:
                    result["mb_per_cpu_s"] = mbps / cpu["middle"]["cpu"]
                say("  run %d %-12s %8.1f MB/s   CPU of a core: %s; %s%s" % (
                    run + 1, name, mbps, ", ".join("%s %.0f %%" % (k, 100 * cpu[k]["cpu"]) for k in watched),
                    describe_others(cpu), "" if not result["disturbed"] else
                    " -- disturbed, repeating" if attempt < args.retries else " -- disturbed, kept"))
                if not result["disturbed"]:
                    break
            if result["disturbed"]:
                notes.append("one stream, run %d, %s: other processes used %.2f cores during the window (%d attempts)"
                             % (run + 1, name, cpu["others"], args.retries + 1))
            results[name].append(result)
    relay_stats = middles["relay"].ask("stats")
    # back-pressure: a middle-man that read faster than it wrote would grow; both stay near their start size
    memory = {name: {"rss_kib": child.rss_kib(), "hwm_kib": status_kib(child.pid, "VmHWM")}
              for name, child in middles.items()}
    profiles = {}
    if args.profile:
        for name in ("relay", "portforward"):
            wait_for_quiet("profile of %s, one stream" % name, args.max_wait, notes, verbose=False)
            player = Child("player-%s-profile" % name, ["player", "--target", str(targets[name])], directory,
                           load_cpus)
            player.ask("open 1")
            time.sleep(args.warmup)
            profiles[name] = profile(middles[name], player, directory, args.seconds, "%s-1" % name)
            player.stop()
    for child in (*middles.values(), camera):
        child.stop()
    summary: dict = {}
    for name, runs in results.items():
        values = [r["mbps"] for r in runs]
        summary[name] = {"median": statistics.median(values), "min": min(values), "max": max(values),
                         "runs": runs, "others_max": max(r["cpu"]["others"] for r in runs),
                         "disturbed": sum(1 for r in runs if r["disturbed"])}
        if name in middles:
            summary[name]["mb_per_cpu_s"] = statistics.median(r["mb_per_cpu_s"] for r in runs)
    summary["ratio"] = summary["relay"]["median"] / summary["portforward"]["median"]
    # the same run's relay and portforward measured back to back: less exposed to drift than the medians
    paired = [r["mbps"] / p["mbps"] for r, p in zip(results["relay"], results["portforward"])]
    summary["paired"] = {"median": statistics.median(paired), "min": min(paired), "max": max(paired)}
    summary["cpu_ratio"] = summary["relay"]["mb_per_cpu_s"] / summary["portforward"]["mb_per_cpu_s"]
    summary.update(relay_stats=relay_stats, memory=memory, profiles=profiles)
    return summary


# -- 2. N streams ------------------------------------------------------------------------------------------


def many_streams(args, directory: str, notes: list[str]) -> dict:
    out: dict = {"nominal_bytes_per_s": args.fps * FRAME, "profile": None}
    kinds = ["relay"] + (["portforward"] if args.baseline else [])
    for kind in kinds:
        say("  through %s:" % kind)
        out[kind] = streams_through(kind, args, directory, notes, out)
    return out


def streams_through(kind: str, args, directory: str, notes: list[str], out: dict) -> dict:
    load_cpus, middle_cpus = ("0", "1") if args.pin else (None, None)
    camera = Child("camera-paced-%s" % kind, ["camera", "--mode", "paced", "--fps", str(args.fps),
                                              "--burst-hz", str(args.burst_hz)], directory, load_cpus)
    middle = middle_man(kind, camera.hello["port"], directory, middle_cpus, "n")
    sink = Child("sink-%s" % kind, ["player", "--target", str(middle.hello["port"])], directory, load_cpus)
    nominal = args.fps * FRAME  # bytes a second per stream
    steps = []
    rss_idle = middle.rss_kib()
    for n in args.streams:
        opened = sink.ask("open %d" % n, timeout=120)
        if opened["failed"] or opened["playing"] != n:
            raise RuntimeError("%s, N=%d: %r%s%s" % (kind, n, opened, sink.tail(), middle.tail()))
        time.sleep(args.settle)
        for attempt in range(args.retries + 1):
            wait_for_quiet("%s, N=%d" % (kind, n), args.max_wait, notes, verbose=False)
            cam0, sink0 = camera.ask("snap"), sink.ask("snap")
            window = Window({"middle": middle, "camera": camera, "sink": sink})
            time.sleep(args.window)
            cam1, sink1 = camera.ask("snap"), sink.ask("snap")
            cpu = window.end()
            if not disturbed(cpu) or attempt == args.retries:
                break
            say("    N=%-5d disturbed (%s), repeating" % (n, describe_others(cpu)))
        if disturbed(cpu):
            notes.append("%s, N=%d: other processes used %.2f cores during the window (%d attempts)" % (
                kind, n, cpu["others"], args.retries + 1))
        stats = middle.ask("stats")
        span = sink1["t"] - sink0["t"]
        received = [b1 - b0 for b0, b1 in zip(sink0["bytes"], sink1["bytes"])]
        ratios = sorted(r / (nominal * span) for r in received)
        cam_span = cam1["t"] - cam0["t"]
        offered = sorted((s1 - s0) / (nominal * cam_span) for s0, s1 in zip(cam0["sent"], cam1["sent"]))
        gaps = sorted(sink1["gaps"])
        total = sum(received) / span
        step = {
            "n": n, "middle_cpu": cpu["middle"], "camera_cpu": cpu["camera"], "sink_cpu": cpu["sink"],
            "others": cpu["others"], "others_top": cpu["others_top"], "disturbed": disturbed(cpu),
            "rss_kib": middle.rss_kib(), "hwm_kib": status_kib(middle.pid, "VmHWM"),
            "below": sum(1 for r in ratios if r < RATE_OK), "min_ratio": ratios[0],
            "median_ratio": statistics.median(ratios), "offered_min": offered[0],
            "offered_below": sum(1 for r in offered if r < RATE_OK),
            "mbytes_per_s": total / 1e6, "frames_per_s": total / FRAME,
            "gap_p50_ms": 1000 * gaps[len(gaps) // 2], "gap_p99_ms": 1000 * gaps[int(len(gaps) * 0.99)],
            "gap_max_ms": 1000 * gaps[-1], "active": stats.get("active"), "failed": sink1["failed"],
        }
        steps.append(step)
        say("    N=%-5d %s %5.1f %% of a core (user %.1f, sys %.1f), RSS %6.1f MiB | %6.1f MB/s, %6.0f frames/s | "
            "streams < 95 %%: %d (min %.1f %%) | camera %.0f %%, sink %.0f %%, %s | gap p99 %.0f ms" % (
                n, kind, 100 * cpu["middle"]["cpu"], 100 * cpu["middle"]["user"], 100 * cpu["middle"]["sys"],
                step["rss_kib"] / 1024, step["mbytes_per_s"], step["frames_per_s"], step["below"],
                100 * step["min_ratio"], 100 * cpu["camera"]["cpu"], 100 * cpu["sink"]["cpu"], describe_others(cpu),
                step["gap_p99_ms"]))
        if step["offered_below"]:
            say("      the camera itself offered < 95 %% on %d streams (min %.1f %%): it did not keep up" % (
                step["offered_below"], 100 * step["offered_min"]))
    if kind == "relay" and args.profile and steps:
        wait_for_quiet("profile of the relay, N=%d" % steps[-1]["n"], args.max_wait, notes, verbose=False)
        out["profile"] = profile(middle, sink, directory, args.profile_seconds, "relay-N%d" % steps[-1]["n"])
    for child in (sink, middle, camera):
        child.stop()
    return {"rss_idle_kib": rss_idle, "steps": steps}


# -- 3. profile --------------------------------------------------------------------------------------------

# what the relay spends its time on: share of the samples whose stack holds a matching frame
PARTS = [
    ("Twisted read (doRead: recv + dataReceived)", ("Connection.doRead",), "any"),
    ("  recv() syscall", ("sock_recv",), "any"),
    ("  relay: UpstreamConnection.dataReceived", ("UpstreamConnection.dataReceived",), "any"),
    ("  portforward: Proxy.dataReceived", ("Proxy.dataReceived",), "any"),
    ("    codec: RTSPDecoder.feed", ("RTSPDecoder.feed",), "any"),
    ("      scan_interleaved", ("scan_interleaved",), "any"),
    ("      InterleavedRun()", ("InterleavedRun.__init__",), "any"),
    ("    transport.write (buffer + startWriting)", ("FileDescriptor.write",), "any"),
    ("    relay: sent at once (kandian.sendnow.send_now)", ("send_now",), "any"),
    ("Twisted write (doWrite: send)", ("FileDescriptor.doWrite",), "any"),
    ("  send() syscall", ("sock_send",), "any"),
    ("epoll_ctl (startWriting / stopWriting)", ("EPollReactor._add", "EPollReactor._remove"), "any"),
    ("timers (callLater, relay _check)", ("runUntilCurrent",), "any"),
]


def profile(child: Child, player: Child, directory: str, seconds: float, tag: str) -> dict:
    """py-spy on *child* for *seconds* while *player* counts what comes through; the CPU and the bytes of
    that stretch give the cost per relayed frame."""
    spy = os.path.join(BIN, "py-spy")
    spy = spy if os.path.exists(spy) else shutil.which("py-spy")
    if spy is None:
        say("  (no profile: py-spy is not installed; .venv/bin/pip install py-spy)")
        return {"error": "py-spy not installed"}
    path = os.path.join(directory, "profile-%s.txt" % (tag,))
    rate = 100
    say("  profiling %s for %.0f s (py-spy record --native --idle, %d Hz) ..." % (tag, seconds, rate))
    first = player.ask("snap")
    window = Window({"profiled": child})
    done = subprocess.run([spy, "record", "--pid", str(child.pid), "--rate", str(rate), "--duration",
                           str(int(seconds)), "--format", "raw", "--native", "--idle", "--nolineno",
                           "-o", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=seconds + 60)
    cpu = window.end()
    last = player.ask("snap")
    if done.returncode != 0 or not os.path.exists(path):
        return {"error": done.stderr.decode(errors="replace")[-300:]}
    summary = summarize_profile(path)
    relayed = sum(last["bytes"]) - sum(first["bytes"])
    summary.update(tag=tag, cpu=cpu["profiled"], wall=cpu["wall"], bytes=relayed,
                   mbytes_per_s=relayed / (last["t"] - first["t"]) / 1e6)
    return summary


def summarize_profile(path: str, top: int = 12) -> dict:
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    parts: collections.Counter = collections.Counter()
    total = idle = 0
    for frames, n in folded_stacks(path):
        total += n
        if "epoll_wait" in frames[-1]:
            idle += n
            continue
        own[frames[-1]] += n
        for name in set(frames[1:]):
            inclusive[name] += n
        for label, needles, where in PARTS:
            hay = frames[-1:] if where == "leaf" else frames
            if any(needle in frame for frame in hay for needle in needles):
                parts[label] += n
    busy = total - idle
    pct = lambda n: 100.0 * n / busy if busy else 0.0  # noqa: E731  (share of the busy samples)
    return {"samples": total, "idle": idle, "busy": busy, "file": path,
            "parts": [(label, round(pct(parts[label]), 1)) for label, _, _ in PARTS],
            "own": [(name, round(pct(n), 1)) for name, n in own.most_common(top)],
            "inclusive": [(name, round(pct(n), 1)) for name, n in inclusive.most_common(top + 20)
                          if pct(n) < 90][:top]}


# -- report -------------------------------------------------------------------------------------------------


def report(one: dict | None, many: dict | None, args) -> None:
    if one is not None:
        say("\n== one stream, flood camera -> middle-man -> player, %d runs of %.0f s (MB/s = 10^6 bytes/s)" % (
            args.runs, args.seconds))
        say("  %-36s %8s %15s %13s %7s   %s" % ("path", "MB/s", "(min-max)", "MB/CPU-s mid", "others",
                                                "CPU of a core, median run: camera / middle / player"))
        for name, label in (("direct", "direct (no middle-man: the ceiling)"),
                            ("portforward", "twisted portforward (baseline)"), ("relay", "kandian relay")):
            s = one[name]
            mid = sorted(s["runs"], key=lambda r: r["mbps"])[len(s["runs"]) // 2]["cpu"]
            say("  %-36s %8.1f %15s %13s %7.2f   %s" % (
                label, s["median"], "(%.1f-%.1f)" % (s["min"], s["max"]),
                "%.0f" % s["mb_per_cpu_s"] if "mb_per_cpu_s" in s else "-", s["others_max"],
                " / ".join("%.0f %%" % (100 * mid[k]["cpu"]) if k in mid else "-"
                           for k in ("camera", "middle", "player"))))
        say("  peak RSS (VmHWM) after the flood runs: relay %.1f MiB, portforward %.1f MiB" % (
            one["memory"]["relay"]["hwm_kib"] / 1024, one["memory"]["portforward"]["hwm_kib"] / 1024))
        ratio = one["ratio"]
        say("  relay / portforward: %.1f %% (target >= %.0f %%: %s by %.1f points); per CPU-second of the "
            "middle-man: %.1f %% (target >= %.0f %%); run by run: median %.1f %% (%.1f-%.1f)" % (
                100 * ratio, 100 * TARGET_RATIO, "met" if ratio >= TARGET_RATIO else "missed",
                abs(100 * (ratio - TARGET_RATIO)), 100 * one["cpu_ratio"], 100 * TARGET_CPU_RATIO,
                100 * one["paired"]["median"], 100 * one["paired"]["min"], 100 * one["paired"]["max"]))
        paired = spread([100 * r["mbps"] / p["mbps"] for r, p in zip(one["relay"]["runs"], one["portforward"]["runs"])])
        cpu = spread([100 * r["mb_per_cpu_s"] / p["mb_per_cpu_s"]
                      for r, p in zip(one["relay"]["runs"], one["portforward"]["runs"])])
        why = ["%s run %d: others %.2f cores" % (name, i + 1, r["cpu"]["others"])
               for name in ("relay", "portforward") for i, r in enumerate(one[name]["runs"]) if r["disturbed"]]
        if len(one["relay"]["runs"]) < 3:
            why.append("fewer than 3 runs")
        headline("relay one stream / portforward (commit %s)" % git_commit(),
                 "%s; per byte of CPU %s; target >= 100 %% both: %s" % (
                     describe_spread(paired, unit=" %"), describe_spread(cpu, unit=" %"),
                     "met" if paired["median"] >= 100 * TARGET_RATIO and cpu["median"] >= 100 * TARGET_CPU_RATIO
                     else "missed"), why)
    if many is not None:
        say("\n== N paced streams of %.2f Mbit/s (%d frames/s of %d bytes, bursts at %.0f Hz)" % (
            many["nominal_bytes_per_s"] * 8 / 1e6, args.fps, FRAME, args.burst_hz))
        kinds = [k for k in ("relay", "portforward") if k in many]
        say("  RSS with no session: %s" % ", ".join(
            "%s %.1f MiB" % (k, many[k]["rss_idle_kib"] / 1024) for k in kinds))
        say("  %6s %-12s %9s %8s %8s %8s %8s %9s %10s %8s %8s %7s %s" % (
            "N", "middle-man", "CPU", "user/sys", "RSS MiB", "MB/s", "<95 %", "min strm", "camera", "sink",
            "others", "gap p99", "(ms)"))
        for i, n in enumerate(args.streams):
            for kind in kinds:
                steps = many[kind]["steps"]
                if i >= len(steps):
                    continue
                s = steps[i]
                say("  %6d %-12s %8.1f%% %8s %8.1f %8.1f %8d %8.1f%% %9.1f%% %7.1f%% %8.2f %7.0f" % (
                    n, kind, 100 * s["middle_cpu"]["cpu"],
                    "%.0f/%.0f" % (100 * s["middle_cpu"]["user"], 100 * s["middle_cpu"]["sys"]),
                    s["rss_kib"] / 1024, s["mbytes_per_s"], s["below"], 100 * s["min_ratio"],
                    100 * s["camera_cpu"]["cpu"], 100 * s["sink_cpu"]["cpu"], s["others"], s["gap_p99_ms"]))
        steps = many["relay"]["steps"]
        last = steps[-1] if steps else None
        if last is not None and len(steps) > 1:
            first = steps[0]
            per = (last["rss_kib"] - first["rss_kib"]) / (last["n"] - first["n"])
            say("  relay memory per stream: %.1f KiB (RSS slope from N=%d to N=%d; kernel socket buffers not "
                "included)" % (per, first["n"], last["n"]))
        if last is not None:
            core = last["middle_cpu"]["cpu"]
            met = last["n"] >= TARGET_STREAMS and core < 1.0 and last["below"] == 0
            say("  at N=%d: relay %.1f %% of one core, %d streams under 95 %% -> target (1,000 on one core): %s" % (
                last["n"], 100 * core, last["below"], "met" if met else "missed"))
            if last["frames_per_s"]:
                say("  relay CPU per relayed frame: %.2f us (%.2f ms per MB)" % (
                    1e6 * core / last["frames_per_s"], 1e3 * core / last["mbytes_per_s"]))
            base = many.get("portforward", {}).get("steps", [])
            if base and base[-1]["n"] == last["n"]:
                b = base[-1]["middle_cpu"]["cpu"]
                say("  portforward at N=%d: %.1f %% of one core; the relay uses %.2fx its CPU" % (
                    last["n"], 100 * b, core / b if b else float("nan")))
        if many.get("profile"):
            report_profile(many["profile"], "the relay at N=%d" % last["n"])
    if one is not None:
        for name, prof in one.get("profiles", {}).items():
            report_profile(prof, "%s, one flood stream" % name)


def report_profile(prof: dict, what: str) -> None:
    if "error" in prof:
        say("\n(profile of %s failed: %s)" % (what, prof["error"]))
        return
    frames = prof["bytes"] / FRAME
    us_frame = 1e6 * prof["cpu"]["cpu"] * prof["wall"] / frames if frames else 0.0
    say("\n== profile of %s (py-spy --native --idle, 100 Hz, %d samples, %.0f %% busy): %.1f MB/s relayed "
        "under the profiler with %.0f %% of a core (user %.0f, sys %.0f) = %.2f us a frame, %.2f ms a MB" % (
            what, prof["samples"], 100.0 * prof["busy"] / max(1, prof["samples"]), prof["mbytes_per_s"],
            100 * prof["cpu"]["cpu"], 100 * prof["cpu"]["user"], 100 * prof["cpu"]["sys"], us_frame,
            us_frame * 1e6 / FRAME / 1000))
    say("  %-52s %10s %14s" % ("part (inclusive)", "% of busy", "us a frame"))
    for label, busy_pct in prof["parts"]:
        say("  %-52s %10.1f %14.2f" % (label, busy_pct, us_frame * busy_pct / 100))
    say("  top own time (% of busy samples):")
    for name, p in prof["own"]:
        say("    %5.1f  %s" % (p, name))
    say("  top inclusive under 90 % (% of busy samples):")
    for name, p in prof["inclusive"]:
        say("    %5.1f  %s" % (p, name))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=5, help="runs of each path in the one-stream test")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds of each one-stream run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--streams", default="100,250,500,1000", help="N of each step, comma-separated")
    parser.add_argument("--window", type=float, default=10.0, help="measured seconds at each N")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds at each N before its window")
    parser.add_argument("--fps", type=int, default=180, help="frames a second of each paced stream")
    parser.add_argument("--burst-hz", type=float, default=25.0, help="bursts a second of each paced stream")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=os.cpu_count() == 2,
                        help="middle-man on CPU 1, camera and player on CPU 0 (default on a 2-core machine)")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="the N-stream steps through portforward too")
    parser.add_argument("--retries", type=int, default=2,
                        help="times a window is measured again when other processes used >= 0.15 cores in it")
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument("--only", choices=["one", "many"], help="run only one part")
    parser.add_argument("--max-wait", type=float, default=600.0,
                        help="seconds this run may spend, in all, waiting for a quiet machine")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, profile)")
    args = parser.parse_args(argv)
    if args.role:
        return run_role(args.role)
    args.streams = [int(x) for x in args.streams.split(",") if x]
    info = machine()
    say("machine: %(cores)d cores (%(cpu)s), %(memory_gib)s GiB, Linux %(kernel)s, %(python)s, Twisted %(twisted)s, "
        "%(reactor)s reactor; open files %(nofile)s" % info)
    say("pinning: %s" % ("relay/portforward on CPU 1, camera + player on CPU 0" if args.pin else "none"))
    say("commit %s; command: %s" % (git_commit(), " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])))
    say_state("before the runs")
    directory = tempfile.mkdtemp(prefix="kandian-bench-relay-")
    notes: list[str] = []
    one = many = None
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (a `cmd &`)
    try:
        try:
            if args.only in (None, "one"):
                say("\n-- one stream")
                one = one_stream(args, directory, notes)
            if args.only in (None, "many"):
                say("\n-- N streams")
                many = many_streams(args, directory, notes)
        finally:
            stop_all()
            signal.signal(signal.SIGTERM, previous)
        say_state("after the runs")
        report(one, many, args)
        say("\nwaited %.0f s in all for a quiet machine" % (_waited[0],))
        if notes:
            say("\nload notes:\n  " + "\n  ".join(notes))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"machine": info, "args": {k: v for k, v in vars(args).items() if k != "role"},
                           "one": one, "many": many, "notes": notes}, f, indent=1, default=str)
    finally:
        if args.keep:
            say("work directory kept: %s" % directory)
        else:
            shutil.rmtree(directory, ignore_errors=True)

def run_role(role: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=["camera", "relay", "portforward", "player"])
    parser.add_argument("--mode", choices=["flood", "paced"], default="flood")
    parser.add_argument("--fps", type=int, default=180)
    parser.add_argument("--burst-hz", type=float, default=25.0)
    parser.add_argument("--upstream", type=int)
    parser.add_argument("--target", type=int)
    parser.add_argument("--connect-rate", type=float, default=1000.0)
    parser.add_argument("--log", default=os.devnull)
    args = parser.parse_args(role)
    {"camera": run_camera, "relay": run_relay, "portforward": run_portforward, "player": run_player}[args.name](args)


if __name__ == "__main__":
    main()
