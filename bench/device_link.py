"""Device link at load (PRODUCT.md: 50,000 logged-in devices on one node,
>= 1,000 logins/s, command round trip p99 < 20 ms at that load; issue 19: >= 2,000
logins/s and p99 < 5 ms; memory per
idle link reported).

The platform is the real ``KandianService`` in this process, built as
``twistd kandian`` builds it (``tune_gc=True``: start-up objects frozen out
of the garbage collector, a higher youngest-generation threshold) (real
PostgreSQL: the embedded default, or ``--dsn``; every listener on
``tcp:0:interface=127.0.0.1``), with ``--devices`` devices provisioned by one
SQL statement.  The fleet is the shipped simulator, ``kandian.sim.fleet``
(this script run as ``--fleet-child``: ``python -m kandian.sim --link`` plus
an even spread of the heartbeats once all are online), split over
``--fleet-procs`` processes, each on its own source addresses (127.R.P.x: R
from this run's pid, P the platform, at most ``PER_ADDRESS`` devices an
address -- so that neither the ports a previous run left in TIME_WAIT nor the
kernel's search for a free port in a crowded address slows the connects).
One run measures:

1. logins/s: from the first to the N-th successful login as the platform sees
   it (``len(platform.links)``), with the fleet offering ``--connect-rate``
   connections a second (default 2,200: 10 % above the target, since the
   rate first to last can only be at most the rate offered; 0: as fast as it can),
   and the CPU time the platform (its garbage collector, its run-queue wait),
   PostgreSQL, the fleet and the whole machine spent meanwhile (they share
   the machine's cores);
2. memory per idle link: the platform's RSS (VmRSS after ``gc.collect()``)
   before the fleet connects and once all N are logged in, their login writes
   done and every device has sent a heartbeat; (after - before) / N;
3. command round trip at load: ``get_wifi`` (or ``--command ptz``) to random
   online devices at each of ``--rates`` for ``--seconds`` each, timed with
   ``time.perf_counter`` from the call to the answer's callback, while the
   whole fleet heartbeats;
4. the profile of the platform process during a second, untimed login pass
   after the fleet has left (py-spy ``--native``, if installed:
   ``.venv/bin/pip install py-spy``; it slows the process, so it never runs
   during the timed logins): where the time went, top functions by own and
   by inclusive time.

Baseline in the same run, in a fresh process of this script
(``--null-platform``): a bare Twisted protocol that splits frames, answers
LOGIN_REQ/ABILITYUP_REQ/HEARTBEAT_REQ with fixed pre-encoded answers, and
sends the same command frame, matching the answer by SEQ -- no XML parsing,
no database, no timers -- driven by the same fleet, same N, same phases.

The fleet processes run ``SCHED_BATCH`` (``--fleet-sched``; same nice value,
same share of the CPU): a load generator woken by the platform's send does not
preempt the platform on its core, as a process of the platform's own would not
be preempted by cameras that are elsewhere.  ``--turns`` times every reactor
turn of the platform and of each fleet process (``bench/_turns.py``) and names
what filled the slow ones; it costs the platform a little CPU.

The fleet heartbeats every ``--heartbeat`` seconds; the default is
120 s x N / 50,000, so that the platform sees the heartbeat rate of 50,000
devices on the spec's 120 s period.

The machine's open-file hard limit caps one process at about 20,000 sockets,
so N defaults to 19,000 and 50,000 cannot be attempted here; the report
extrapolates memory for 50,000 from the measured per-link figure.

    python bench/device_link.py [--devices 19000] [--fleet-procs 2]
        [--connect-rate 2200] [--heartbeat S] [--rates 200,1000] [--seconds 10]
        [--command get_wifi|ptz] [--dsn DSN] [--no-baseline] [--no-profile]
        [--fleet-sched batch|other] [--turns]
"""

from __future__ import annotations

import argparse
import collections
import gc
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from _turns import TurnMeter  # bench/_turns.py, beside this script
from twisted.internet import defer, protocol, task
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    formatEventAsClassicLogText,
    globalLogBeginner,
    textFileLogObserver,
)

from kandian.device import messages as m

# bench/_measure.py, beside this script
from _measure import (
    CLK_TCK,
    QUIET_CORES,
    children,
    cpu_model,
    describe_spread,
    folded_stacks,
    git_commit,
    headline,
    machine_busy,
    memory_gib,
    percentile,
    proc_stat as _stat,
    reap,
    reap_all,
    say,
    say_state,
    spawn,
    spread,
)

BIN = os.path.dirname(sys.executable)
LISTENERS = ("device", "register", "mcu", "rtsp", "admin", "ftp")
FIRST_DEVID = 81100000000
TARGET_DEVICES = 50_000
TARGET_LOGINS = 2_000.0  # issue 19 (PRODUCT.md: 1,000)
OFFERED_LOGINS = 2_200.0  # the fleet's default offer: the target and a margin (--connect-rate)
TARGET_P99_MS = 5.0  # issue 19 (PRODUCT.md: 20 ms)
LOGIN, ABILITY, HEARTBEAT = m.LoginRequest.CMD, m.AbilityUpRequest.CMD, m.HeartbeatRequest.CMD
PAGE = os.sysconf("SC_PAGE_SIZE")
COMMANDS = {
    "get_wifi": (m.GetWifiRequest, {}),
    "ptz": (m.PtzRequest, {"ChannelNo": 0, "PtzDirection": 1}),
}

PER_ADDRESS = 4000  # devices a source address; one address has ~28,000 ephemeral ports, bind() takes even ones



# -- what the machine and the processes did ----------------------------------------------


def machine() -> dict:
    model = cpu_model()
    import twisted
    return {
        "cores": os.cpu_count(), "cpu": model, "kernel": platform.release(),
        "memory_gib": memory_gib(),
        "python": "%s %s" % (platform.python_implementation(), platform.python_version()),
        "twisted": twisted.__version__, "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
    }


def rss_kib(pid="self") -> int:
    with open("/proc/%s/status" % (pid,)) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid, children: bool = False, system: bool = False) -> float:
    """utime + stime of *pid* (+ its waited-for children's with *children*); only stime with *system*."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[12]) + (0 if system else int(fields[11]))  # stime, utime (fields 15, 14)
    if children:
        ticks += int(fields[14]) + (0 if system else int(fields[13]))  # cstime, cutime
    return ticks / CLK_TCK


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def self_system_cpu() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


class GcTimer:
    """Time this process spends in the cyclic garbage collector (``gc.callbacks``)."""

    def __init__(self):
        self.seconds = 0.0
        self.collections = collections.Counter()
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase, info):
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.collections[info["generation"]] += 1

    def line(self) -> str:
        return "gc: %.2f s in %d collections (%d of generation 2)" % (
            self.seconds, sum(self.collections.values()), self.collections[2])


def children_of(parent: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(name)
            if fields is not None and int(fields[1]) == parent:
                found.append(int(name))
    return found


class CpuMeter:
    """CPU seconds of named process groups, read at phase boundaries."""

    def __init__(self):
        self.groups: dict[str, object] = {}

    def add(self, name: str, read) -> None:
        self.groups[name] = read

    def snapshot(self) -> dict[str, float]:
        snap = {name: read() for name, read in self.groups.items()}
        snap["wall"] = time.monotonic()
        return snap

    @staticmethod
    def delta(a: dict, b: dict) -> dict[str, float]:
        return {name: round(b[name] - a.get(name, 0.0), 2) for name in b}


def postgres_cpu(postmaster: int):
    def read() -> float:
        return cpu_seconds(postmaster, children=True) + sum(cpu_seconds(pid) for pid in children_of(postmaster))
    return read


def tcp_counters() -> dict[str, int]:
    """ListenOverflows/ListenDrops (accept queue full: SYNs dropped) and kernel TCP memory."""
    found = {}
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
        for names, values in zip(lines[::2], lines[1::2]):
            if names.startswith("TcpExt:"):
                table = dict(zip(names.split()[1:], values.split()[1:]))
                found["listen_overflows"] = int(table.get("ListenOverflows", 0))
                found["listen_drops"] = int(table.get("ListenDrops", 0))
        with open("/proc/net/sockstat") as f:
            for line in f:
                if line.startswith("TCP:"):
                    parts = line.split()
                    found["tcp_mem_kib"] = int(parts[parts.index("mem") + 1]) * PAGE // 1024
                    found["time_wait"] = int(parts[parts.index("tw") + 1])
    except (OSError, ValueError):
        pass
    return found


def runqueue_wait(pid="self") -> float:
    """Seconds *pid* was runnable but waiting for a CPU (/proc/PID/schedstat, second field)."""
    try:
        with open("/proc/%s/schedstat" % (pid,)) as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def _reach(root, stop: set) -> dict[int, int]:
    """id -> size of every object reachable from *root*, not walking into modules, types, code, factories,
    listening ports or *stop* (the reactor, the platform's shared components)."""
    import types

    from twisted.internet import tcp
    seen: dict[int, int] = {}
    todo = [root]
    skip = (types.ModuleType, type, types.FunctionType, types.CodeType, types.BuiltinFunctionType,
            protocol.Factory, tcp.Port)
    while todo:
        obj = todo.pop()
        if id(obj) in seen or id(obj) in stop or isinstance(obj, skip):
            continue
        seen[id(obj)] = sys.getsizeof(obj)
        todo.extend(gc.get_referents(obj))
    return seen


def _chain(link) -> tuple:
    """The protocol and the transports under it (a wrapper's transport is the TCP connection)."""
    found = [link]
    while getattr(found[-1], "transport", None) is not None and len(found) < 4:
        found.append(found[-1].transport)
    return tuple(found)


def owned_bytes(a, b, stop=()) -> tuple[int, int]:
    """(bytes, objects) reachable from link *a* but not from link *b*: what one link alone holds."""
    from twisted.internet import reactor
    stop_ids = {id(x) for x in (reactor, *stop)}
    root_a, root_b = _chain(a), _chain(b)
    mine, theirs = _reach(root_a, stop_ids), _reach(root_b, stop_ids)
    own = [size for key, size in mine.items() if key not in theirs and key != id(root_a)]
    return sum(own), len(own)


def object_census() -> collections.Counter:
    gc.collect()
    return collections.Counter(type(o).__name__ for o in gc.get_objects())


# -- child processes ------------------------------------------------------------------------


class FleetProcs:
    """Simulator processes (:func:`run_fleet_child`), one source address each."""

    def __init__(self, directory: str, port: int, devices: int, procs: int, connect_rate: float,
                 heartbeat: float, network: str, tag: str = "fleet", first_devid: int = FIRST_DEVID,
                 sched: str = "batch", turns: bool = False):
        self.procs: list[subprocess.Popen] = []
        self.outputs: list[str] = []
        self.cpu_at_first = 0.0  # the fleet's CPU at the platform's first login (login_phase)
        share, extra = divmod(devices, procs)
        first = first_devid
        address = 1
        self.addresses: list[str] = []
        for i in range(procs):
            count = share + (1 if i < extra else 0)
            rate = connect_rate / procs if connect_rate > 0 else 1e9  # 1e9: all in the first 50 ms tick
            out = os.path.join(directory, "%s-%d.out" % (tag, i))
            self.outputs.append(out)
            binds = ["%s.%d" % (network, address + j) for j in range(max(1, -(-count // PER_ADDRESS)))]
            address += len(binds)
            self.addresses += binds
            spec = "%d,%d,%d,%r,%s" % (port, count, first, rate, "+".join(binds))
            with open(out, "w") as f:
                self.procs.append(spawn([sys.executable, os.path.abspath(__file__), "--fleet-child", spec,
                                         "--heartbeat", repr(heartbeat), "--fleet-sched", sched]
                                        + (["--turns"] if turns else []),
                                        stdout=f, stderr=subprocess.STDOUT))
            first += count

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def system_cpu(self) -> float:
        return sum(cpu_seconds(pid, system=True) for pid in self.pids)

    def rss_kib(self) -> int:
        return sum(rss_kib(pid) for pid in self.pids if os.path.exists("/proc/%d" % pid))

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> list[str]:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs:
            reap(p, signal.SIGINT, 20.0)
        summaries = []
        for out in self.outputs:
            with open(out, errors="replace") as f:
                lines = f.read().splitlines()
            summaries.append(next((line for line in reversed(lines) if line.startswith("summary:")),
                                  "no summary: " + " | ".join(lines[-3:])))
            summaries += [line for line in lines if line.startswith("fleet turns")]
        return summaries


def run_fleet_child(args) -> None:
    """One fleet process: ``kandian.sim.fleet`` as ``python -m kandian.sim --link`` runs it, plus one thing
    the CLI has not: once all its devices are online, each beats once at a random moment of the next
    heartbeat period, so that heartbeats arrive evenly (as 50,000 devices' would) instead of in the
    bunch the login burst made."""
    from kandian.sim.fleet import Fleet

    port, count, first, rate, bind = args.fleet_child.split(",")
    raise_file_limit()
    if args.fleet_sched == "batch":
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(textFileLogObserver(sys.stdout), [LogLevelFilterPredicate(LogLevel.warn)])],
        redirectStandardIO=False)

    gc_timer = GcTimer()
    # the load generator's collector tuned as the platform's is (kandian.service._tune_gc): with the default
    # threshold its full collections over 10,000 devices' objects cost it a third of its CPU in the logins
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)

    def run(reactor):
        if args.turns:
            turns = TurnMeter(reactor, slow_ms=10.0, keep=6)
            task.LoopingCall(lambda: say("fleet turns %s" % json.dumps(turns.take()))).start(5.0, now=False)
        fleet = Fleet(reactor, count=int(count), first_devid=int(first), key_pattern="key-{devid}",
                      link=("127.0.0.1", int(port)), heartbeat=args.heartbeat, connect_rate=float(rate),
                      status_every=None, bind_hosts=bind.split("+"), report=say)
        fleet.prepare()  # the bodies every device sends at login, written before the fleet starts connecting
        fleet.start()
        rng = random.Random(int(first))

        def beat(member):
            if member.link is not None and member.link.is_logged_in:
                member.link.heartbeat_now().addErrback(lambda f: None)

        def spread(_):
            for member in fleet.members:
                reactor.callLater(rng.uniform(0, args.heartbeat), beat, member)

        fleet.all_online().addCallback(spread)
        reactor.addSystemEventTrigger("before", "shutdown", fleet.stop)
        return fleet.wait().addCallback(lambda summary: say(summary.line() + "; " + gc_timer.line()))

    task.react(run)


# -- the baseline: a platform that is only Twisted --------------------------------------------

_PLACE = b"00000000000"


class NullLink(protocol.Protocol):
    """Splits frames; answers device requests with fixed bytes; matches command answers by SEQ."""

    dev_id = None

    def __init__(self, factory):
        self.f = factory
        self.buf = b""
        self.seq = 0
        self.pending: dict[int, defer.Deferred] = {}

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)  # as kandian's DeviceLink: no command held for a delayed ACK

    def dataReceived(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        while len(buf) >= 8:
            end = 24 + int.from_bytes(buf[6:8], "big")
            if len(buf) < end:
                break
            self.frame(buf[2], buf[3:5], buf[8:end - 16])
            buf = buf[end:]
        self.buf = buf

    def frame(self, cmd: int, seq: bytes, body: bytes) -> None:
        f = self.f
        f.frames_in[cmd] += 1
        reply = f.replies.get(cmd)
        if reply is None:
            d = self.pending.pop(int.from_bytes(seq, "big"), None)
            if d is not None:
                d.callback(body)
            return
        if cmd == LOGIN and self.dev_id is None:
            start = body.find(b"<DevID>") + 7
            self.dev_id = body[start:body.find(b"</DevID>", start)]
            old = f.links.get(self.dev_id)
            f.links[self.dev_id] = self
            if old is not None:
                old.transport.loseConnection()
        self.send(cmd, seq, reply.replace(_PLACE, self.dev_id or _PLACE))

    def send(self, cmd: int, seq: bytes, body: bytes) -> None:
        head = b"\xfa\xf5" + bytes((cmd,)) + seq + b"\x00" + len(body).to_bytes(2, "big") + body
        self.transport.write(head + hashlib.md5(head).digest())

    def call(self) -> defer.Deferred:
        seq, self.seq = self.seq, (self.seq + 1) % 65536
        d = defer.Deferred()
        self.pending[seq] = d
        self.send(self.f.command_cmd, seq.to_bytes(2, "big"), self.f.command.replace(_PLACE, self.dev_id))
        return d

    def connectionLost(self, reason=protocol.connectionDone) -> None:
        if self.dev_id is not None and self.f.links.get(self.dev_id) is self:
            del self.f.links[self.dev_id]
        pending, self.pending = self.pending, {}
        for d in pending.values():
            d.errback(ConnectionError("link lost"))


class NullPlatform(protocol.ServerFactory):
    noisy = False

    def __init__(self, command: str):
        self.links: dict[bytes, NullLink] = {}
        self.frames_in: collections.Counter = collections.Counter()
        stamp = "20240101000000"
        self.replies = {
            LOGIN: m.LoginResponse(Result=0, DevID=_PLACE.decode(), Time=stamp).to_xml(),
            ABILITY: m.AbilityUpResponse(DevID=_PLACE.decode(), Time=stamp).to_xml(),
            HEARTBEAT: m.HeartbeatResponse(DevID=_PLACE.decode(), Time=stamp).to_xml(),
        }
        request_class, fields = COMMANDS[command]
        self.command_cmd = request_class.CMD
        self.command = request_class(DevID=_PLACE.decode(), **fields).to_xml()

    def buildProtocol(self, addr):
        return NullLink(self)


class NullTarget:
    name = "null platform (bare Twisted, fixed answers)"
    network = 1

    def __init__(self, reactor, command: str, backlog: int | None):
        self.factory = NullPlatform(command)
        self.port = reactor.listenTCP(0, self.factory, backlog=backlog or 50, interface="127.0.0.1")
        self.listen_port = self.port.getHost().port

    def online(self) -> int:
        return len(self.factory.links)

    def is_online(self, dev_id: str) -> bool:
        return dev_id.encode() in self.factory.links

    def watch_flushes(self) -> list:
        return []

    def two_links(self):
        links = self.factory.links
        return links.get(b"%d" % FIRST_DEVID), links.get(b"%d" % (FIRST_DEVID + 1)), [self.factory, self.port]

    def heartbeats(self) -> int:
        return self.factory.frames_in[HEARTBEAT]

    def busy(self) -> bool:
        return False

    def call(self, dev_id: str) -> defer.Deferred:
        link = self.factory.links.get(dev_id.encode())
        if link is None:
            return defer.fail(ConnectionError("offline"))
        return link.call()

    def stop(self):
        return self.port.stopListening()


class KandianTarget:
    name = "kandian (KandianService, PostgreSQL)"
    network = 2

    def __init__(self, svc, command: str):
        from kandian.device.commands import DeviceCommands
        self.svc = svc
        self.platform = svc.platform
        self.listen_port = svc.listeners["device"].port.getHost().port
        self._commands = DeviceCommands
        self._method, self._fields = command, COMMANDS[command][1]

    def online(self) -> int:
        return len(self.platform.links)

    def is_online(self, dev_id: str) -> bool:
        return self.platform.links.online(dev_id)

    def watch_flushes(self) -> list:
        """Time what ``SeenBatcher`` hands to the store: the reactor is busy until the call returns."""
        flushes: list = []
        batcher = self.platform.seen
        seen = batcher.write

        def timed(batch):
            t0 = time.perf_counter()
            d = seen(batch)
            flushes.append((time.monotonic(), len(batch), round((time.perf_counter() - t0) * 1000, 1)))
            return d

        batcher.write = timed
        return flushes

    def two_links(self):
        links = self.platform.links
        return (links.get(str(FIRST_DEVID)), links.get(str(FIRST_DEVID + 1)),
                [self.svc, self.platform, self.platform.controller, links, self.platform.link_stats])

    def heartbeats(self) -> int:
        return self.platform.link_stats.frames_in[HEARTBEAT]

    def busy(self) -> bool:
        db = self.platform.db
        return bool(db.in_use or db.waiting)

    def call(self, dev_id: str) -> defer.Deferred:
        return getattr(self._commands(self.platform.links, dev_id), self._method)(**self._fields)


# -- the phases ----------------------------------------------------------------------------------


def sleep(reactor, seconds: float) -> defer.Deferred:
    return task.deferLater(reactor, seconds, lambda: None)


@defer.inlineCallbacks
def wait_until(reactor, check, timeout: float, every: float = 0.01):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        yield sleep(reactor, every)
    return True


class StallMeter:
    """How late a 5 ms timer fires: the longest time the reactor was busy with something else."""

    def __init__(self, clock, every: float = 0.005):
        self.every = every
        self.worst = 0.0
        self.over_10ms = 0
        self._last = time.perf_counter()
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = clock
        self._loop.start(every, now=False)

    def _tick(self):
        now = time.perf_counter()
        late = now - self._last - self.every
        self._last = now
        self.worst = max(self.worst, late)
        self.over_10ms += late > 0.010

    def take(self) -> dict:
        found = {"worst_stall_ms": round(self.worst * 1000, 1), "stalls_over_10ms": self.over_10ms}
        self.worst, self.over_10ms = 0.0, 0
        return found

    def stop(self):
        if self._loop.running:
            self._loop.stop()


@defer.inlineCallbacks
def command_phase(reactor, target, dev_ids: list[str], rate: float, seconds: float, rng: random.Random,
                  timeout: float):
    total = int(rate * seconds)
    latencies: list[float] = []
    errors: collections.Counter = collections.Counter()
    sent = 0
    start = time.perf_counter()

    def answered(_, t0):
        latencies.append(time.perf_counter() - t0)

    def failed(failure, t0):
        errors[failure.type.__name__] += 1

    def tick():
        nonlocal sent
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            sent += 1
            t0 = time.perf_counter()
            target.call(rng.choice(dev_ids)).addCallbacks(answered, failed, callbackArgs=(t0,), errbackArgs=(t0,))
        if sent >= total:
            loop.stop()

    loop = task.LoopingCall(tick)
    yield loop.start(0.001)
    sending = time.perf_counter() - start
    yield wait_until(reactor, lambda: len(latencies) + sum(errors.values()) >= total, timeout)
    lost = total - len(latencies) - sum(errors.values())
    if lost:
        errors["no answer"] += lost
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    return {"rate": rate, "sent": total, "achieved_rate": round(total / sending, 1), "answered": len(ms),
            "errors": dict(errors), "p50": percentile(ms, 50), "p90": percentile(ms, 90),
            "p99": percentile(ms, 99), "max": ms[-1] if ms else float("nan")}


class Profiler:
    """py-spy on this process, from start() to stop()."""

    def __init__(self, directory: str, rate: int = 100):
        self.path = os.path.join(directory, "login-profile.txt")
        self.rate = rate
        self.proc = None
        self.started = None
        spy = os.path.join(BIN, "py-spy")
        self.exe = spy if os.path.exists(spy) else shutil.which("py-spy")

    def start(self) -> bool:
        if self.exe is None:
            return False
        self.proc = spawn([self.exe, "record", "--pid", str(os.getpid()), "--rate", str(self.rate), "--format",
                           "raw", "--native", "--nolineno", "--full-filenames", "-o", self.path],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.started = time.monotonic()
        return True

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid) if self.proc is not None else 0.0

    def stop(self) -> dict | None:
        if self.proc is None:
            return None
        seconds = time.monotonic() - self.started
        self.cpu_used = self.cpu()
        reap(self.proc, signal.SIGINT, 30.0)
        if not os.path.exists(self.path):
            return {"error": (self.proc.stderr.read() or b"").decode(errors="replace")[-300:]}
        return summarize_profile(self.path, seconds * self.rate)


# what the login path spends its time on: inclusive share of the samples whose stack has a matching frame
PROFILE_PARTS = [
    ("cyclic garbage collector (gc_collect_main)", ("gc_collect_main",)),
    ("XML decode (decode_body)", ("decode_body (kandian",)),
    ("XML encode (Message.to_xml)", ("Message.to_xml (kandian",)),
    ("database client (txpostgres + psycopg2 + libpq)", ("txpostgres", "psycopg2")),
    ("  of which libc send() to PostgreSQL", ("_pq_execute_async",)),
    ("  of which epoll_ctl (txpostgres re-registers its socket)", ("EPollReactor._add", "EPollReactor._remove")),
    ("logging (twisted.logger, the info lines to the file)", ("twisted/logger/",)),
    ("frame codec (kandian/device/frame.py)", ("kandian/device/frame.py",)),
    ("timers (callLater, DelayedCall)", ("ReactorBase.callLater", "DelayedCall.", "_insertNewDelayedCalls")),
    ("waiting in epoll_wait (idle)", ("epoll_wait",)),
]


def summarize_profile(path: str, possible: float, top: int = 15) -> dict:
    parts: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    files: collections.Counter = collections.Counter()
    total = 0
    for frames, n in folded_stacks(path):
        total += n
        own[frames[-1]] += n
        files[frames[-1].rpartition(" (")[2].rstrip(")")] += n
        for name in set(frames[1:]):  # frames[0]: the thread's native entry point
            inclusive[name] += n
        for label, needles in PROFILE_PARTS:
            if any(needle in frame for frame in frames for needle in needles):
                parts[label] += n
    pct = lambda n: round(100.0 * n / total, 1) if total else 0.0  # noqa: E731
    return {"samples": total, "possible": int(possible), "file": path,
            "parts": [(label, pct(parts[label])) for label, _ in PROFILE_PARTS],
            "own": [(name, pct(n)) for name, n in own.most_common(top + 5)],
            "inclusive": [(name, pct(n)) for name, n in inclusive.most_common()
                          if n < 0.95 * total][:top + 10],
            "own_by_file": [(name, pct(n)) for name, n in files.most_common(top)]}


@defer.inlineCallbacks
def measure(reactor, target, args, directory: str, cpu: CpuMeter, profile: bool):
    """The phases, against a started *target*; returns the figures."""
    n = args.devices
    result: dict = {"platform": target.name, "devices": n}
    dev_ids = [str(FIRST_DEVID + i) for i in range(n)]
    census0 = object_census()
    rss0 = rss_kib()
    tcp0 = tcp_counters()
    result["rss_before_kib"] = rss0
    say("  RSS before the fleet connects: %.1f MiB" % (rss0 / 1024))

    # 1. logins
    cpu0 = cpu.snapshot()
    fleet, first, done, curve, spawned = yield login_phase(reactor, target, args, directory, "fleet", cpu)
    cpu1 = cpu.snapshot()
    fleet_since_first = round(fleet.cpu() - fleet.cpu_at_first, 2) if first else None
    online = target.online()
    tcp1 = tcp_counters()
    rate = (online - 1) / (done - first) if first and online > 1 else 0.0

    def reached(share):
        return next((t for t, c in curve if c >= share * n), None)

    t10, t90 = reached(0.1), reached(0.9)
    result["logins"] = {
        "online": online, "spawn_to_first_s": round(first - spawned, 2) if first else None,
        "first_to_last_s": round(done - first, 2) if first else None, "rate": round(rate, 1),
        "rate_10_90": round(0.8 * n / (t90 - t10), 1) if t10 and t90 and t90 > t10 else None,
        "cpu": CpuMeter.delta(cpu0, cpu1),
        "listen_overflows": tcp1.get("listen_overflows", 0) - tcp0.get("listen_overflows", 0),
    }
    say("  logins: %d/%d online, %.2f s from the first to the last: %.0f logins/s (10-90 %%: %s/s)"
        % (online, n, done - first if first else 0, rate, result["logins"]["rate_10_90"]))
    result["logins"]["others"] = others_cores(cpu0, cpu1)
    result["logins"]["fleet_cpu_from_first_login"] = fleet_since_first
    say("  CPU during logins, s: %s; other processes %.2f cores" % (result["logins"]["cpu"],
                                                                     result["logins"]["others"]))
    if first:
        per = {name: result["logins"]["cpu"].get(name, 0.0) / max(online, 1) * 1e6
               for name in ("platform", "postgres", "fleet")}
        say("  CPU per login, us: platform %.0f, PostgreSQL %.0f, fleet %.0f (from its start; %.0f from the"
            " first login, without its start-up)" % (per["platform"], per["postgres"], per["fleet"],
                                                     fleet_since_first / max(online, 1) * 1e6))
    if online < n:
        say("  !! only %d of %d devices logged in" % (online, n))
    if online == 0:
        raise RuntimeError("no device logged in; the fleet said: %s" % " | ".join(fleet.stop()))

    # 2. idle: login writes done, every device heartbeating
    yield wait_until(reactor, lambda: not target.busy(), 120.0, every=0.05)
    result["writes_done_after_s"] = round(time.monotonic() - first, 2) if first else None
    hb_goal = target.heartbeats() + online
    hb_wait = args.heartbeat + (done - first if first else 0) + 30
    hb0, t_hb0 = target.heartbeats(), time.monotonic()
    yield wait_until(reactor, lambda: target.heartbeats() >= hb_goal and not target.busy(), hb_wait, every=0.1)
    result["heartbeats_per_s"] = round((target.heartbeats() - hb0) / (time.monotonic() - t_hb0), 1)
    census1 = object_census()
    a, b, shared = target.two_links()
    owned = owned_bytes(a, b, shared) if a is not None and b is not None else (0, 0)
    del a, b, shared
    rss1 = rss_kib()
    tcp2 = tcp_counters()
    per_link = (rss1 - rss0) * 1024 / max(online, 1)
    growth = census1 - census0
    result["memory"] = {
        "rss_after_kib": rss1, "bytes_per_link": round(per_link), "owned_bytes": owned[0],
        "owned_objects": owned[1], "objects_per_link":
        round(sum(growth.values()) / max(online, 1), 1),
        "top_objects_per_link": [(name, round(c / max(online, 1), 2)) for name, c in growth.most_common(10)],
        "kernel_tcp_kib": tcp2.get("tcp_mem_kib", 0) - tcp0.get("tcp_mem_kib", 0),
        "fleet_rss_kib": fleet.rss_kib(),
    }
    say("  idle: RSS %.1f MiB -> %.1f MiB: %.0f bytes per link (%.1f gc objects per link); %.0f heartbeats/s"
        % (rss0 / 1024, rss1 / 1024, per_link, result["memory"]["objects_per_link"], result["heartbeats_per_s"]))
    say("  one idle link alone holds %d Python objects, %d bytes (sys.getsizeof); gc objects per link by type: %s"
        % (owned[1], owned[0], ", ".join("%s %.1f" % kv for kv in result["memory"]["top_objects_per_link"])))

    # 3. commands at load, once the platform has worked off what arrived while the census above held its
    # reactor (a few hundred ms: heartbeats, queued)
    yield sleep(reactor, 1.0)
    rng = random.Random(1)
    online_ids = [d for d in dev_ids if target.is_online(d)]
    result["commands"] = []
    flushes = target.watch_flushes()
    stalls = StallMeter(reactor)
    for rate in args.rates:
        c0, h0 = cpu.snapshot(), target.heartbeats()
        stalls.take()
        turns = getattr(target, "turns", None)
        if turns is not None:
            turns.take()
        phase = yield command_phase(reactor, target, online_ids, rate, args.seconds, rng, timeout=15.0)
        c1 = cpu.snapshot()
        phase.update(stalls.take())
        if turns is not None:
            phase["turns"] = turns.take()
            say("    turns: %s" % json.dumps({k: v for k, v in phase["turns"].items() if k != "worst"}))
            for t in phase["turns"]["worst"]:
                say("      %s" % json.dumps(t))
        phase["seen_flushes"] = [(rows, ms) for when, rows, ms in flushes if c0["wall"] <= when <= c1["wall"]]
        phase["cpu"] = CpuMeter.delta(c0, c1)
        phase["others"] = others_cores(c0, c1)
        phase["heartbeats_per_s"] = round((target.heartbeats() - h0) / (c1["wall"] - c0["wall"]), 1)
        result["commands"].append(phase)
        say("  %s at %g/s (achieved %.0f/s) for %g s: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms; errors %s;"
            " %.0f heartbeats/s" % (args.command, rate, phase["achieved_rate"], args.seconds, phase["p50"],
                                    phase["p90"], phase["p99"], phase["max"], phase["errors"] or "none",
                                    phase["heartbeats_per_s"]))
        say("    CPU, s: %s" % (phase["cpu"],))
        say("    reactor: worst stall %.1f ms, %d stalls over 10 ms; last_seen_at flushes (rows, ms the reactor was"
            " busy building and sending the query): %s" % (phase["worst_stall_ms"], phase["stalls_over_10ms"],
                                                           phase["seen_flushes"] or "none"))
    stalls.stop()

    # 4. mass disconnect
    t0 = time.monotonic()
    result["fleet_summaries"] = fleet.stop()
    yield wait_until(reactor, lambda: target.online() == 0 and not target.busy(), 120.0, every=0.05)
    result["disconnect_s"] = round(time.monotonic() - t0, 2)
    say("  fleet stopped; all %d links closed and recorded offline in %.1f s" % (online, result["disconnect_s"]))
    for line in result["fleet_summaries"]:
        say("    " + line)

    # 4b. more timed login passes, for the median and spread of logins/s
    result["login_runs"] = [{"rate": result["logins"]["rate"], "online": online,
                             "others": result["logins"]["others"]}]
    for k in range(2, args.login_runs + 1):
        cpu.add("fleet", lambda: 0.0)  # the last fleet has gone; the next one's CPU counts from its start
        cpu.add("fleet sys", lambda: 0.0)
        c0 = cpu.snapshot()
        fleet, first, done, _, _ = yield login_phase(reactor, target, args, directory, "fleet-%d" % k, cpu,
                                                     offset=100 + 10 * k)
        c1 = cpu.snapshot()
        count = target.online()
        rate = (count - 1) / (done - first) if first and count > 1 else 0.0
        run = {"rate": round(rate, 1), "online": count, "others": others_cores(c0, c1)}
        result["login_runs"].append(run)
        say("  login pass %d: %d/%d online, %.0f logins/s; other processes %.2f cores" % (
            k, count, n, rate, run["others"]))
        fleet.stop()
        yield wait_until(reactor, lambda: target.online() == 0 and not target.busy(), 120.0, every=0.05)

    # 5. the profile: a second login pass, under py-spy -- not the measured one (the profiler slows the process)
    result["profile"] = None
    profiler = Profiler(directory) if profile else None
    if profiler is not None and profiler.start():
        yield sleep(reactor, 1.0)  # let py-spy attach before the fleet starts
        fleet, first, done, _, _ = yield login_phase(reactor, target, args, directory, "profiled", None)
        result["profile"] = profiler.stop()
        if result["profile"] is not None:
            result["profile"]["logins_per_s"] = round((target.online() - 1) / (done - first), 1) if first else None
            result["profile"]["py_spy_cpu_s"] = round(profiler.cpu_used, 2)
        say("  profiled login pass (py-spy --native, 100 Hz): %s logins/s under the profiler"
            % (result["profile"] or {}).get("logins_per_s"))
        fleet.stop()
        yield wait_until(reactor, lambda: target.online() == 0 and not target.busy(), 120.0, every=0.05)
    elif profiler is not None:
        say("  (no py-spy: .venv/bin/pip install py-spy for the login profile)")
    return result


def others_cores(a: dict, b: dict) -> float:
    """Cores the rest of the machine used between two snapshots: all busy CPU less the platform's, its
    PostgreSQL's and the fleet's."""
    d = CpuMeter.delta(a, b)
    wall = b["wall"] - a["wall"]
    ours = sum(d.get(name, 0.0) for name in ("platform", "postgres", "fleet"))
    return round(max(0.0, (d.get("machine, all processes", 0.0) - ours) / wall), 2) if wall > 0 else 0.0


@defer.inlineCallbacks
def login_phase(reactor, target, args, directory: str, tag: str, cpu: CpuMeter | None, offset: int | None = None):
    """Start a fleet and wait for all N to be online: (fleet, first login, N-th login, curve, spawn time)."""
    n = args.devices
    offset = (0 if cpu is not None else 100) if offset is None else offset
    network = "127.%d.%d" % (os.getpid() % 250 + 1, target.network + offset)
    fleet = FleetProcs(directory, target.listen_port, n, args.fleet_procs, args.connect_rate, args.heartbeat,
                       network, tag, sched=args.fleet_sched, turns=args.turns)
    say("  %s: %d processes, source addresses %s; %d sockets in TIME_WAIT on this machine"
        % (tag, len(fleet.procs), ", ".join(fleet.addresses), tcp_counters().get("time_wait", 0)))
    if cpu is not None:
        cpu.add("fleet", fleet.cpu)
        cpu.add("fleet sys", fleet.system_cpu)
        cpu.add("fleet runqueue wait", lambda: sum(runqueue_wait(pid) for pid in fleet.pids))
    spawned = time.monotonic()
    curve: list[tuple[float, int]] = []
    first = None

    def poll():
        nonlocal first
        count = target.online()
        now = time.monotonic()
        if count and first is None:
            first = now
            fleet.cpu_at_first = fleet.cpu()  # its start-up (imports, bodies written ahead) not counted
        if not curve or curve[-1][1] != count:
            curve.append((now, count))
        return count >= n or not fleet.alive()

    yield wait_until(reactor, poll, max(120.0, 5.0 * n / 100), every=0.005)
    return fleet, first, time.monotonic(), curve, spawned


# -- the two platforms ---------------------------------------------------------------------------


def platform_meter() -> CpuMeter:
    gc_timer = GcTimer()
    cpu = CpuMeter()
    cpu.add("machine, all processes", machine_busy)
    cpu.add("platform", self_cpu)
    cpu.add("platform sys", self_system_cpu)
    cpu.add("platform runqueue wait", runqueue_wait)
    cpu.add("platform gc", lambda: gc_timer.seconds)
    cpu.add("platform gc gen2 runs", lambda: gc_timer.collections[2])
    return cpu


def begin_logging(path: str) -> collections.Counter:
    """Info and up to a file, as ``twistd`` would; counts events of each level; says the first few
    errors (the file goes with the run's directory)."""
    levels: collections.Counter = collections.Counter()
    stream = open(path, "a", encoding="utf-8")
    fileobs = FilteringLogObserver(textFileLogObserver(stream), [LogLevelFilterPredicate(LogLevel.info)])

    def observer(event):
        level = event.get("log_level", LogLevel.info)
        levels[level.name] += 1
        fileobs(event)
        if level >= LogLevel.error and levels["error"] + levels["critical"] <= 5:
            failure = event.get("log_failure")
            say("  !! platform log, %s: %s%s" % (level.name, (formatEventAsClassicLogText(event) or "").strip()[:2000],
                                             "\n" + failure.getTraceback()[-1500:] if failure is not None else ""))

    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    return levels


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@defer.inlineCallbacks
def run_null(reactor, args):
    raise_file_limit()
    directory = tempfile.mkdtemp(prefix="kandian-bench-null-")
    try:
        begin_logging(os.path.join(directory, "null.log"))
        target = NullTarget(reactor, args.command, args.backlog)
        cpu = platform_meter()
        result = yield measure(reactor, target, args, directory, cpu, profile=False)
        yield target.stop()
    finally:
        reap_all(signal.SIGTERM, 5.0)
        shutil.rmtree(directory, ignore_errors=True)
    with open(args.null_platform, "w") as f:
        json.dump(result, f)


def provision_sql(n: int) -> str:
    first, last = FIRST_DEVID, n - 1
    return (
        "INSERT INTO device (dev_id, dev_key, dev_type, manufacturer_no)"
        f" SELECT ({first} + i)::text, 'key-' || ({first} + i)::text, 1, '811' FROM generate_series(0, {last}) i"
        " ON CONFLICT (dev_id) DO UPDATE SET dev_key = EXCLUDED.dev_key, online = false;"
        " INSERT INTO channel (dev_id, channel_no)"
        f" SELECT ({first} + i)::text, 0 FROM generate_series(0, {last}) i ON CONFLICT DO NOTHING;"
        # the statistics a database in service has (autovacuum would gather them within a minute): without
        # them the planner scans every row of device for each batch of logins
        " ANALYZE device, channel"
    )


@defer.inlineCallbacks
def run_kandian(reactor, args, directory: str):
    from kandian import config
    from kandian.service import KandianService
    from kandian.store.embedded import read_postmaster_pid

    raise_file_limit()
    levels = begin_logging(os.path.join(directory, "kandian.log"))
    text = "[platform]\ndata_dir = %s\n[database]\ndsn = %s\n" % (os.path.join(directory, "var"), args.dsn)
    if args.pool_size:
        text += "pool_size = %d\n" % args.pool_size
    for name in LISTENERS:
        text += "[%s]\nlisten = tcp:0:interface=127.0.0.1%s\n" % (
            name, ":backlog=%d" % args.backlog if name == "device" and args.backlog else "")
        # the whole fleet connects from 127.0.0.1, and under an open-file hard
        # limit of 20,000 the device link needs all but a few of them
        # (docs/operations.md, "Limits")
        text += ("max_connections_per_address = 0\n" if name == "device" else "max_connections = 16\n")
    path = os.path.join(directory, "kandian.ini")
    with open(path, "w") as f:
        f.write(text)
    # as ``twistd kandian`` builds it (kandian/tap.py): start-up objects frozen out of the collector
    turns = TurnMeter(reactor) if args.turns else None
    svc = KandianService(config.parse(text, path, reactor), reactor, tune_gc=True)
    svc.startService()
    # Ctrl-C or SIGTERM stops the reactor: stop the platform (and its PostgreSQL) first
    reactor.addSystemEventTrigger("before", "shutdown", lambda: svc.stopService() if svc.running else None)
    try:
        t0 = time.monotonic()
        yield svc.ready
        db = svc.platform.db
        if args.synchronous_commit_off:
            yield db.runOperation("ALTER SYSTEM SET synchronous_commit = off")
            yield db.runOperation("SELECT pg_reload_conf()")
            yield sleep(reactor, 0.5)
        yield db.runOperation(provision_sql(args.devices))
        rows = yield db.runQuery("SELECT count(*) FROM device WHERE dev_id BETWEEN %s AND %s",
                                 (str(FIRST_DEVID), str(FIRST_DEVID + args.devices - 1)))
        postmaster = None
        if svc.store.embedded is not None:
            postmaster = read_postmaster_pid(svc.store.embedded.pgdata)[0]
        else:
            pids = yield db.runQuery("SELECT pg_backend_pid()")
            fields = _stat(pids[0][0])
            postmaster = int(fields[1]) if fields else None
        version = yield db.runQuery("SHOW server_version")
        settings = yield db.runQuery("SELECT name, setting FROM pg_settings WHERE name IN"
                                     " ('fsync', 'synchronous_commit', 'shared_buffers')")
        say("  platform ready and %d devices provisioned in %.1f s (PostgreSQL %s%s, %s; pool of %d)"
            % (rows[0][0], time.monotonic() - t0, version[0][0], ", embedded" if svc.store.embedded else "",
               ", ".join("%s=%s" % row for row in settings), db.size))
        if args.gc_threshold:
            gc.collect()
            gc.freeze()
            gc.set_threshold(args.gc_threshold, 50, 100)
        cpu = platform_meter()
        if postmaster is not None:
            cpu.add("postgres", postgres_cpu(postmaster))
        target = KandianTarget(svc, args.command)
        target.turns = turns
        result = yield measure(reactor, target, args, directory, cpu, profile=not args.no_profile)
        result["postgres"] = version[0][0]
        stats = svc.platform.link_stats
        result["link_stats"] = {"logins": {str(k): v for k, v in stats.logins.items()},
                                "bad_frames": dict(stats.bad_frames),
                                "command_timeouts": sum(stats.command_timeouts.values())}
        result["log_events"] = dict(levels)
        say("  link stats: logins by Result %s, bad frames %s, command timeouts %d; log events %s"
            % (result["link_stats"]["logins"], result["link_stats"]["bad_frames"] or "none",
               result["link_stats"]["command_timeouts"], dict(levels)))
        return result
    finally:
        reap_all(signal.SIGTERM, 5.0)
        if svc.running:
            yield svc.stopService()


# -- the report --------------------------------------------------------------------------------


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def report(args, kandian: dict, null: dict | None) -> None:
    n = kandian["devices"]
    both = [("kandian", kandian)] + ([("null platform (baseline)", null)] if null else [])
    say("\n== figures (markdown)\n")
    say(_row(["what"] + [name for name, _ in both]))
    say(_row(["---"] * (len(both) + 1)))
    say(_row(["devices online / provisioned"] + ["%d / %d" % (r["logins"]["online"], n) for _, r in both]))
    say(_row(["logins/s, first to N-th login"] + [r["logins"]["rate"] for _, r in both]))
    say(_row(["logins/s, 10 %-90 % of N"] + [r["logins"]["rate_10_90"] for _, r in both]))
    say(_row(["first to N-th login, s"] + [r["logins"]["first_to_last_s"] for _, r in both]))
    for group in ("machine, all processes", "platform", "platform sys", "platform gc", "platform gc gen2 runs",
                  "platform runqueue wait", "postgres", "fleet", "fleet sys", "fleet runqueue wait"):
        if any(group in r["logins"]["cpu"] for _, r in both):
            say(_row(["CPU s during logins: %s" % group] + [r["logins"]["cpu"].get(group, "-") for _, r in both]))
    say(_row(["accept-queue overflows (SYNs dropped)"] + [r["logins"]["listen_overflows"] for _, r in both]))
    say(_row(["RSS before / idle with N links, MiB"] + ["%.1f / %.1f" % (r["rss_before_kib"] / 1024,
                                                                          r["memory"]["rss_after_kib"] / 1024)
                                                         for _, r in both]))
    say(_row(["**RSS per idle link, bytes**"] + [r["memory"]["bytes_per_link"] for _, r in both]))
    say(_row(["Python objects one idle link alone holds: bytes (count)"]
             + ["%d (%d)" % (r["memory"]["owned_bytes"], r["memory"]["owned_objects"]) for _, r in both]))
    say(_row(["gc-tracked objects per link"] + [r["memory"]["objects_per_link"] for _, r in both]))
    say(_row(["heartbeats/s while idle"] + [r["heartbeats_per_s"] for _, r in both]))
    for i, rate in enumerate(args.rates):
        cells = []
        for _, r in both:
            c = r["commands"][i]
            cells.append("%.2f / %.2f / %.2f / %.2f; %s" % (c["p50"], c["p90"], c["p99"], c["max"],
                                                            "errors %s" % c["errors"] if c["errors"] else "0 errors"))
        say(_row(["%s at %g/s, ms p50 / p90 / p99 / max" % (args.command, rate)] + cells))
        say(_row(["  CPU s platform / postgres / fleet in those %g s" % args.seconds]
                 + ["%s / %s / %s" % (r["commands"][i]["cpu"].get("platform"), r["commands"][i]["cpu"].get(
                     "postgres", "-"), r["commands"][i]["cpu"].get("fleet")) for _, r in both]))
    for i, rate in enumerate(args.rates):
        say(_row(["  worst reactor stall at %g/s, ms (last_seen_at flushes: rows, ms)" % rate]
                 + ["%s (%s)" % (r["commands"][i].get("worst_stall_ms"), "; ".join(
                     "%d, %.1f" % f for f in r["commands"][i].get("seen_flushes", [])) or "none")
                    for _, r in both]))
    say(_row(["all links closed and recorded offline, s"] + [r["disconnect_s"] for _, r in both]))

    prof = kandian.get("profile")
    if prof and "own" in prof:
        say("\n== profile of the platform process during a second login pass (py-spy --native, %d samples of %d"
            " possible; %s logins/s under the profiler, which used %s s of CPU)"
            % (prof["samples"], prof["possible"], prof.get("logins_per_s"), prof.get("py_spy_cpu_s")))
        say("where the time went (inclusive, % of samples):")
        for name, pct in prof.get("parts", []):
            say("  %5.1f  %s" % (pct, name))
        say("own time, % of samples:")
        for name, pct in prof["own"]:
            say("  %5.1f  %s" % (pct, name))
        say("own time by file:")
        for name, pct in prof["own_by_file"]:
            say("  %5.1f  %s" % (pct, name))
        say("inclusive time, % of samples:")
        for name, pct in prof["inclusive"]:
            say("  %5.1f  %s" % (pct, name))
    elif prof:
        say("\n(py-spy failed: %s)" % prof.get("error"))

    say("\n== targets (PRODUCT.md)")
    rss0 = kandian["rss_before_kib"] * 1024
    per = kandian["memory"]["bytes_per_link"]
    say("- %d concurrent logged-in devices on one node: NOT ATTEMPTED -- this sandbox's open-file hard limit"
        " (%d) caps one process at ~20,000 sockets; %d of %d were online here. Extrapolation (not a"
        " measurement): %d links x %d bytes + %.0f MiB base = %.0f MiB of platform RSS."
        % (TARGET_DEVICES, resource.getrlimit(resource.RLIMIT_NOFILE)[1], kandian["logins"]["online"], n,
           TARGET_DEVICES, per, rss0 / 2**20, (rss0 + TARGET_DEVICES * per) / 2**20))
    rate = kandian["logins"]["rate"]
    say("- >= %d logins/s: %s (%.0f/s, %+.0f %%); platform CPU %.1f s in %.1f s of logins"
        % (TARGET_LOGINS, "met" if rate >= TARGET_LOGINS else "MISSED", rate, 100 * (rate / TARGET_LOGINS - 1),
           kandian["logins"]["cpu"].get("platform", 0), kandian["logins"]["first_to_last_s"] or 0))
    for c in kandian["commands"]:
        say("- command p99 < %g ms at %g/s with %d online: %s (p99 %.2f ms, %d errors)"
            % (TARGET_P99_MS, c["rate"], kandian["logins"]["online"],
               "met" if c["p99"] < TARGET_P99_MS and not c["errors"] else "MISSED", c["p99"],
               sum(c["errors"].values())))
    say("- memory per idle link: %d bytes of platform RSS (baseline %s), plus kernel socket buffers"
        % (per, null["memory"]["bytes_per_link"] if null else "not run"))

    # the headlines: median and spread of repeated runs, none from a disturbed run (issue 19)
    runs = kandian.get("login_runs") or [dict(kandian["logins"])]
    logins = spread([r["rate"] for r in runs])
    why = ["login pass %d: others %.2f cores" % (i + 1, r["others"]) for i, r in enumerate(runs)
           if r.get("others", 0.0) >= QUIET_CORES]
    why += ["login pass %d: %d of %d online" % (i + 1, r["online"], n) for i, r in enumerate(runs) if r["online"] < n]
    if logins["n"] < 3:
        why.append("fewer than 3 login passes (--login-runs)")
    headline("device link logins/s with the database (offered %s/s, N=%d, commit %s)" % (
        "%g" % args.connect_rate if args.connect_rate else "max", n, git_commit()),
        "%s; target >= %d: %s" % (describe_spread(logins, "%.0f", "/s"), TARGET_LOGINS,
                                  "met" if logins["median"] >= TARGET_LOGINS else "missed"), why)
    at = [c for c in kandian["commands"] if c["rate"] >= TARGET_LOGINS]
    p99 = spread([c["p99"] for c in at])
    why = ["%s run %d: others %.2f cores" % (args.command, i + 1, c.get("others", 0.0)) for i, c in enumerate(at)
           if c.get("others", 0.0) >= QUIET_CORES]
    why += ["%s run %d: %d errors" % (args.command, i + 1, sum(c["errors"].values())) for i, c in enumerate(at)
            if c["errors"]]
    if p99["n"] < 3:
        why.append("fewer than 3 command runs at >= %d/s (--rates)" % TARGET_LOGINS)
    headline("device link command round trip p99 at %d/s with %d online" % (TARGET_LOGINS, kandian["logins"]["online"]),
             "%s; target < %g ms: %s" % (describe_spread(p99, "%.2f", " ms"), TARGET_P99_MS,
                                         "met" if p99["median"] < TARGET_P99_MS else "missed"), why)


def _hard_nofile() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return hard if hard != resource.RLIM_INFINITY else 1 << 20


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=min(19000, max(100, _hard_nofile() - 1000)),
                        help="devices N (default 19000, or fewer under a lower open-file hard limit)")
    parser.add_argument("--fleet-procs", type=int, default=2, help="simulator processes (default 2)")
    # the rate from the first login to the last can only be at most the rate offered: offered exactly the
    # target, a platform that keeps up reads a hair under it (1,995/s offered 2,000, the null platform too), so
    # the fleet offers 10 % more and the target is met when the platform serves >= 2,000/s of it
    parser.add_argument("--connect-rate", type=float, default=OFFERED_LOGINS,
                        help="connections a second offered by the whole fleet (default %d: 10 %%%% above the"
                        " target of %d); 0: as fast as it can" % (OFFERED_LOGINS, TARGET_LOGINS))
    parser.add_argument("--heartbeat", type=float, default=None,
                        help="heartbeat period, s (default 120 x N / 50,000: the heartbeat load of 50,000)")
    parser.add_argument("--rates", default="2000,2000,2000",
                        help="command rates, a second, one timed run each (default 2000,2000,2000: three runs at"
                        " the target rate)")
    parser.add_argument("--login-runs", type=int, default=3,
                        help="timed login passes of the whole fleet (default 3; the first is followed by the idle,"
                        " memory and command phases)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds at each command rate (default 5)")
    parser.add_argument("--command", choices=sorted(COMMANDS), default="get_wifi")
    parser.add_argument("--dsn", default="", help="PostgreSQL to use (default: the embedded one)")
    parser.add_argument("--pool-size", type=int, help="[database] pool_size (default: kandian's, 4)")
    parser.add_argument("--synchronous-commit-off", action="store_true",
                        help="experiment: the embedded PostgreSQL does not wait for the WAL flush at commit")
    parser.add_argument("--gc-threshold", type=int, metavar="N",
                        help="experiment: gc.freeze() after start-up and gc.set_threshold(N, 50, 100) in the platform")
    parser.add_argument("--no-baseline", action="store_true", help="skip the null platform")
    parser.add_argument("--fleet-sched", choices=("batch", "other"), default="batch",
                        help="the fleet processes' scheduling policy (default batch: SCHED_BATCH, same nice)")
    parser.add_argument("--turns", action="store_true",
                        help="time every reactor turn of the platform and name what filled the slow ones"
                             " (bench/_turns.py; it slows the platform a little)")
    parser.add_argument("--no-profile", action="store_true", help="do not run py-spy during the logins")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    parser.add_argument("--backlog", type=int, help="listen backlog of the device port (default: Twisted's 50,"
                        " as the shipped config has)")
    parser.add_argument("--null-platform", metavar="RESULT", help=argparse.SUPPRESS)
    parser.add_argument("--fleet-child", metavar="PORT,COUNT,FIRST,RATE,BIND", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.rates = [float(r) for r in str(args.rates).split(",") if r]
    if args.heartbeat is None:
        args.heartbeat = round(120.0 * args.devices / TARGET_DEVICES, 1)
    if args.synchronous_commit_off and args.dsn:
        parser.error("--synchronous-commit-off is for the embedded PostgreSQL only")
    if args.devices < 1 or args.fleet_procs < 1:
        parser.error("--devices and --fleet-procs must be positive")
    if -(-args.devices // PER_ADDRESS) + args.fleet_procs > 250:
        parser.error("too many devices for 250 source addresses")
    return args


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.fleet_child:
        run_fleet_child(args)
        return
    if args.null_platform:
        task.react(lambda reactor: run_null(reactor, args))
        return
    info = machine()
    from twisted.internet import reactor as default_reactor
    say("machine: %(cores)d cores (%(cpu)s), %(memory_gib)s GiB, Linux %(kernel)s, %(python)s, Twisted %(twisted)s,"
        " open files %(nofile)s" % info)
    commit = git_commit()
    say("reactor: %s; kandian at commit %s" % (type(default_reactor).__name__, commit or "?"))
    say("command: %s %s" % (os.path.relpath(sys.executable), " ".join([os.path.relpath(__file__)] + argv)))
    say_state("before the runs")
    say("devices %d, fleet %d processes, connect rate %s, heartbeat every %g s (spread evenly once all are"
        " online), commands %s at %s/s for %g s, device listen backlog %s"
        % (args.devices, args.fleet_procs,
           "%g/s" % args.connect_rate if args.connect_rate else "as fast as the fleet can", args.heartbeat,
           args.command, ",".join("%g" % r for r in args.rates), args.seconds, args.backlog or "50 (default)"))
    null = None
    directory = tempfile.mkdtemp(prefix="kandian-bench-link-")
    os.chmod(directory, 0o755)  # the embedded PostgreSQL runs as an unprivileged user
    try:
        if not args.no_baseline:
            say("\n== baseline: null platform, fresh process")
            out = os.path.join(directory, "null.json")
            child = spawn([sys.executable, os.path.abspath(__file__), "--null-platform", out] + argv)
            if child.wait() != 0 or not os.path.exists(out):
                raise SystemExit("the null-platform run failed (exit %s)" % child.returncode)
            children.remove(child)
            with open(out) as f:
                null = json.load(f)
        say("\n== kandian: KandianService in this process")

        @defer.inlineCallbacks
        def run(reactor):
            kandian = yield run_kandian(reactor, args, directory)
            kandian["state_after"] = say_state("after the runs")
            report(args, kandian, null)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump({"machine": info, "args": vars(args), "kandian": kandian, "null": null}, f,
                              indent=1)

        task.react(run)  # exits
    finally:
        reap_all(signal.SIGTERM, 5.0)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
