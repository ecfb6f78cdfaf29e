"""Devices (§7.2 registration, §7.5.1–§7.5.5 and §7.5.27 reports, §7.5.6–§7.5.39 commands, §8.8–§8.19).

:class:`Devices` is what the platform does with a device whatever the
interface asking: it checks a registration and a LOGIN_REQ (one call each),
records what a device reports, and sends the typed commands of
:mod:`kandian.device.commands` through an
:class:`~kandian.core.interfaces.IDeviceRouter` (this node's links today).
It raises :mod:`kandian.core.errors`; time comes from the injected clock.

A logged-in device's link gets a :class:`DeviceSession` from :meth:`Devices.login`:
the addresses it last reported and the write of its login row, which every
later write of the same columns waits for.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from typing import NamedTuple

from twisted.internet import defer, task
from twisted.logger import Logger

from ..device.commands import DeviceCommands
from ..logs import LineBudget, peer_text
from ..store.links import Addresses, CloudStorage
from . import errors
from .errors import log_failure

log = Logger()

__all__ = ["Addresses", "CloudStorage", "LoginReport", "DeviceSession", "Devices", "SeenBatcher",
           "OfflineBatcher", "command", "probe_target", "protocol_supported"]

# DevVer "V1.5_20131210": protocol version 1.5 (§7.5.1).  This platform speaks
# protocol 1.x; a firmware announcing 2.0 or later is unsupported.
_DEV_VER = re.compile(r"^[Vv](\d+)\.(\d+)")
SUPPORTED_MAJOR = 1
# login and offline lines written one by one each second; beyond, one summary line a second (LineBudget)
LINES_PER_SECOND = 50


def protocol_supported(dev_ver: str) -> bool:
    match = _DEV_VER.match(dev_ver)
    return match is not None and int(match.group(1)) == SUPPORTED_MAJOR


def probe_target(upnp_ip: str | None, port: int | None) -> tuple[str, int] | None:
    """The UPnP address worth probing (§15 step 2), or None when the report rules it out."""
    if not upnp_ip or not port:
        return None
    try:
        address = ipaddress.ip_address(upnp_ip)
    except ValueError:
        return None
    if address.is_unspecified or address.is_multicast:
        return None
    return str(address), port


class LoginReport(NamedTuple):
    """What a LOGIN_REQ says (§7.5.1)."""
    dev_id: str
    dev_key: str
    dev_ver: str
    addresses: Addresses
    net_type: int | None = None
    nat_type: int | None = None


class DeviceSession:
    """The core's record of one logged-in link."""

    __slots__ = ("dev_id", "addresses", "login_write", "login_row")

    def __init__(self, dev_id: str, addresses: Addresses):
        self.dev_id = dev_id
        self.addresses = addresses
        self.login_write: defer.Deferred | None = None  # the login row's write (errors logged)
        self.login_row: defer.Deferred | None = None  # fires with None once that write settled


class DelayedWrites:
    """Writes that tolerate a short delay, one statement per *chunk* rows
    every *interval* seconds instead of one per device: heartbeats that
    change nothing (``last_seen_at``) and links that closed (offline).  Rows
    are sent in chunks so that no single statement holds the reactor long
    (200 rows: 0.6 ms to build and send).  A chunk the store could not write goes back for the
    next flush (a newer row for the same device, noted meanwhile, wins): a
    deadlock or a database that is away delays these writes, it does not
    lose them.  The first failure is logged, and the recovery.  (Not
    :class:`kandian.batching.Batcher`, which coalesces calls made while one
    is under way and answers each.)"""

    chunk = 200

    def __init__(self, write, clock, interval: float, what: str):
        self.write = write
        self.clock = clock
        self.interval = interval
        self.what = what
        self.failures = 0  # flushes that failed since the last that wrote
        self._rows: dict[str, float] = {}
        self._loop = task.LoopingCall(self.flush)
        self._loop.clock = clock

    def note(self, dev_id: str, now: float) -> None:
        self._rows[dev_id] = now

    def __contains__(self, dev_id: str) -> bool:
        return dev_id in self._rows

    def discard(self, dev_id: str) -> None:
        self._rows.pop(dev_id, None)

    def start(self) -> None:
        self._loop.start(self.interval, now=False)

    @defer.inlineCallbacks
    def stop(self):
        if self._loop.running:
            self._loop.stop()
        yield self.flush()

    @defer.inlineCallbacks
    def flush(self):
        while self._rows:
            rows = dict(itertools.islice(self._rows.items(), self.chunk))
            for dev_id in rows:
                del self._rows[dev_id]
            try:
                yield self.write(rows)
            except Exception:
                if not self.failures:
                    log_failure(log, "could not record {what} of {count} devices; trying again every {interval} s",
                                what=self.what, count=len(rows), interval=self.interval)
                self.failures += 1
                for dev_id, when in rows.items():
                    self._rows.setdefault(dev_id, when)
                return
            if self.failures:
                log.info("recorded {what} again after {failures} failed flushes", what=self.what,
                         failures=self.failures)
                self.failures = 0


class SeenBatcher(DelayedWrites):
    # every 2 s, not every 30: the same rows (a device beats every 120 s), written as a steady trickle
    # instead of a burst of some 60 statements that PostgreSQL then runs beside the reactor
    def __init__(self, links, clock, interval: float = 2.0):
        super().__init__(links.seen, clock, interval, "last_seen_at")


class OfflineBatcher(DelayedWrites):
    def __init__(self, links, clock, interval: float = 1.0):
        super().__init__(links.offline, clock, interval, "offline state")


class Devices:
    """Registration, login, reports and commands of devices.

    *store* is the connector (its ``links`` and ``devices`` components);
    *router* an ``IDeviceRouter``; *make_probe(devices)*, when given, builds
    the probe told of every UPnP address worth trying
    (``probe.check(dev_id, ip, port)``), which records its outcomes through
    these devices' :meth:`upnp_reachable`; *events*, an ``IDeviceEvents``,
    is told of every login and stored exception (the upgrade campaigns).
    """

    def __init__(self, store, router, clock, *, make_probe=None, seen: SeenBatcher | None = None,
                 offline: OfflineBatcher | None = None, events=None):
        self.store = store
        self.events = events
        self.links = store.links
        self.router = router
        self.clock = clock
        self.seen = seen
        self.offline = offline
        # hash of the last ABILITYUP_REQ stored per device: a repeated report (every re-login) writes nothing
        self._abilities: dict[str, int] = {}
        self.stopping = False  # set at shutdown: the platform marks everything offline at once
        self.probe = make_probe(self) if make_probe is not None else None
        self.login_lines = LineBudget(clock, LINES_PER_SECOND, lambda n: log.info(
            "{count} more devices logged in in the last second, not logged one by one", count=n))
        self.offline_lines = LineBudget(clock, LINES_PER_SECOND, lambda n: log.info(
            "{count} more devices went offline in the last second, not logged one by one", count=n))

    def now(self) -> float:
        return self.clock.seconds()

    # -- §7.2 registration

    def register(self, dev_id: str, dev_key: str, dev_type: int | None, model: str | None,
                 auto_provision: bool) -> defer.Deferred:
        """Check (or, with *auto_provision*, provision) a REGISTER_REQ; fails
        NoSuchDevice, WrongDevKey or DatabaseUnavailable."""
        return self.links.register(dev_id, dev_key, dev_type, model, self.now(), auto_provision)

    # -- §7.5.1 login

    def login(self, report: LoginReport, peer: tuple, link) -> defer.Deferred:
        """The whole of a LOGIN_REQ: check it, make *link* the device's link,
        record the login; ``(CloudStorage, DeviceSession)``, or None when the
        link closed while the store was asked.  Fails UnsupportedDevice,
        NoSuchDevice, WrongDevKey or DatabaseUnavailable."""
        if not protocol_supported(report.dev_ver):
            return defer.fail(errors.UnsupportedDevice("DevVer %s" % (peer_text(report.dev_ver),)))
        return defer.maybeDeferred(self.links.authenticate, report.dev_id).addCallback(
            self._authenticated, report, peer, link)

    def _authenticated(self, row, report: LoginReport, peer: tuple, link):
        if row is None:
            raise errors.NoSuchDevice(peer_text(report.dev_id))
        dev_key, cloud = row
        if dev_key != report.dev_key:
            raise errors.WrongDevKey(peer_text(report.dev_id))
        if not self.router.attach(report.dev_id, link):
            return None
        return cloud, self._logged_in(report, peer)

    def _logged_in(self, report: LoginReport, peer: tuple) -> DeviceSession:
        dev_id = report.dev_id
        session = DeviceSession(dev_id, report.addresses)
        if self.offline is not None:
            self.offline.discard(dev_id)
        host, port = peer
        if self.login_lines.allow():
            log.info("device {dev_id} logged in from {host}:{port} ({dev_ver})", dev_id=dev_id,
                     host=host, port=port, dev_ver=peer_text(report.dev_ver))
        upnp = report.addresses.upnp_ip, report.addresses.rtsp_upnp_port
        worth_probing = probe_target(*upnp) is not None
        write = self.links.logged_in(dev_id, report.dev_ver, report.addresses, report.net_type,
                                     report.nat_type, host, port, self.now(),
                                     upnp_reachable=None if worth_probing else False)
        write.addErrback(lambda f: log_failure(log, "device {dev_id}: could not record the login", f,
                                               dev_id=dev_id))
        session.login_write = write
        # the login row is written before any later write of the same columns
        # (a heartbeat's new addresses, a probe's outcome): they wait on this
        session.login_row = _settled(write)
        if self.probe is not None and worth_probing:
            write.addBoth(lambda _: self.probe.check(dev_id, *upnp))
        if self.events is not None:
            self.events.logged_in(dev_id, report.dev_ver)
        return session

    def link_lost(self, link, session: DeviceSession | None) -> None:
        """A link closed; if it was the device's link, the device is offline."""
        if self.router.detach(link) and session is not None and not self.stopping:
            dev_id = session.dev_id
            if self.offline_lines.allow():
                log.info("device {dev_id} offline", dev_id=dev_id)
            before = session.login_write or defer.succeed(None)
            now = self.now()
            # after the login's own write, so "online" can never land after "offline"
            if self.offline is not None:
                before.addBoth(lambda _: self.offline.note(dev_id, now))
            else:
                before.addBoth(lambda _: self.links.offline({dev_id: now})).addErrback(
                    lambda f: log_failure(log, "could not mark {dev_id} offline", f, dev_id=dev_id))

    # -- §7.5.2–§7.5.4, §7.5.27 reports

    def ability(self, dev_id: str, report) -> defer.Deferred:
        """Store an ABILITYUP_REQ (unless it is the one stored last: every re-login repeats it)."""
        fingerprint = hash(report)
        if self._abilities.get(dev_id) == fingerprint:
            return defer.succeed(None)
        return self.links.ability(dev_id, report).addCallback(self._ability_stored, dev_id, fingerprint)

    def _ability_stored(self, _, dev_id: str, fingerprint: int) -> None:
        self._abilities[dev_id] = fingerprint

    def heartbeat(self, session: DeviceSession, addresses: Addresses, cur_video_num) -> defer.Deferred:
        """A HEARTBEAT_REQ; an address it leaves out (None) is unchanged.  Most change nothing: their
        ``last_seen_at`` goes in the next batch."""
        old = session.addresses
        reported = Addresses(*(new if new is not None else was for new, was
                               in zip(addresses, old or Addresses())))
        if reported != old:
            return self._moved(session, old, reported, cur_video_num)
        if self.seen is not None:
            self.seen.note(session.dev_id, self.now())
        return defer.succeed(None)

    @defer.inlineCallbacks
    def _moved(self, session: DeviceSession, old: Addresses | None, reported: Addresses, cur_video_num):
        session.addresses = reported
        if session.login_row is not None:
            yield _settled(session.login_row)
        yield self.links.addresses(session.dev_id, reported, cur_video_num, self.now())
        if self.probe is not None and (old is None or (old.upnp_ip, old.rtsp_upnp_port)
                                       != (reported.upnp_ip, reported.rtsp_upnp_port)):
            self.probe.check(session.dev_id, reported.upnp_ip, reported.rtsp_upnp_port)

    def upnp_reachable(self, dev_id: str, upnp_ip: str, port: int, reachable: bool,
                       now: float | None = None) -> defer.Deferred:
        """A UPnP probe's outcome (§15 step 2)."""
        return self.links.upnp_reachable(dev_id, upnp_ip, port, reachable, self.now() if now is None else now)

    @defer.inlineCallbacks
    def exception(self, dev_id: str, channel_no, exception_type: int, desc: str):
        """Store an EXCEPTION_NOTIFY_REQ, then tell the events (whose failures are their own)."""
        yield self.links.exception(dev_id, channel_no, exception_type, desc, self.now())
        if self.events is not None:
            self.events.exception_reported(dev_id, exception_type, desc)

    def picture(self, dev_id: str, channel_no: int, file_name: str, taken_at) -> defer.Deferred:
        """NOTIFY_PICTURE_REQ (§7.5.27): record the picture and link it to its
        alarm (:mod:`kandian.store.files`); whether the file is on disk.
        *taken_at*: an aware datetime, or None."""
        if not file_name:
            return defer.succeed(False)
        at = taken_at.timestamp() if taken_at is not None else None
        return self.store.files.notified(dev_id, channel_no, file_name, at, self.now())

    # -- start and stop of this node

    def shutting_down(self) -> None:
        """This node is stopping: links closing now are not recorded offline one
        by one (the platform marks them all at once); the login and offline lines held back are told."""
        self.stopping = True
        self.login_lines.flush()
        self.offline_lines.flush()

    def all_offline(self) -> defer.Deferred:
        """Links this node held (before a restart, or now at shutdown) are gone."""
        return self.links.all_offline()

    # -- commands (§7.5.6–§7.5.39)

    def online(self, dev_id: str) -> bool:
        return self.router.online(dev_id)

    def command(self, dev_id: str, send) -> defer.Deferred:
        return command(self.router, dev_id, send)

    def ptz(self, dev_id, channel_no, direction) -> defer.Deferred:
        if direction not in range(5):
            return defer.fail(errors.BadValue("PtzDirection must be 0 (stop) to 4 (right)"))
        return self.command(dev_id, lambda c: c.ptz(ChannelNo=channel_no, PtzDirection=direction))

    @defer.inlineCallbacks
    def camera_param(self, dev_id, channel_no, stream_type):
        """GET_CHANNEL's answer (§7.5.7); the stream's settings are remembered."""
        answer = yield self.command(dev_id, lambda c: c.get_channel(ChannelNo=channel_no, StreamType=stream_type))
        if stream_type in (1, 2):
            yield self.store.devices.remember_stream(
                dev_id, channel_no, stream_type, answer.FrameSize, answer.FrameRate, answer.RateType,
                answer.BitRate, answer.AudioInput)
        return answer

    def set_camera_param(self, dev_id, channel_no, stream_type, **settings) -> defer.Deferred:
        return self.command(dev_id, lambda c: c.set_channel(ChannelNo=channel_no, StreamType=stream_type,
                                                            **settings))

    def wifi_list(self, dev_id) -> defer.Deferred:
        return self.command(dev_id, lambda c: c.get_wifi()).addCallback(lambda answer: answer.WifiSSID)

    def set_wifi(self, dev_id, ssid, security, password=None) -> defer.Deferred:
        if security not in range(6):
            return defer.fail(errors.BadValue("Security must be 0 to 5"))
        return self.command(dev_id, lambda c: c.set_wifi(SSID=ssid, Security=security, Password=password or None))

    def reboot(self, dev_id) -> defer.Deferred:
        return self.command(dev_id, lambda c: c.reboot())

    def reset_default(self, dev_id) -> defer.Deferred:
        return self.command(dev_id, lambda c: c.reset_default())

    @defer.inlineCallbacks
    def alarm_switch(self, dev_id, channel_no, alarm_type, dido_no):
        """GET_ALARM's AlarmFlag (§7.5.33); a definite one is remembered."""
        if alarm_type not in range(1, 5):
            raise errors.BadValue("AlarmType must be 1 to 4")
        answer = yield self.command(dev_id, lambda c: c.get_alarm(ChannelNo=channel_no, AlarmType=alarm_type,
                                                                  DIDONo=dido_no))
        if answer.AlarmFlag in (0, 1):
            yield self.store.devices.remember_alarm_switch(dev_id, channel_no, alarm_type, dido_no, answer.AlarmFlag)
        return answer.AlarmFlag

    @defer.inlineCallbacks
    def set_alarm_switch(self, dev_id, channel_no, alarm_type, flag, dido_no):
        if alarm_type not in range(1, 5) or flag not in (0, 1):
            raise errors.BadValue("AlarmType must be 1 to 4 and AlarmFlag 0 or 1")
        yield self.command(dev_id, lambda c: c.set_alarm(ChannelNo=channel_no, AlarmType=alarm_type,
                                                         AlarmFlag=flag, DIDONo=dido_no))
        yield self.store.devices.remember_alarm_switch(dev_id, channel_no, alarm_type, dido_no, flag)

    @defer.inlineCallbacks
    def rename_channel(self, dev_id: str, channel_no: int, name: str):
        renamed = yield self.store.devices.rename_channel(dev_id, channel_no, name.strip())
        if not renamed:
            raise errors.NoSuchChannel("%s has no channel %s" % (dev_id, channel_no))

    def record_files(self, dev_id, channel_no, start, end, page) -> defer.Deferred:
        """FILE_QUERY's answer (§7.5.22) for [*start*, *end*] (datetimes), page *page* from 1."""
        if page < 1:
            return defer.fail(errors.BadValue("PageNo counts from 1"))
        # §7.5.22 asks the device in YYYYMMDDHHMM
        return self.command(dev_id, lambda c: c.file_query(
            ChannelNo=channel_no, StartTime=start.strftime("%Y%m%d%H%M"), EndTime=end.strftime("%Y%m%d%H%M"),
            PageNo=page))


def command(router, dev_id: str, send) -> defer.Deferred:
    """``send(DeviceCommands)``'s answer through *router*: DeviceOffline when
    the device has no link, DeviceRefused when it refused or did not answer,
    BadValue for a value its link cannot carry."""
    if not router.online(dev_id):
        return defer.fail(errors.DeviceOffline("%s is offline" % (dev_id,)))
    d = defer.maybeDeferred(send, DeviceCommands(router, dev_id))
    return d.addErrback(_bad_value)


def _bad_value(failure):
    if failure.check(ValueError) and not failure.check(errors.DomainError):
        raise errors.BadValue(str(failure.value))
    return failure


def _settled(d: defer.Deferred) -> defer.Deferred:
    """A new Deferred firing with None once *d* has its result; *d*'s own result
    and callbacks are left as they are."""
    settled = defer.Deferred()

    def fire(result):
        settled.callback(None)
        return result

    d.addBoth(fire)
    return settled
