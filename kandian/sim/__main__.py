"""``python -m kandian.sim``: run a fleet of simulated devices (spec §7.2–§7.5).

Registers each device (§7.2) unless ``--link`` gives the link address — at
the province the group platform names with ``--redirect-url`` (§5) — then
connects them at ``--connect-rate`` a second, keeps them logged in on their
heartbeats (§7.3.4), optionally raises alarms (§7.5.34) and, with ``--ftp``,
uploads each alarm's picture (§7.5.27) and carries out UPGRADE_REQ and
LOG_UPLOAD_REQ over FTP (§7.5.17, §7.5.35), prints a status line
every ``--status-every`` seconds and a summary at the end (after
``--duration`` seconds, or on Ctrl-C). Exit status 1 when no device ever
logged in.

Example::

    python -m kandian.sim --register-url http://127.0.0.1:8589/register \\
        --count 1000 --first-devid 81100000000 --key-pattern 'key-{devid}'

    # upgrades checked against the catalogue's digest, one device failing them
    python -m kandian.sim --register-url http://127.0.0.1:8589/register --count 50 \\
        --ftp --firmware-digest V1.6_20240101=<sha256 of `kandianctl firmware list`> \\
        --fail-upgrade 81100000007=corrupt
"""

from __future__ import annotations

import argparse
import resource
import sys
from collections.abc import Sequence
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from kandian.sim.fleet import FleetSummary, start_fleet
from kandian.sim.ftp import DeviceFtp, sample_jpeg
from kandian.sim.state import DEFAULT_DEV_VER, UPGRADE_FAILURES

# Linux hands out ports 32768–60999 by default: one source address reaches
# one platform address about this many times at once.
EPHEMERAL_PORTS = 28000


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kandian.sim", description="Run a fleet of simulated devices (spec §7.2–§7.5)."
    )
    parser.add_argument("--register-url", help="registration URL (§7.2), e.g. http://127.0.0.1:8589/register")
    parser.add_argument("--link", metavar="HOST:PORT", help="log in here directly, without registering")
    parser.add_argument("--redirect-url", help="ask the group platform first (§5), e.g. http://127.0.0.1:8593/redirect")
    parser.add_argument("--count", type=int, default=1, help="number of devices (default 1)")
    parser.add_argument("--first-devid", type=int, default=81100000000, help="DevID of the first device")
    parser.add_argument("--key-pattern", default="key-{devid}", help="DevKey, with {devid} (default key-{devid})")
    parser.add_argument("--type", type=int, choices=(1, 2, 3), default=1, help="DevType: 1 IPC, 2 DVR, 3 NVR")
    parser.add_argument("--channels", type=int, default=1, help="channels a device has (default 1)")
    parser.add_argument("--model", help="the model reported at registration")
    parser.add_argument("--dev-ver", default=DEFAULT_DEV_VER, help=f"firmware DevVer (default {DEFAULT_DEV_VER})")
    parser.add_argument("--heartbeat", type=float, default=120.0, help="heartbeat interval in s (default 120)")
    parser.add_argument("--alarm-every", type=float, metavar="S", help="each device raises an alarm every S s")
    parser.add_argument("--connect-rate", type=float, default=100.0, metavar="R", help="connections a second")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: at Ctrl-C)")
    parser.add_argument("--status-every", type=float, default=5.0, metavar="S", help="status line period")
    parser.add_argument("--reconnect-delay", type=float, default=5.0, metavar="S")
    parser.add_argument("--login-retry-delay", type=float, default=180.0, metavar="S", help="§7.3.3: 180")
    parser.add_argument("--register-retry-delay", type=float, default=300.0, metavar="S", help="§7.2: 300")
    parser.add_argument(
        "--bind", action="append", default=[], metavar="ADDR", help="source address (repeat to spread devices)"
    )
    parser.add_argument("--ftp", action="store_true",
                        help="upload alarm pictures, carry out UPGRADE_REQ and LOG_UPLOAD_REQ over FTP")
    parser.add_argument("--picture-size", type=int, default=4096, metavar="BYTES", help="alarm picture size")
    parser.add_argument("--firmware-digest", action="append", default=[], type=_pair, metavar="VER=SHA256",
                        help="the catalogue's sha256 of the image of NewDevVer VER (repeat)")
    parser.add_argument("--fail-upgrade", action="append", default=[], type=_pair, metavar="DEVID=MODE",
                        help="make DEVID fail its upgrades: %s (repeat)" % ", ".join(UPGRADE_FAILURES))
    parser.add_argument("-v", "--verbose", action="store_true", help="log at info level, not warnings only")
    options = parser.parse_args(argv)
    bad = [mode for _, mode in options.fail_upgrade if mode not in UPGRADE_FAILURES]
    if bad:
        parser.error("--fail-upgrade MODE must be one of: %s" % ", ".join(UPGRADE_FAILURES))
    if not options.register_url and not options.link and not options.redirect_url:
        parser.error("give --register-url, --redirect-url or --link")
    if "{devid}" not in options.key_pattern and options.count > 1:
        parser.error("--key-pattern must contain {devid}")
    return options


def _pair(raw: str) -> tuple[str, str]:
    key, sep, value = raw.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError("expected KEY=VALUE, got %r" % (raw,))
    return key.strip(), value.strip()


def _raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if needed > hard:
        print(f"warning: {needed} sockets wanted, the file limit is {hard}", file=sys.stderr)


def _print(line: str) -> None:
    print(line, flush=True)


async def _run(reactor: Any, options: argparse.Namespace) -> None:
    _raise_file_limit(options.count + 64)
    if options.count > EPHEMERAL_PORTS * max(1, len(options.bind)):
        print("warning: more devices than local ports; spread them with --bind", file=sys.stderr)
    fleet = start_fleet(
        reactor,
        count=options.count,
        first_devid=options.first_devid,
        key_pattern=options.key_pattern,
        register_url=options.register_url,
        link=options.link,
        redirect_url=options.redirect_url,
        dev_type=options.type,
        channels=options.channels,
        model=options.model,
        dev_ver=options.dev_ver,
        heartbeat=options.heartbeat,
        alarm_every=options.alarm_every,
        connect_rate=options.connect_rate,
        status_every=options.status_every,
        reconnect_delay=options.reconnect_delay,
        login_retry_delay=options.login_retry_delay,
        register_retry_delay=options.register_retry_delay,
        bind_hosts=options.bind,
        report=_print,
        ftp=DeviceFtp(reactor, digests=dict(options.firmware_digest), picture=sample_jpeg(options.picture_size))
        if options.ftp else None,
        fail_upgrades=dict(options.fail_upgrade),
    )
    if options.duration is not None:
        reactor.callLater(options.duration, fleet.stop)
    reactor.addSystemEventTrigger("before", "shutdown", fleet.stop)
    summary: FleetSummary = await fleet.wait()
    _print(summary.line())
    if summary.counters.logins == 0:
        raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    level = LogLevel.info if options.verbose else LogLevel.warn
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [LogLevelFilterPredicate(level)])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    task.react(lambda reactor: Deferred.fromCoroutine(_run(reactor, options)))


if __name__ == "__main__":
    main()
