"""The service tree: the store first, then one listener per interface.

``KandianService`` is the one ``MultiService`` that ``twistd kandian`` runs.
Listeners are ``StreamServerEndpointService`` children added only once the
store is ready (Buildbot's AsyncMultiService idea: nothing accepts a device or
an app before the database can answer it), and a bind failure fails start-up
instead of being merely logged (``_raiseSynchronously``, as ``strports.service``
does).  Stopping closes the listeners first, then the store.  Every listener's
factory is wrapped in its connection caps, planned within the open-file
limit (:mod:`kandian.limits`).
"""

from __future__ import annotations

import functools
import gc
import os
import re
import sys
from collections.abc import Callable

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import defer, task
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.protocols import policies

from . import limits
from .cloudmonitor.api import CloudmonitorStats
from .config import Config, ConfigError
from .core import Core
from .core.access import Access
from .core.accounts import Accounts
from .core.alarmbox import AlarmInbox
from .core.alarms import Alarms
from .core.apiauth import ApiAuth, Operators
from .core.apifiles import ApiFiles
from .core.apikeys import ApiKeys
from .core.apiplay import ApiPlay
from .core.apivideos import ApiVideos
from .core.bindings import Bindings
from .core.commands import Commands
from .core.credentials import PasswordChecker
from .core.devicekeys import DeviceKeys, KeyAuth
from .core.devices import Devices, OfflineBatcher, SeenBatcher
from .core.devlogs import DeviceLogs
from .core.files import Files, Layout
from .core.firmware import Catalogue, FtpLogin
from .core.fleet import Fleet
from .core.fwadmin import FirmwareAdmin
from .core.group import GroupLink
from .core.grouprole import GroupRole
from .core.integration import Integration
from .core.keys import Keys
from .core.media import Media
from .core.notify import AlarmLinks, AlarmSms, DevKeySms
from .core.outbox import Outbox
from .core.play import Play
from .core.playsessions import PlaySessions
from .core.profiles import DeviceProfiles, remover
from .core.proxies import Proxies, WithProxies
from .core.recordings import RecordingLayout, Recordings
from .core.retention import FileRetention
from .core.rounds import Rounds
from .core.schedules import Schedules
from .core.stats import Statistics, StatsJob
from .core.upgrades import Upgrades
from .core.useradmin import UserAdmin
from .device.controller import LinkController
from .device.link import DeviceLinkFactory, LinkStats
from .device.reachability import UpnpProbe
from .device.registry import LinkRegistry
from .device.router import LocalRouter
from .dialpolicy import DialPolicy
from .ftp.server import FtpStats
from .group.client import GroupClient, GroupStats, NoGroupPlatform
from .grouprole.resource import GroupRoleStats
from .mvb.api import MvbStats
from .onenet import new_stats as onenet_stats
from .portal.api import ApiStats
from .portal.live import LiveStats
from .rtsp.relay import RelayStats
from .sms import LoggingSmsSender
from .store.connector import Store
from .store.pool import log_failure
from .store.service import StoreService
from .throttle import FailureThrottle, source_key

log = Logger()


class TrackingFactory(policies.WrappingFactory):
    """Knows the connections of a factory that does not keep its own."""

    def __init__(self, wrapped):
        super().__init__(wrapped)
        self.connections = self.protocols
        self._drain = limits.Drain(self.protocols)

    def unregisterProtocol(self, p):
        super().unregisterProtocol(p)
        self._drain.check()

    def when_drained(self) -> defer.Deferred:
        return self._drain.wait()


class Listener(StreamServerEndpointService):
    """A listener that fails start-up on a bind error, keeps its port, and on
    stop closes the connections it accepted (keep-alive HTTP clients, links
    not yet logged in) instead of leaving them to the reactor's end: each is
    asked to close, and those still open ``close_grace`` seconds later (or at
    once, without a *clock*) are aborted.

    A factory that keeps its own ``connections`` and says ``when_drained``
    (KandianService's :class:`kandian.limits.LimitingFactory`, which adds
    nothing to each byte's path) is used as it is; any other is wrapped in a
    :class:`TrackingFactory`.
    """

    close_grace = 5.0

    def __init__(self, name: str, description: str, endpoint, factory, clock=None):
        if not hasattr(factory, "when_drained"):
            factory = TrackingFactory(factory)
        self.tracked = factory
        super().__init__(endpoint, factory)
        self.name = name
        self.description = description
        self._raiseSynchronously = True
        self.port = None
        self.port_number: int | None = None
        self._clock = clock

    def startService(self):
        super().startService()
        self._waitingForPort.addCallback(self._bound)

    def whenListening(self) -> defer.Deferred:
        """A new Deferred for the port (``_waitingForPort`` must keep its result:
        ``stopService`` reads it)."""
        d: defer.Deferred = defer.Deferred()

        def fire(result):
            d.callback(result)
            return result
        self._waitingForPort.addBoth(fire)
        return d

    def _bound(self, port):
        self.port = port
        # kept: a closed port can no longer say where it was bound
        self.port_number = getattr(port.getHost(), "port", None)
        log.info("listener {name} bound on {address} ({description})", name=self.name,
                 address=_address(port), description=self.description)
        return port

    @defer.inlineCallbacks
    def stopService(self):
        yield super().stopService()
        connections = self.tracked.connections
        for p in list(connections):
            p.transport.loseConnection()
        if connections and self._clock is not None:
            drained = self.tracked.when_drained().addTimeout(self.close_grace, self._clock)
            try:
                yield drained
            except defer.TimeoutError:
                pass
        for p in list(connections):
            p.transport.abortConnection()


# Twisted's default listen backlog is 50: a burst of cameras reconnecting
# after an outage overflows it (SYNs dropped, logins late by the TCP retry
# timer).  Listeners get this one unless their endpoint string sets its own.
DEFAULT_BACKLOG = 1024


def with_backlog(description: str) -> str:
    kind = description.split(":", 1)[0]
    if kind in ("tcp", "tcp6", "ssl") and "backlog=" not in description:
        return description + ":backlog=%d" % DEFAULT_BACKLOG
    return description


def _address(port) -> str:
    host = port.getHost()
    if hasattr(host, "port"):
        return "%s:%d" % (host.host, host.port)
    return str(host)


def _unbound(name: str) -> int | None:
    return None


def _interface_of(description: str) -> str:
    """The address a ``tcp:PORT:interface=ADDR`` listener is bound to, as a
    host to dial; loopback for none or a wildcard."""
    for part in re.split(r"(?<!\\):", description):
        if part.startswith("interface="):
            host = part[len("interface="):].replace("\\", "")
            if host not in ("", "0.0.0.0", "::"):
                return host
    return "127.0.0.1"


def own_sources(config: Config, listener: str) -> frozenset[str]:
    """Sources a listener's per-address cap leaves alone: on the relay, the address this node's
    recorder, HLS packagers and stream proxies dial it from (:meth:`Platform._internal_relay`), or the
    cap ([rtsp] max_connections_per_address, 32) would be how many channels a node can record."""
    if listener != "rtsp":
        return frozenset()
    return frozenset({source_key(_interface_of(config.rtsp.listen))})


def _url_host(host: str) -> str:
    return "[%s]" % host if ":" in host and not host.startswith("[") else host


class Platform:
    """What the listeners are built from: the store, the core over it, and the
    interfaces' factories over the core (``factories``, one per configured
    listener), all built here, in that order, once the store is ready.

    The link registry is here (not inside the device listener) because the MCU
    service and the relay send commands through it.  *bound_port(name)* is the
    port a listener got (None before it is bound); *caps* the connection caps
    the listeners are wrapped in (:func:`kandian.limits.plan`); *builders*
    maps a listener name to the builder of its factory
    (:func:`default_factories`)."""

    def __init__(self, config: Config, reactor, db, clock=None, *, bound_port: Callable[[str], int | None] = _unbound,
                 caps: limits.Plan | None = None, builders: dict[str, Callable[[Platform], object]] | None = None):
        self.config = config
        self.reactor = reactor
        self.clock = clock = clock if clock is not None else reactor
        self.db = db
        self.bound_port = bound_port
        self.listener_limits: dict[str, limits.ListenerLimit] = caps.limits if caps is not None else {}
        self.open_files: int | None = caps.open_files if caps is not None else None
        # the store
        self.store = Store(db, node=config.platform.public_host)
        self.link_store = self.store.links
        self.tokens = self.store.tokens
        # the core
        self.link_stats = LinkStats()
        self.relay_stats = RelayStats()
        self.ftp_stats = FtpStats()
        self.portal_stats = ApiStats()
        self.mvb_stats = MvbStats()
        self.cloudmonitor_stats = CloudmonitorStats()
        self.onenet_stats = onenet_stats()
        self.links = LinkRegistry()
        self.mcu_handlers = None  # the /mcu operations, once its listener is built
        self.proxies = Proxies(self.store, clock, allow=config.media.proxy_allow, check=self._probe_source,
                               interval=config.media.proxy_check_interval)
        self.router = WithProxies(LocalRouter(self.links), self.proxies)
        self.dial_policy = DialPolicy.from_config(config)
        self.seen = SeenBatcher(self.link_store, clock)
        self.offline = OfflineBatcher(self.link_store, clock)
        sms = config.sms
        self.outbox = Outbox(self.store, clock, node=config.platform.public_host, delivers=bool(sms.gateway),
                             validity=sms.validity, retry_delay=sms.retry_delay, retry_max_delay=sms.retry_max_delay,
                             keep=sms.keep_days * 86400.0)
        self.sms = self.outbox if sms.gateway else LoggingSmsSender()
        self.layout = Layout(config.files_root, node=config.platform.public_host)
        self.group_stats = GroupStats()
        self.group_platform = self._group_platform(config, reactor)
        self.core = self._core(config, reactor, clock)
        self.sms_sender = self._sms_sender() if sms.gateway else None
        self.sms_client = self.sms_sender.client if self.sms_sender is not None else None
        # what the FTP realm asks of the firmware catalogue and the device logs (kandian.ftp.realm)
        self.firmware_hooks = dict(firmware_for=self.core.upgrades.firmware_for,
                                   firmware_downloaded=self.core.upgrades.firmware_downloaded,
                                   log_stored=self.core.devlogs.log_stored)
        self.probe = self.core.devices.probe
        self.stats_job = StatsJob(self.store, clock, zone=config.platform.timezone.key,
                                  interval=config.portal.stats_interval, keep=config.portal.stats_keep_days * 86400.0)
        self._purge = task.LoopingCall(self._purge_tokens)
        self._purge.clock = clock  # LoopingCall's own way to take a clock
        self._retention = task.LoopingCall(self._purge_recordings)
        self._retention.clock = clock
        self._recovering = None
        poll = config.firmware.poll_interval
        self.rounds = [Rounds(self.core.upgrades.round, clock, poll, "upgrade campaigns"),
                       Rounds(self.core.devlogs.round, clock, poll, "device log requests")]
        # the interfaces
        self.controller = LinkController(self.core.devices, self.core.alarms, self.core.play, clock,
                                         config.platform.timezone)
        listeners = config.listeners()
        self.soap = self._soap() if "mcu" in listeners else None
        self.relay_authorizer = self._relay_authorizer() if "rtsp" in listeners else None
        self.group_role_stats = GroupRoleStats()
        self.group_soap = self._group_soap() if "group_role" in listeners else None
        self.alarm_pages = self._alarm_pages() if "portal" in listeners else None
        self.live_stats = LiveStats()
        self.live = self._live_hls() if "portal" in listeners else None
        compat = "cloudmonitor" in listeners or "mvb" in listeners
        self.loop = self._file_server() if compat and config.media.file_server else None
        self._loop_port = None
        # the recorder pulls through this node's relay: without one it cannot record
        self.recorder = self._recorder() if "rtsp" in listeners else None
        builders = builders if builders is not None else default_factories()
        self.factories: dict[str, object] = {name: builders[name](self) for name in listeners}

    def _core(self, config: Config, reactor, clock) -> Core:
        t, mcu, rtsp = config.throttle, config.mcu, config.rtsp

        def throttle() -> FailureThrottle:
            return FailureThrottle(clock.seconds, per_address=t.failures_per_address,
                                   per_account=t.failures_per_account, window=t.window)

        def probe(devices: Devices) -> UpnpProbe:
            return UpnpProbe(reactor, devices, clock=clock, policy=self.dial_policy, peer_ip=self.links.peer_ip)

        keys = Keys(self.store.secrets)
        f = config.ftp
        files = Files(self.store, keys, clock, self.layout, address=lambda: config.register.ftp_address or (
            config.platform.public_host, config.port_of("ftp") or self.bound_port("ftp")), throttle=throttle(),
            max_file_size=f.max_file_size, quota=f.device_quota or 2**63 - 1, timezone=config.platform.timezone)

        def ftp_login(dev_id: str) -> defer.Deferred:
            # the device's own FTP account (PRODUCT.md "FTP"), for UPGRADE_REQ and LOG_UPLOAD_REQ
            return files.credentials(dev_id).addCallback(lambda c: FtpLogin(c.ip, c.port, c.account, c.password))

        catalogue = Catalogue(self.store, config.files_root, clock)
        upgrades = Upgrades(self.store, self.router, catalogue, clock, ftp_login=ftp_login,
                            timeout=config.firmware.upgrade_timeout)
        devlogs = DeviceLogs(self.store, clock, config.files_root, router=self.router, ftp_login=ftp_login,
                             expiry=config.firmware.log_request_expiry)
        devices = Devices(self.store, self.router, clock, make_probe=probe, seen=self.seen, offline=self.offline,
                          events=upgrades)
        play = Play(
            self.store, self.router, clock, relay_address=lambda: (
                config.platform.public_host, config.port_of("rtsp") or self.bound_port("rtsp")),
            order=rtsp.upstream_order, max_streams=rtsp.max_streams_per_device, may_dial=self.dial_policy,
            throttle=throttle(), proxy_source=self.proxies.source,
            recording_source=lambda recording_id: self.loop.recording_source(recording_id) if self.loop else None)
        # accounts and bindings (§8.1–§8.6) count failures in one throttle
        accounts_throttle = throttle()
        accounts = Accounts(
            self.store, clock, passwords=PasswordChecker(clock), throttle=accounts_throttle, sms=self.sms,
            online=self.router.online, session_timeout=mcu.session_timeout,
            version_floors={"A": mcu.min_version_android, "I": mcu.min_version_ios, "W": mcu.min_version_windows},
            sms_interval=mcu.sms_interval, sms_daily_limit=mcu.sms_daily_limit,
            tell_group=self.group_platform.configured)
        bindings = Bindings(
            self.store, clock, throttle=accounts_throttle, group=self.group_platform,
            session_timeout=mcu.session_timeout, online=self.router.online, reset=devices.reset_default)
        # the portal and REST API: its logins count failures in their own throttle
        access = Access(self.store)
        portal_passwords = PasswordChecker(clock)
        api_auth = ApiAuth(self.store, clock, passwords=portal_passwords, throttle=throttle(),
                           ttl=config.portal.token_ttl)

        links = AlarmLinks(keys, clock, portal=self.portal_url, ttl=config.sms.alarm_link_ttl)
        alarm_sms = AlarmSms(self.store, self.outbox, links, clock, timezone=config.platform.timezone,
                             interval=config.sms.alarm_sms_interval)
        alarms = Alarms(self.store, clock, [alarm_sms], layout=self.layout)
        schedules, recordings = self._recording(config, reactor, clock, access, keys)
        devkeys = DevKeySms(self.store, self.outbox)
        firmware_admin = FirmwareAdmin(self.store, access=access, catalogue=catalogue, upgrades=upgrades,
                                       devlogs=devlogs, devkeys=devkeys)
        # the device-cloud video API (spec/001): its keys count failures in their own throttle
        o = config.onenet
        device_keys = DeviceKeys(self.store, keys, clock)
        api_files = ApiFiles(self.store, clock, config.files_root, max_size=o.max_upload,
                             capacity=o.storage_capacity, fsync=config.files.fsync)
        profiles = DeviceProfiles(self.store, clock, keys=device_keys, devices=devices,
                                  zone=config.platform.timezone, prefix=o.dev_id_prefix,
                                  register_code=o.register_code, remove_files=remover(*api_files.device_dirs()),
                                  throttle=throttle())
        apikeys = ApiKeys(self.store, clock, keys, token_ttl=config.cloudmonitor.token_ttl)
        media = Media(self.store, self.router, clock, keys=keys, access=access,
                      relay_address=self._internal_relay, portal_base=self._portal_base)
        return Core(accounts=accounts, bindings=bindings, play=play, devices=devices,
                    alarms=alarms, keys=keys, files=files, outbox=self.outbox, alarm_links=links,
                    alarm_sms=alarm_sms, devkeys=devkeys, firmware_admin=firmware_admin,
                    firmware=catalogue, upgrades=upgrades, devlogs=devlogs,
                    operators=Operators(self.store), api_auth=api_auth, access=access,
                    fleet=Fleet(self.store, clock, access=access, devices=devices, bindings=bindings,
                                alarms=alarms, list_ttl=config.portal.list_cache_ttl),
                    user_admin=UserAdmin(self.store, clock, accounts=accounts, auth=api_auth, access=access,
                                         passwords=portal_passwords),
                    commands=Commands(devices, access, ftp_access=ftp_login, upgrade=firmware_admin.upgrade),
                    statistics=Statistics(self.store, clock, zone=config.platform.timezone,
                                          online_count=lambda: len(self.links)),
                    group=self._group_link(config, clock),
                    media=media,
                    proxies=self.proxies,
                    group_role=GroupRole(self.store, clock, passwords=PasswordChecker(clock), throttle=throttle()),
                    apikeys=apikeys,
                    play_sessions=PlaySessions(self.store, play, devices, access, clock,
                                               timezone=config.platform.timezone, timeout=config.mvb.session_timeout,
                                               max_sessions=config.mvb.max_sessions, recordings=recordings,
                                               keys=keys),
                    integration=Integration(self.store, clock, devices=devices, layout=self.layout),
                    schedules=schedules, recordings=recordings,
                    key_auth=KeyAuth(device_keys, apikeys, throttle=throttle()), profiles=profiles, api_files=api_files,
                    alarm_box=AlarmInbox(self.store, clock, zone=config.platform.timezone),
                    api_play=ApiPlay(self.store, play, media, self.router),
                    api_videos=ApiVideos(self.store, recordings=recordings, schedules=schedules,
                                         zone=config.platform.timezone),
                    file_retention=FileRetention(self.store, self.layout, clock, config.files.retention_days))

    def _recording(self, config: Config, reactor, clock, access, keys):
        """Schedules and recordings (PRODUCT.md "Media"); their files under [files] root/recordings."""
        from .media.tools import RecordingTools

        self.recording_layout = RecordingLayout(config.files_root)
        schedules = Schedules(self.store, clock, access, config.platform.timezone)
        recordings = Recordings(
            self.store, clock, access, keys, RecordingTools(reactor), self.recording_layout,
            node=config.platform.public_host, zone=config.platform.timezone,
            retention_days=config.media.retention_days, base_url=self._portal_base)
        return schedules, recordings

    def _probe_source(self, host: str, port: int, url: str):
        """Whether a stream proxy's source answers an RTSP OPTIONS (kandian.media.probe)."""
        from .media.probe import rtsp_answers

        return rtsp_answers(self.reactor, host, port, url, timeout=self.config.rtsp.connect_timeout)

    def _internal_relay(self) -> tuple[str, int] | None:
        """Where this node's media children reach its RTSP relay: the listener's
        own interface when it names one, else loopback."""
        port = self.config.port_of("rtsp") or self.bound_port("rtsp")
        if not port:
            return None
        return _interface_of(self.config.rtsp.listen), port

    def _portal_base(self) -> str | None:
        port = self.config.port_of("portal") or self.bound_port("portal")
        if not port:
            return None
        scheme = "https" if self.config.portal.listen.startswith("ssl:") else "http"
        return "%s://%s:%d" % (scheme, _url_host(self.config.platform.public_host), port)

    def _group_platform(self, config: Config, reactor):
        """§6: the group platform's client (its timeouts on the reactor), or none."""
        g = config.group
        if not g.url:
            return NoGroupPlatform()
        return GroupClient(reactor, g.url, province_no=g.province_no, cms_no=g.cms_no, cms_password=g.cms_password,
                           timeout=g.timeout, stats=self.group_stats)

    def _group_link(self, config: Config, clock) -> GroupLink:
        g, host = config.group, config.platform.public_host

        def url(name: str, path: str) -> str:
            return "http://%s:%s%s" % (host, config.port_of(name) or self.bound_port(name), path)

        return GroupLink(self.store, clock, self.group_platform,
                         mcu_url=lambda: g.mcu_url or url("mcu", "/mcu"),
                         dev_url=lambda: g.dev_url or url("register", "/register"),
                         report_interval=g.report_interval, retry_first=g.retry_first, retry_max=g.retry_max)

    def portal_url(self) -> str | None:
        """The portal's base URL as phones reach it (alarm links), None while it has none."""
        description = self.config.portal.listen
        port = self.config.port_of("portal") or self.bound_port("portal")
        if not description or not port:
            return None
        scheme = "https" if description.split(":", 1)[0] == "ssl" else "http"
        return "%s://%s:%d" % (scheme, self.config.platform.public_host, port)

    def _sms_sender(self):
        """The outbox's sender over an SMGP client to ``[sms] gateway``; the
        client's connection timers run on the reactor, the outbox's on the clock."""
        from .sms.client import SmgpClient
        from .sms.sender import OutboxSender
        from .sms.smgp import STATUS

        c = self.config.sms
        client = SmgpClient(self.reactor, self.reactor, c.gateway, account=c.account, password=c.password,
                            sp_number=c.sp_number, service_id=c.service_id, window=c.window, rate=c.rate,
                            on_report=lambda msg_id, stat, err: sender.report(msg_id, stat, err))
        sender = OutboxSender(self.outbox, client, self.clock, capacity=2 * c.window, status_words=STATUS.get)
        return sender

    def _alarm_pages(self):
        """``/alarm/…`` on the portal: the signed alarm pages the alarm SMS link to."""
        from .portal.alarm_page import AlarmPages

        return AlarmPages(self.core.alarms, self.core.alarm_links, self.core.alarms.picture, self.clock,
                          self.config.platform.timezone)

    def _soap(self):
        """The §8 SOAP resource (``/mcu``), over the core."""
        from .mcu.api import application
        from .mcu.handlers import McuHandlers
        from .mcu.soap import SoapResource

        config = self.config
        handlers = self.mcu_handlers = McuHandlers(core=self.core, clock=self.clock, config=config)
        return SoapResource(application(handlers), lambda: "http://%s:%s/mcu" % (
            config.platform.public_host, config.port_of("mcu") or self.bound_port("mcu")))

    def _group_soap(self):
        """§9 at ``/group`` of the ``[group_role]`` listener, over the core's group role."""
        from .grouprole import soap

        config = self.config
        return soap.resource(self.core.group_role, lambda: "http://%s:%s/group" % (
            config.platform.public_host, config.port_of("group_role") or self.bound_port("group_role")))

    def _live_hls(self):
        """Live HLS packagers (kandian.media.hls), served at /live/ on the portal listener."""
        from .media.hls import LiveHls

        m = self.config.media
        # its sweep and backoffs are operational timers, on the reactor like the listeners' timeouts
        return LiveHls(self.core.media, self.reactor, self.reactor, root=self.config.hls_dir, ffmpeg=m.ffmpeg,
                       hls_time=m.hls_time, list_size=m.hls_list_size, idle_timeout=m.idle_timeout,
                       start_timeout=m.start_timeout, max_streams=m.max_live_streams,
                       max_starting=m.max_starting)

    def _file_server(self):
        """The daemon's files as RTSP streams on loopback (kandian.media.loop): spec/002's MP4 channels,
        spec/000's platform recordings."""
        import os

        from .media.loop import LoopServer

        c = self.config
        sessions = self.core.play_sessions
        return LoopServer(self.reactor, c.cloudmonitor.mp4_dir or os.path.join(c.files_root, "mp4"),
                          ffmpeg=c.media.ffmpeg, resolve_recording=sessions.recording_files,
                          sign_recording=sessions.recording_query)
    def _recorder(self):
        """Platform recording (kandian.media.recorder): schedules in, one supervised ffmpeg per channel."""
        from .media.recorder import Recorder

        m = self.config.media
        # windows are the domain's time; ffmpeg's spawn, backoff and stop grace are the reactor's
        return Recorder(self.core, self.reactor, self.clock, zone=self.config.platform.timezone,
                        segment_seconds=m.segment_seconds, min_free=m.min_free, ffmpeg=m.ffmpeg)

    def _relay_authorizer(self):
        from .rtsp.authorize import PlatformAuthorizer

        return PlatformAuthorizer(self.core.play, self.core.play_sessions)

    @defer.inlineCallbacks
    def start(self):
        self.layout.prepare(self.reactor.seconds())  # file times are the wall clock's
        self.recording_layout.prepare()
        yield self.core.keys.load()
        yield self.core.devices.all_offline()
        yield self.core.upgrades.load()  # before any login: the hook must know who is in flight
        if self.sms_sender is not None:
            self.sms_sender.startService()
        self.seen.start()
        self.offline.start()
        self._purge.start(600, now=False)
        # pieces a stopped daemon left being written are indexed in the background; which they are is
        # asked first, before the recorder begins pieces of its own
        left = yield self.core.recordings.left_open()
        self._recovering = self.core.recordings.recover(left).addErrback(
            lambda f: log_failure(log, "could not close the recordings left open", f))
        self._retention.start(600, now=True)
        for rounds in self.rounds:
            rounds.start(now=False)
        self.stats_job.startService()
        yield self.core.group.start()
        if self.live is not None:
            self.live.start()
        yield self.proxies.start()
        if self.loop is not None:
            endpoint = serverFromString(self.reactor, self.config.media.file_server)
            self._loop_port = yield endpoint.listen(self.loop)
            self.loop.port = self._loop_port.getHost().port
        if self.recorder is not None:
            self.recorder.start()
        else:
            yield self._no_recorder()

    @defer.inlineCallbacks
    def _no_recorder(self):
        windows = yield self.core.schedules.all()
        if windows:
            log.warn("{n} recording windows are set but [rtsp] listen is empty: this node records nothing",
                     n=len(windows))

    @defer.inlineCallbacks
    def stop(self):
        """Close every device link and record them offline, while the store still answers."""
        if self._purge.running:
            self._purge.stop()
        if self._retention.running:
            self._retention.stop()
        if self._recovering is not None:
            yield self._recovering
        if self.stats_job.running:
            self.stats_job.stopService()
        if self.sms_sender is not None and self.sms_sender.running:
            yield self.sms_sender.stopService()
        yield self.core.group.stop()
        self.proxies.stop()
        if self.live is not None:
            yield self.live.stop()  # no ffmpeg outlives the daemon
        if self._loop_port is not None:
            yield self._loop_port.stopListening()
            yield self.loop.stop()
        if self.recorder is not None:
            yield self.recorder.stop()  # each ffmpeg finishes its piece, which is closed while the store answers
        self.core.devices.shutting_down()
        if self.mcu_handlers is not None:
            self.mcu_handlers.stop()  # the MCU login lines held back are told
        for link in self.links:
            link.close("the platform is stopping")
        for rounds in self.rounds:  # after the links: a round waiting on a device's answer ends now
            yield rounds.stop()
        yield self.seen.stop()
        yield self.offline.stop()
        try:
            yield self.core.devices.all_offline()
        except Exception:
            log_failure(log, "could not mark this node's devices offline")

    def _purge_recordings(self):
        old_files = self.core.file_retention.purge().addErrback(
            lambda f: log_failure(log, "could not delete old pictures and device logs", f))
        old_recordings = self.core.recordings.purge().addErrback(
            lambda f: log_failure(log, "could not delete old recordings", f))
        return defer.gatherResults([old_files, old_recordings])

    def _purge_tokens(self):
        self.core.api_auth.purge().addErrback(lambda f: log_failure(log, "could not purge expired API tokens", f))
        return self.core.play.purge_tokens().addErrback(
            lambda f: log_failure(log, "could not purge expired tokens", f))


def default_factories() -> dict[str, Callable[[Platform], object]]:
    """Listener name → builder of its protocol factory, from the built platform."""
    from . import web
    from .admin import web as admin_web
    from .register.resource import Addresses, Register, root

    def http(p: Platform, name: str) -> dict:
        # connection timeouts run on the reactor, not the domain clock tests move by hours
        c = getattr(p.config, name)
        return dict(request_timeout=c.request_timeout, idle_timeout=c.idle_timeout, clock=p.reactor,
                    limit=p.listener_limits.get(name))

    def device(p: Platform):
        c = p.config.device
        return DeviceLinkFactory(p.controller, p.clock, login_timeout=c.login_timeout,
                                 heartbeat_timeout=c.heartbeat_timeout, command_timeout=c.command_timeout,
                                 stats=p.link_stats)

    def register(p: Platform):
        addresses = Addresses(p.config, link_port=functools.partial(p.bound_port, "device"))
        return web.site(root(Register(p.core.devices, p.core.files, addresses, p.clock, p.config.platform.timezone,
                                      p.config.register.auto_provision)), access_log=False, **http(p, "register"))

    def mcu(p: Platform):
        from twisted.web import resource as web_resource

        top = web_resource.Resource()
        top.putChild(b"mcu", p.soap)
        # no access line per request: at thousands of app requests a second they drowned the events that
        # matter (logins, refusals — logged by kandian itself) and cost a sixth of the CPU of a request
        return web.site(top, max_body=256 * 1024, access_log=False, **http(p, "mcu"))

    def ftp(p: Platform):
        from .ftp import factory

        c = p.config.ftp
        return factory(p.core.files, p.layout, reactor=p.reactor, clock=p.clock, timezone=p.config.platform.timezone,
                       public_host=p.config.platform.public_host, passive_ports=c.passive_ports,
                       idle_timeout=c.idle_timeout, data_timeout=c.data_timeout,
                       max_sessions=c.max_connections_per_device, fsync=p.config.files.fsync, stats=p.ftp_stats,
                       **p.firmware_hooks)

    def portal(p: Platform):
        from . import portal as portal_web
        from .portal.live import LiveResource

        live = LiveResource(p.core.media, p.live, p.core.api_auth, p.clock, p.live_stats)
        return portal_web.site(p.core, p.config.platform.timezone, token_ttl=p.config.portal.token_ttl,
                               stats=p.portal_stats, extra={b"alarm": p.alarm_pages, b"live": live},
                               upload_min_rate=p.config.portal.upload_min_rate, **http(p, "portal"))

    def rtsp(p: Platform):
        from .rtsp.relay import RelayFactory, tcp_endpoints

        c = p.config.rtsp
        return RelayFactory(p.relay_authorizer, p.reactor, p.clock, media_timeout=c.media_timeout,
                            idle_timeout=c.idle_timeout, endpoints=tcp_endpoints(p.reactor, c.connect_timeout),
                            stats=p.relay_stats,
                            request_timeout=c.request_timeout)

    def onenet(p: Platform):
        from . import onenet as onenet_api

        c, host = p.config.onenet, p.config.platform.public_host

        def address(name: str):
            port = p.config.port_of(name) or p.bound_port(name)
            return (host, port) if port else None

        def base(https: bool) -> str:
            if c.public_url:
                return c.public_url.rstrip("/")
            scheme = "https" if c.listen.startswith("ssl:") else "http"
            return "%s://%s:%s" % (scheme, host, p.config.port_of("onenet") or p.bound_port("onenet"))

        endpoints = onenet_api.Endpoints(
            register=lambda: address("register"),
            device_link=lambda: p.config.register.link_address or address("device"), onenet=base,
            peer_ip=p.links.peer_ip)
        from .media.grab import FrameGrabber

        grabber = FrameGrabber(p.core.media, p.reactor, ffmpeg=p.config.media.ffmpeg)
        return onenet_api.site(p.core, p.config.platform.timezone, p.clock, product_id=c.product_id,
                               endpoints=endpoints, url_ttl=c.url_ttl, max_upload=c.max_upload,
                               stats=p.onenet_stats, live=p.live, grabber=grabber, **http(p, "onenet"))

    def group_role(p: Platform):
        from .grouprole.resource import root as group_root

        c = p.config.group_role
        return web.site(group_root(p.core.group_role, p.group_role_stats, p.group_soap, c.stun_address,
                                   c.backup_stun_address), **http(p, "group_role"))

    def mvb(p: Platform):
        from . import mvb as mvb_api

        return mvb_api.site(p.core, p.config.platform.timezone, p.clock, stats=p.mvb_stats, **http(p, "mvb"))

    def cloudmonitor(p: Platform):
        from . import cloudmonitor as cm

        c = p.config

        def base() -> str:
            port = c.port_of("cloudmonitor") or p.bound_port("cloudmonitor")
            return c.cloudmonitor.public_url.rstrip("/") or "http://%s:%s" % (c.platform.public_host, port)
        return cm.site(p.core, c.platform.timezone, p.clock, storage_addr=base, stats=p.cloudmonitor_stats,
                       loop=p.loop, **http(p, "cloudmonitor"))

    return {
        "mvb": mvb,
        "cloudmonitor": cloudmonitor,
        "group_role": group_role,
        "device": device,
        "register": register,
        "mcu": mcu,
        "rtsp": rtsp,
        "admin": lambda p: admin_web.site(p.db, p.reactor, p, **http(p, "admin")),
        "ftp": ftp,
        "portal": portal,
        "onenet": onenet,
    }


class KandianService(service.MultiService):
    name = "kandian"

    def __init__(self, config: Config, reactor, *, factories=None, exit_on_failure: bool = False, clock=None,
                 tune_gc: bool = False, open_files: int | None = None):
        """*clock* drives the domain's timers (link timeouts, token expiry); it
        is the reactor except in tests, which pass a ``task.Clock``.
        *open_files*: the open-file limit to plan connection caps in; by
        default the soft RLIMIT_NOFILE, first raised to the hard one."""
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.clock = clock
        self.factories = factories if factories is not None else default_factories()
        self.exit_on_failure = exit_on_failure
        self.tune_gc = tune_gc
        self.open_files = open_files
        self.store = StoreService(config, reactor, clock=clock, on_give_up=self._store_lost)
        self.store.setServiceParent(self)
        self.listeners: dict[str, Listener] = {}
        self.platform: Platform | None = None
        self.ready: defer.Deferred | None = None
        self.failure: BaseException | None = None

    def privilegedStartService(self):
        # Nothing binds before the store is ready; see the module docstring.
        pass

    def startService(self):
        service.Service.startService(self)
        self.ready = self._start()
        self.ready.addErrback(self._start_failed)

    @defer.inlineCallbacks
    def _start(self):
        caps = self._plan_caps()
        self.store.startService()
        db = yield self.store.ready
        self.platform = Platform(self.config, self.reactor, db, clock=self.clock, bound_port=self._bound_port,
                                 caps=caps, builders=self.factories)
        yield self.platform.start()
        for name, description in self.config.listeners().items():
            factory = limits.LimitingFactory(self.platform.factories[name], caps.limits[name],
                                             self.reactor, limits.REFUSALS.get(name, b""),
                                             exempt=own_sources(self.config, name))
            endpoint = serverFromString(self.reactor, with_backlog(description))
            listener = Listener(name, description, endpoint, factory, clock=self.reactor)
            self.listeners[name] = listener
            try:
                listener.setServiceParent(self)
            except Exception as e:
                raise StartupError("[%s] listen = %s: %s" % (name, description, _one_line(e))) from None
            yield listener.whenListening()
        if self.tune_gc:
            _tune_gc()
        log.info("kandian ready: {listeners}", listeners=", ".join(
            "%s %s" % (name, _address(listener.port)) for name, listener in self.listeners.items()))
        return self

    def _plan_caps(self) -> limits.Plan:
        open_files = self.open_files if self.open_files is not None else limits.raise_open_file_limit()
        try:
            caps = limits.plan(self.config, open_files)
        except ConfigError as e:
            raise StartupError(str(e)) from None
        for warning in caps.warnings:
            log.warn("{warning}", warning=warning)
        log.info("connection caps (open-file limit {open_files}): {caps}", open_files=open_files,
                 caps=", ".join("%s %d%s" % (cap.name, cap.max_connections, " (%d per address)" % cap.max_per_address
                                                if cap.max_per_address else "") for cap in caps.limits.values()))
        return caps

    def _bound_port(self, name: str) -> int | None:
        listener = self.listeners.get(name)
        if listener is None or listener.port is None:
            return None
        return listener.port_number

    def _start_failed(self, failure):
        self.failure = failure.value
        log.critical("start-up failed: {why}", why=_one_line(failure.value))
        if self.exit_on_failure:
            # twistd has no way to set its exit status: leave with 1 once the
            # services (the embedded PostgreSQL among them) have stopped.
            self.reactor.addSystemEventTrigger("after", "shutdown", _exit, 1)
            if self.reactor.running:
                self.reactor.stop()
            else:
                self.reactor.callWhenRunning(self.reactor.stop)
            return None  # reported above, once
        return failure

    def _store_lost(self, error: BaseException) -> None:
        """The embedded PostgreSQL died and could not be restarted: a daemon
        that cannot store anything should not look alive to systemd."""
        self.failure = error
        log.critical("the database is gone for good; stopping")
        if self.exit_on_failure:
            self.reactor.addSystemEventTrigger("after", "shutdown", _exit, 1)
            self.reactor.stop()

    @defer.inlineCallbacks
    def stopService(self):
        service.Service.stopService(self)
        for listener in reversed(list(self.listeners.values())):
            if listener.running:
                yield listener.stopService()
        if self.platform is not None:
            yield self.platform.stop()
        yield self.store.stopService()


def _tune_gc() -> None:
    """The daemon's long-lived objects (modules, the WSDL, spyne's tables) are
    frozen out of the collector, and the youngest generation collected less
    often: each device login allocates hundreds of short-lived objects, and
    the default threshold (700) made full collections a third of the login
    cost (docs/benchmarks.md, "Device link")."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


class StartupError(Exception):
    pass


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or e.__class__.__name__


def _exit(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
