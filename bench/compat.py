"""The compatibility APIs against a bare ``twisted.web`` resource in the same run: spec/000's ``play`` (a live
session: the account's password, the binding, a relay token) and ``pauseplay`` (XML in and out, a session
looked up), spec/002's ``list_camera`` (a page of 10 of ``--devices`` channels, its access token checked).

Three processes besides this one, as bench/portal.py has them: the platform (``--platform-child``: the real
``KandianService`` with ``[mvb]`` and ``[cloudmonitor]`` on, real PostgreSQL, ``--devices`` devices, one
online through the simulator, an account it is bound to, an API key), the baseline (``--bare-child``: a
``Site`` whose one leaf answers POST with a fixed XML answer and GET with a fixed JSON page as large as
list_camera's) and the load, ``wrk`` with ``--connections`` keep-alive connections, counting an answer good
only when it says success.

    python bench/compat.py [--seconds 10] [--warmup 2] [--connections 16] [--devices 20000] [--dsn DSN]
        [--json FILE] [--keep]

A short check that it all works: ``python bench/compat.py --seconds 1 --warmup 0 --devices 2000``.
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

from portal import FIRST_DEVID, _wait_for, _write_json, case

from _measure import die_with_parent, git_commit, say
from soap import ensure_wrk

LISTENERS = ("device", "register", "mcu", "rtsp", "admin", "ftp", "portal", "mvb", "cloudmonitor")
ACCOUNT, PASSWORD = "13800000001", "bench-pass-1"


def play_body(dev_id: str) -> str:
    return ('<?xml version="1.0" encoding="GB2312" ?><Request><RequestID>1</RequestID><DeviceID>%s</DeviceID>'
            "<DeviceChn>0</DeviceChn><DeviceUser>%s</DeviceUser><DevicePass>%s</DevicePass>"
            "<BeginTime></BeginTime><EndTime></EndTime></Request>" % (dev_id, ACCOUNT, PASSWORD))


def run_bare(directory: str, size: int) -> None:
    from twisted.internet import reactor
    from twisted.web import resource, server

    page = json.dumps({"err_code": 0, "err_msg": "OK", "pad": "x" * max(0, size - 40)}, separators=(",", ":")).encode()
    answer = ('<?xml version="1.0" encoding="GB2312" ?>\n<Response>\n\t<RequestID>1</RequestID>\n'
              "\t<StatusCode>0</StatusCode>\n\t<Description>请求成功</Description>\n\t<session>12</session>\n"
              "\t<PlayUrl>rtsp://127.0.0.1:8554/realplay?devid=81100000000&amp;channelno=0&amp;streamtype=1"
              "&amp;hashtoken=0123456789abcdef0123456789abcdef</PlayUrl>\n</Response>\n").encode("gb2312")

    class Bare(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            request.setHeader(b"content-type", b"application/json; charset=utf-8")
            return page

        def render_POST(self, request):
            request.content.read()
            request.setHeader(b"content-type", b"text/xml; charset=GB2312")
            return answer

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
        if name in ("mvb", "cloudmonitor"):
            text += "max_connections = 4096\nmax_connections_per_address = 0\n"
        if name == "mvb":
            text += "max_sessions = 10000000\n"
    text += "[media]\nfile_server =\n"
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
            "INSERT INTO device (dev_id, dev_key, model, manufacturer_no, channel_num)"
            " SELECT n::text, 'key-' || n, 'DS-' || (n %% 7), '811', 1 FROM generate_series(%s, %s) n",
            (FIRST_DEVID, FIRST_DEVID + args.devices - 1))
        yield db.runOperation("INSERT INTO channel (dev_id, channel_no) SELECT dev_id, 0 FROM device")
        target = str(FIRST_DEVID)
        link = yield connect_device(reactor, ("127.0.0.1", svc.listeners["device"].port.getHost().port),
                                    DeviceState(target, "key-" + target))
        links.append(link)
        yield link.logged_in()
        yield link.report_ability()
        for _ in range(1000):
            if core.devices.online(target):
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
        user_id = yield core.accounts.add(ACCOUNT, PASSWORD)
        yield db.runOperation("INSERT INTO user_device (user_id, dev_id) VALUES (%s, %s)", (user_id, target))
        key, _ = yield core.apikeys.add("bench")
        token = yield core.apikeys.access_token(key)
        _write_json(os.path.join(directory, "platform.json"), {
            "mvb": svc.listeners["mvb"].port.getHost().port, "target": target, "token": token.token,
            "cloudmonitor": svc.listeners["cloudmonitor"].port.getHost().port})
        yield defer.Deferred()

    return main()


def spawn(*child) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *child], preexec_fn=die_with_parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def post(url: str, body: str) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, body.encode("gb2312"))) as answer:
        return answer.read()


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
    parser.add_argument("--bare-size", type=int, default=8000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_child:
        return run_bare(args.bare_child, args.bare_size)
    if args.platform_child:
        from twisted.internet import task
        return task.react(lambda reactor: run_platform(reactor, args))

    wrk = ensure_wrk()
    directory = tempfile.mkdtemp(prefix="kandian-bench-compat-")
    children = []
    try:
        platform_proc = spawn("--platform-child", directory, "--devices", str(args.devices),
                              *(["--dsn", args.dsn] if args.dsn else []))
        children.append(platform_proc)
        platform = _wait_for(os.path.join(directory, "platform.json"), platform_proc)
        mvb = "http://127.0.0.1:%d/mobileservice/" % platform["mvb"]
        first = post(mvb + "play", play_body(platform["target"])).decode("gb2312")
        assert "<StatusCode>0</StatusCode>" in first, first
        session = first.split("<session>")[1].split("</session>")[0]
        pause = ('<?xml version="1.0" encoding="GB2312" ?><Request><RequestID>1</RequestID><session>%s</session>'
                 "</Request>" % session)
        cameras = "http://127.0.0.1:%d/api/v1/list_camera?token=%s&cur=%d&per=10" % (
            platform["cloudmonitor"], platform["token"], max(1, args.devices // 20))
        with urllib.request.urlopen(cameras) as answer:
            page = answer.read()
        assert json.loads(page)["total_num"] == args.devices, page[:200]
        bare_proc = spawn("--bare-child", directory, "--bare-size", str(len(page)))
        children.append(bare_proc)
        bare = "http://127.0.0.1:%d/" % _wait_for(os.path.join(directory, "bare.json"), bare_proc)["port"]
        ok = "<StatusCode>0</StatusCode>"
        kandian, baseline = platform_proc.pid, bare_proc.pid  # whose CPU a request each case reads
        results = {
            "bare POST": case(wrk, bare, "POST", "x", play_body(platform["target"]), ok, args, directory, "bp",
                              baseline),
            "mvb play": case(wrk, mvb + "play", "POST", "x", play_body(platform["target"]), ok, args, directory,
                             "play", kandian),
            "mvb pauseplay": case(wrk, mvb + "pauseplay", "POST", "x", pause, ok, args, directory, "pause", kandian),
            "bare GET": case(wrk, bare, "GET", "x", None, '"err_code":0', args, directory, "bg", baseline),
            "list_camera": case(wrk, cameras, "GET", "x", None, '"err_code":0', args, directory, "cameras",
                                kandian),
        }
        say("kandian compatibility APIs benchmark (%s, %d devices, %d connections, %g s a case)"
            % (git_commit(), args.devices, args.connections, args.seconds))
        for name, r in results.items():
            say("  %-14s %9.1f req/s  p50 %6.2f ms  p99 %6.2f ms  server CPU %6.1f us a request"
                % (name, r["rps"], r["p50_ms"], r["p99_ms"], r["server_cpu_us"]))
        ratios = {"mvb play": results["mvb play"]["rps"] / results["bare POST"]["rps"],
                  "mvb pauseplay": results["mvb pauseplay"]["rps"] / results["bare POST"]["rps"],
                  "list_camera": results["list_camera"]["rps"] / results["bare GET"]["rps"]}
        for name, ratio in ratios.items():
            say("  %-14s %5.1f %% of the bare resource" % (name, 100 * ratio))
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
