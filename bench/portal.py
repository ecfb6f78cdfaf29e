"""REST API throughput against a bare ``twisted.web`` resource (issue 15: ``GET /api/v1/devices``, a page of 50 of
20,000 devices, and ``POST …/commands/ptz``, each against the bare resource's requests/s in the same run; target
>= 30 %).

The GET is measured twice: as pages and scripts poll it (every connection asks for the same page, which the
node's list cache answers -- one query a second, ``[portal] list_cache_ttl``) and with the cache off (every
request a query: what a miss costs; the platform child turns its cache off on SIGUSR1 and on again on SIGUSR2).
Each round runs every case once, each ratio against the bare run of its round; ``--rounds`` (3) rounds give a
median and a spread, and the machine's state before and after says whether the figures are a quiet machine's.

Three processes besides this one:

* the platform (``--platform-child``): the real ``KandianService`` with real PostgreSQL (the embedded default
  under a temporary ``data_dir``, or ``--dsn``), every listener on ``tcp:0:interface=127.0.0.1``, ``--devices``
  devices provisioned in one statement, one of them online through the shipped simulator (the PTZ target, in the
  same process), and an operator whose Bearer token the load sends;
* the baseline (``--bare-child``): a ``twisted.web`` ``Site`` whose one leaf ``Resource`` answers GET with a fixed
  JSON document as large as the devices page, and POST with a small one -- no parsing, no database;
* the load: ``wrk`` (installed from Debian when missing, as bench/soap.py does), ``--connections`` keep-alive
  connections; its Lua script counts an answer good only when it is HTTP 200 and carries the expected text.

    python bench/portal.py [--seconds 10] [--warmup 2] [--rounds 3] [--connections 16] [--devices 20000]
        [--dsn DSN] [--json FILE] [--keep]

A short check that it all works: ``python bench/portal.py --seconds 1 --warmup 0 --rounds 1 --devices 2000`` (wrk times
whole seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from _measure import (
    QUIET_CORES,
    describe_spread,
    die_with_parent,
    family,
    git_commit,
    headline,
    process_cpu,
    say,
    say_state,
    spread,
)
from soap import ensure_wrk

LISTENERS = ("device", "register", "mcu", "rtsp", "admin", "ftp", "portal")
FIRST_DEVID = 81100000000
OPERATOR, PASSWORD = "bench-ops", "bench-pass-1"

LUA = r"""
wrk.method = [==[%(method)s]==]
wrk.headers["Authorization"] = [==[Bearer %(token)s]==]
wrk.headers["Content-Type"] = "application/json"
%(body)s
local expect = [==[%(expect)s]==]
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok, bad = 0, 0 end
function response(status, headers, body)
  if status == 200 and body and string.find(body, expect, 1, true) then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format('WRK-RESULT {"requests": %%d, "duration_us": %%d, "ok": %%d, "bad": %%d,'
    .. ' "p50_ms": %%.3f, "p99_ms": %%.3f}\n', summary.requests, summary.duration, o, b,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def _write_json(path: str, data) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


def _wait_for(path: str, proc: subprocess.Popen, timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        if proc.poll() is not None:
            raise SystemExit("a child process died (exit %s); see its log in %s" % (proc.returncode,
                                                                                 os.path.dirname(path)))
        time.sleep(0.1)
    raise SystemExit("a child process did not start within %d s" % timeout)


def run_bare(directory: str, size: int) -> None:
    from twisted.internet import reactor
    from twisted.web import resource, server

    page = json.dumps({"items": [], "pad": "x" * max(0, size - 40), "total": 0}).encode()

    class Bare(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            request.setHeader(b"content-type", b"application/json; charset=utf-8")
            return page

        def render_POST(self, request):
            request.content.read()
            request.setHeader(b"content-type", b"application/json; charset=utf-8")
            return b'{"Result":0,"DevID":"81100000000"}'

    port = reactor.listenTCP(0, server.Site(Bare()), interface="127.0.0.1")
    _write_json(os.path.join(directory, "bare.json"), {"port": port.getHost().port})
    reactor.run()


def run_platform(reactor, args):
    from twisted.internet import defer, task
    from twisted.logger import globalLogBeginner, textFileLogObserver

    from kandian import config
    from kandian.service import KandianService
    from kandian.sim.link import connect_device
    from kandian.sim.state import DeviceState

    directory = args.platform_child
    log = open(os.path.join(directory, "kandian.log"), "w")  # noqa: SIM115 (open for the process's life)
    globalLogBeginner.beginLoggingTo([textFileLogObserver(log)], redirectStandardIO=False)
    text = "[platform]\ndata_dir = %s\n[database]\ndsn = %s\n" % (os.path.join(directory, "var"), args.dsn)
    for name in LISTENERS:
        text += "[%s]\nlisten = tcp:0:interface=127.0.0.1\n" % name
        if name == "portal":
            # every load connection comes from 127.0.0.1
            text += "max_connections = 4096\nmax_connections_per_address = 0\n"
    svc = KandianService(config.parse(text, "bench.ini", reactor), reactor, tune_gc=True)
    links = []

    def before_shutdown():
        for link in links:
            link.close()
        return svc.stopService() if svc.running else None

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)

    def cache(ttl):
        # the bench's switch between its GET cases: the list cache off (every request a query) and on again
        def switch(*_):
            cache = getattr(svc.platform.core.fleet, "list_cache", None)
            if cache is None:  # the platform of a commit without the cache (PYTHONPATH=another checkout)
                return
            log.write("list cache: %d hits, %d misses, %d drops; ttl now %s\n"
                      % (cache.hits, cache.misses, cache.drops, ttl))
            log.flush()
            reactor.callFromThread(setattr, cache, "ttl", ttl)
        return switch

    signal.signal(signal.SIGUSR1, cache(0))
    signal.signal(signal.SIGUSR2, cache(getattr(svc.config.portal, "list_cache_ttl", 1)))

    @defer.inlineCallbacks
    def main():
        svc.startService()
        yield svc.ready
        db, core = svc.platform.db, svc.platform.core
        yield db.runOperation(
            "INSERT INTO device (dev_id, dev_key, model, manufacturer_no, channel_num)"
            " SELECT n::text, 'key-' || n, 'DS-' || (n %% 7), '811', 1 FROM generate_series(%s, %s) n",
            (FIRST_DEVID, FIRST_DEVID + args.devices - 1))
        yield db.runOperation(
            "INSERT INTO channel (dev_id, channel_no) SELECT dev_id, 0 FROM device")
        # what autovacuum does to a table of that size soon after: statistics (without them the planner
        # sorts the whole table for a page) and the visibility map (index-only scans)
        for table in ("device", "channel", "user_device", "manufacturer"):
            yield db.runOperation("VACUUM ANALYZE " + table)
        target = str(FIRST_DEVID)
        link = yield connect_device(reactor, ("127.0.0.1", svc.listeners["device"].port.getHost().port),
                                    DeviceState(target, "key-" + target))
        links.append(link)
        yield link.logged_in()
        yield link.report_ability()
        for _ in range(1000):
            rows = yield db.runQuery("SELECT online FROM device WHERE dev_id = %s", (target,))
            if rows[0][0]:
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
        yield core.operators.add(OPERATOR, PASSWORD)
        login = yield core.api_auth.login(OPERATOR, PASSWORD, "127.0.0.1")
        _write_json(os.path.join(directory, "platform.json"), {
            "pid": os.getpid(), "port": svc.listeners["portal"].port.getHost().port, "token": login.token,
            "target": target})
        yield defer.Deferred()

    return main()


def spawn(args, *child) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *child], preexec_fn=die_with_parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_wrk(wrk, url, method, token, body, expect, seconds, args, directory, name) -> dict:
    script = os.path.join(directory, name + ".lua")
    with open(script, "w") as f:
        f.write(LUA % {"method": method, "token": token, "expect": expect,
                       "body": "wrk.body = [==[%s]==]" % body if body else ""})
    command = [wrk, "-t", "1", "-c", str(args.connections), "-d", "%ds" % max(1, round(seconds)), "--timeout", "10s",
               "--latency", "-s", script, url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((t for t in out.stdout.splitlines() if t.startswith("WRK-RESULT ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError("wrk failed (%s):\n%s\n%s" % (out.returncode, out.stdout, out.stderr))
    result = json.loads(line.split(" ", 1)[1])
    result["rps"] = round(result["requests"] / (result["duration_us"] / 1e6), 1)
    result["command"] = " ".join(command)
    return result


def server_cpu(pid: int) -> float:
    """CPU seconds of the server *pid* and its children (the platform's embedded PostgreSQL) so far."""
    cpu = process_cpu()
    return sum(cpu[p][1] for p in family(pid) if p in cpu)


def case(wrk, url, method, token, body, expect, args, directory, name, server: int) -> dict:
    """One wrk run (after its warm-up), with the CPU the *server* process family spent a request: a figure a
    busy machine disturbs less than requests/s (the others' load slows the server, not its work a request)."""
    if args.warmup:
        run_wrk(wrk, url, method, token, body, expect, args.warmup, args, directory, name)
    cpu = server_cpu(server)
    result = run_wrk(wrk, url, method, token, body, expect, args.seconds, args, directory, name)
    result["server_cpu_us"] = round(1e6 * (server_cpu(server) - cpu) / max(1, result["requests"]), 1)
    if result["bad"]:
        raise RuntimeError("%s: %d bad answers of %d" % (name, result["bad"], result["requests"]))
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--dsn", default="")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--platform-child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--bare-child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--bare-size", type=int, default=20_000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_child:
        return run_bare(args.bare_child, args.bare_size)
    if args.platform_child:
        from twisted.internet import task
        return task.react(lambda reactor: run_platform(reactor, args))

    wrk = ensure_wrk()
    directory = tempfile.mkdtemp(prefix="kandian-bench-portal-")
    children = []
    try:
        child = ["--platform-child", directory, "--devices", str(args.devices)] + (["--dsn", args.dsn] if args.dsn
                                                                                  else [])
        platform_proc = spawn(args, *child)
        children.append(platform_proc)
        platform = _wait_for(os.path.join(directory, "platform.json"), platform_proc)
        base = "http://127.0.0.1:%d/api/v1" % platform["port"]
        import urllib.request
        request = urllib.request.Request(base + "/devices?per_page=50",
                                         headers={"Authorization": "Bearer " + platform["token"]})
        with urllib.request.urlopen(request) as answer:
            page = answer.read()
        first = json.loads(page)
        assert first["total"] == args.devices and len(first["items"]) == 50, first["total"]
        bare_proc = spawn(args, "--bare-child", directory, "--bare-size", str(len(page)))
        children.append(bare_proc)
        bare = _wait_for(os.path.join(directory, "bare.json"), bare_proc)
        bare_url = "http://127.0.0.1:%d/" % bare["port"]
        ptz = json.dumps({"ChannelNo": 0, "PtzDirection": 3})
        devices_url = base + "/devices?per_page=50&page=%d" % max(1, args.devices // 200)
        total = '"total":%d' % args.devices

        def cache(on):
            platform_proc.send_signal(signal.SIGUSR2 if on else signal.SIGUSR1)
            time.sleep(0.2)

        kandian, plain = platform["pid"], bare_proc.pid
        cases = {
            "bare GET": lambda: case(wrk, bare_url, "GET", "x", None, '"items"', args, directory, "bare_get", plain),
            "GET /devices": lambda: (cache(True), case(wrk, devices_url, "GET", platform["token"], None, total, args,
                                                       directory, "devices", kandian))[1],
            "GET uncached": lambda: (cache(False), case(wrk, devices_url, "GET", platform["token"], None, total,
                                                        args, directory, "devices_uncached", kandian))[1],
            "bare POST": lambda: case(wrk, bare_url, "POST", "x", ptz, '"Result":0', args, directory, "bare_post",
                                      plain),
            "POST ptz": lambda: case(wrk, base + "/devices/%s/commands/ptz" % platform["target"], "POST",
                                     platform["token"], ptz, '"Result":0', args, directory, "ptz", kandian),
        }
        bare_of = {"GET /devices": "bare GET", "GET uncached": "bare GET", "POST ptz": "bare POST"}
        before = say_state("before the runs")
        say("kandian portal benchmark (%s, %d devices, %d connections, %g s a case, %d rounds)"
            % (git_commit(), args.devices, args.connections, args.seconds, args.rounds))
        rounds: dict[str, list] = {name: [] for name in cases}
        for i in range(args.rounds):
            for name, run in cases.items():
                r = run()
                rounds[name].append(r)
                share = (" = %5.1f %% of the bare resource" % (100 * r["rps"] / rounds[bare_of[name]][-1]["rps"])
                         if name in bare_of else "")
                say("  #%d %-13s %9.1f req/s  p50 %6.2f ms  p99 %6.2f ms  server CPU %7.1f us a request%s"
                    % (i + 1, name, r["rps"], r["p50_ms"], r["p99_ms"], r["server_cpu_us"], share))
        after = say_state("after the runs")
        ratios = {name: spread([100 * r["rps"] / b["rps"] for r, b in zip(rounds[name], rounds[bare])])
                  for name, bare in bare_of.items()}
        disturbed = ["other processes used %.2f cores %s" % (state["others"], when)
                     for when, state in (("before", before), ("after", after)) if state["others"] >= QUIET_CORES]
        if args.rounds < 3:
            disturbed.append("fewer than 3 rounds (--rounds)")
        for name, bare in bare_of.items():
            cpu = spread([r["server_cpu_us"] for r in rounds[name]])
            cpu_ratio = spread([100 * b["server_cpu_us"] / r["server_cpu_us"]
                                for r, b in zip(rounds[name], rounds[bare])])
            say("  %-13s server CPU a request: %s; the bare resource's CPU a request is %s of it"
                % (name, describe_spread(cpu, unit=" us"), describe_spread(cpu_ratio, unit=" %")))
        for name, s in ratios.items():
            target = "" if name == "GET uncached" else "; target >= 30 %%: %s" % ("met" if s["median"] >= 30
                                                                                 else "missed")
            headline("portal %s / bare resource" % name, describe_spread(s, unit=" %") + target, disturbed)
        if args.json:
            _write_json(args.json, {"rounds": rounds, "ratios": ratios, "devices": args.devices,
                                    "commit": git_commit(), "state_before": before, "state_after": after})
    finally:
        for proc in children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in children:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            say("kept " + directory)


if __name__ == "__main__":
    main()
