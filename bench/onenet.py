"""spec/001's REST API (``[onenet]``, issue 18) against a bare ``twisted.web`` resource in the same run:
``GET /devices/{id}`` (one device with its key: the key check, one query and the profile) and ``POST
/ipc/video/cmds?qos=1`` (§3.2's PTZ, answered by the shipped simulator over a real link), each as a share of the
bare resource's requests/s.

The processes are bench/portal.py's: the platform (``--platform-child``: the real ``KandianService`` on real
PostgreSQL — the embedded default under a temporary ``data_dir``, or ``--dsn`` — with ``--devices`` devices and
the PTZ target online through the simulator; the load sends that device's own api-key), the bare resource
(``--bare-child``) and ``wrk`` with ``--connections`` keep-alive connections, whose Lua script counts an answer
good only when it is HTTP 200 and carries the expected text.

    python bench/onenet.py [--seconds 10] [--warmup 2] [--connections 16] [--devices 20000] [--dsn DSN]
        [--json FILE] [--keep]

A short check that it all works: ``python bench/onenet.py --seconds 1 --warmup 0 --devices 2000``.
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
import urllib.request

from portal import FIRST_DEVID, _wait_for, _write_json, run_bare

from _measure import die_with_parent, git_commit, say
from soap import ensure_wrk

LISTENERS = ("device", "register", "mcu", "rtsp", "admin", "ftp", "portal", "onenet")
PTZ = {"cmdId": 7, "channel_id": 1, "cmd": {"stop": 0, "cmd": 13, "speed": 3}}

LUA = r"""
wrk.method = [==[%(method)s]==]
wrk.headers["api-key"] = [==[%(key)s]==]
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
        if name == "onenet":
            text += "max_connections = 4096\nmax_connections_per_address = 0\n"
    svc = KandianService(config.parse(text, "bench.ini", reactor), reactor, tune_gc=True)
    links = []

    def before_shutdown():
        for link in links:
            link.close()
        return svc.stopService() if svc.running else None

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)

    @defer.inlineCallbacks
    def main():
        svc.startService()
        yield svc.ready
        db, core = svc.platform.db, svc.platform.core
        yield db.runOperation(
            "INSERT INTO device (dev_id, dev_key, name, model, manufacturer_no, channel_num)"
            " SELECT n::text, 'key-' || n, 'shop ' || n, 'DS-' || (n %% 7), '811', 1"
            " FROM generate_series(%s, %s) n", (FIRST_DEVID, FIRST_DEVID + args.devices - 1))
        yield db.runOperation("INSERT INTO channel (dev_id, channel_no) SELECT dev_id, 0 FROM device")
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
        key = yield core.key_auth.device_keys.key(target)
        _write_json(os.path.join(directory, "platform.json"), {
            "pid": os.getpid(), "port": svc.listeners["onenet"].port.getHost().port, "key": key, "target": target})
        yield defer.Deferred()

    return main()


def spawn(*child) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *child], preexec_fn=die_with_parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_wrk(wrk, url, method, key, body, expect, seconds, args, directory, name) -> dict:
    script = os.path.join(directory, name + ".lua")
    with open(script, "w") as f:
        f.write(LUA % {"method": method, "key": key, "expect": expect,
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


def case(wrk, url, method, key, body, expect, args, directory, name) -> dict:
    if args.warmup:
        run_wrk(wrk, url, method, key, body, expect, args.warmup, args, directory, name)
    result = run_wrk(wrk, url, method, key, body, expect, args.seconds, args, directory, name)
    if result["bad"]:
        raise RuntimeError("%s: %d bad answers of %d" % (name, result["bad"], result["requests"]))
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--dsn", default="")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--platform-child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--bare-child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--bare-size", type=int, default=600, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_child:
        return run_bare(args.bare_child, args.bare_size)
    if args.platform_child:
        from twisted.internet import task
        return task.react(lambda reactor: run_platform(reactor, args))

    wrk = ensure_wrk()
    directory = tempfile.mkdtemp(prefix="kandian-bench-onenet-")
    children = []
    try:
        platform_proc = spawn("--platform-child", directory, "--devices", str(args.devices),
                              *(["--dsn", args.dsn] if args.dsn else []))
        children.append(platform_proc)
        platform = _wait_for(os.path.join(directory, "platform.json"), platform_proc)
        base = "http://127.0.0.1:%d" % platform["port"]
        request = urllib.request.Request(base + "/devices/" + platform["target"], headers={"api-key": platform["key"]})
        with urllib.request.urlopen(request) as answer:
            page = answer.read()
        assert json.loads(page)["data"]["id"] == platform["target"], page
        bare_proc = spawn("--bare-child", directory, "--bare-size", str(len(page)))
        children.append(bare_proc)
        bare = _wait_for(os.path.join(directory, "bare.json"), bare_proc)
        bare_url = "http://127.0.0.1:%d/" % bare["port"]
        results = {
            "bare GET": case(wrk, bare_url, "GET", "x", None, '"items"', args, directory, "bare_get"),
            "GET /devices/{id}": case(wrk, base + "/devices/" + platform["target"], "GET", platform["key"], None,
                                      '"errno":0', args, directory, "device"),
            "bare POST": case(wrk, bare_url, "POST", "x", json.dumps(PTZ), '"Result":0', args, directory,
                              "bare_post"),
            "POST cmds (PTZ)": case(wrk, base + "/ipc/video/cmds?qos=1&device_id=" + platform["target"], "POST",
                                    platform["key"], json.dumps(PTZ), '"cmd_status":4', args, directory, "ptz"),
        }
        say("kandian [onenet] benchmark (%s, %d devices, %d connections, %g s a case)"
            % (git_commit(), args.devices, args.connections, args.seconds))
        for name, r in results.items():
            say("  %-18s %9.1f req/s  p50 %6.2f ms  p99 %6.2f ms" % (name, r["rps"], r["p50_ms"], r["p99_ms"]))
        ratios = {"GET /devices/{id}": results["GET /devices/{id}"]["rps"] / results["bare GET"]["rps"],
                  "POST cmds (PTZ)": results["POST cmds (PTZ)"]["rps"] / results["bare POST"]["rps"]}
        for name, ratio in ratios.items():
            say("  %-18s %5.1f %% of the bare resource" % (name, 100 * ratio))
        if args.json:
            _write_json(args.json, {"results": results, "ratios": ratios, "devices": args.devices,
                                    "commit": git_commit()})
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
