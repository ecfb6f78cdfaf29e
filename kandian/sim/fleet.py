"""Many simulated devices in one reactor (spec §7.2 registration, §7.3 link recovery).

:class:`Fleet` runs ``count`` devices with consecutive DevIDs: each one
asks the group platform where its province is (§5, with ``redirect_url``),
registers (§7.2, unless a link address is given), connects, logs in and
stays online on its heartbeats; connection attempts (registrations
included) are spread at ``connect_rate`` a second, so that thousands of
devices neither stampede the platform at start nor after a mass disconnect.
One reactor, no thread per device; an idle device costs its state, its
protocol, its transport and one timer.

The recovery policy the spec gives the device:

* a link that closes is reconnected after ``reconnect_delay`` (§7.3.2:
  "链接发起方自动侦测链路故障，并负责链路恢复");
* a refused login is retried after ``login_retry_delay`` (§7.3.3: at least
  3 minutes apart); the fleet closes the refused link itself;
* a connection that fails goes to the backup address, and when that fails
  too the device registers again (§7.2 items 13–14), no sooner than
  ``register_retry_delay`` after its last registration (item 15: 5 minutes).

A device the group platform refuses (§6.6 step 3: 401 until a province
claimed it) does not ask again (§5 item 4) until it is powered on again:
:meth:`Fleet.power_cycle`.

With ``alarm_every`` each device raises a motion alarm (§7.5.34) on average
every that many seconds, spread evenly over the fleet.  With ``ftp`` (a
:class:`kandian.sim.ftp.DeviceFtp`) each alarm's snapshot is uploaded to the
FTP server of REGISTER_RES (or ``ftp_server(dev_id)``) and announced with
NOTIFY_PICTURE (§7.5.27), and accepted UPGRADE_REQ and LOG_UPLOAD_REQ are
carried out (download, check, reboot; upload); ``fail_upgrades`` maps a
DevID to how that device fails its upgrades (``kandian.sim.state.UPGRADE_FAILURES``). A status line goes to
``report`` every ``status_every`` seconds and :class:`FleetSummary` sums it
up at the end. :func:`start_fleet` returns the running :class:`Fleet`
(``all_online()``, ``stop()``, ``wait()``); :func:`run_fleet` runs one for
``duration`` seconds and fires with its summary.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool

from kandian.sim.link import DeviceLink, LoginRefused, connect_device
from kandian.sim.redirect import RedirectResult, redirect
from kandian.sim.register import RegisterResult, register
from kandian.sim.state import DEFAULT_DEV_VER, IPC, DeviceState, FtpServer

__all__ = ["FleetCounters", "FleetSummary", "Fleet", "start_fleet", "run_fleet"]

log = Logger()

TICK = 0.05  # seconds between two batches of connection attempts
CLOSE_GRACE = 5.0  # seconds stop() waits for links to close

Address = tuple[str, int]
Connect = Callable[[DeviceState, Address, "str | None"], "Deferred[DeviceLink]"]


@attrs.define
class FleetCounters:
    redirected: int = 0
    redirect_refused: int = 0
    registered: int = 0
    register_failed: int = 0
    connects: int = 0
    connect_failed: int = 0
    logins: int = 0
    login_refused: int = 0
    login_failed: int = 0
    online: int = 0
    peak_online: int = 0
    disconnects: int = 0
    alarms_sent: int = 0
    alarms_acked: int = 0
    alarms_failed: int = 0
    commands: int = 0  # platform requests answered


@attrs.frozen
class FleetSummary:
    count: int
    elapsed: float
    all_online_after: float | None  # seconds from start until every device was online
    counters: FleetCounters

    @property
    def login_rate(self) -> float | None:
        """Logins a second until the whole fleet was online."""
        if not self.all_online_after:
            return None
        return self.count / self.all_online_after

    def line(self) -> str:
        c = self.counters
        if self.all_online_after is None:
            ramp = "never all online"
        else:
            rate = self.login_rate
            ramp = f"all online after {self.all_online_after:.1f} s" + (f" ({rate:.0f} logins/s)" if rate else "")
        return (
            f"summary: {self.count} devices, {ramp}; peak online {c.peak_online}, online at end {c.online}; "
            f"logins {c.logins} (refused {c.login_refused}, failed {c.login_failed}); "
            f"connects {c.connects} (failed {c.connect_failed}); "
            f"registered {c.registered} (failed {c.register_failed}); disconnects {c.disconnects}; "
            f"alarms {c.alarms_acked}/{c.alarms_sent} acked ({c.alarms_failed} failed); "
            f"commands answered {c.commands}; elapsed {self.elapsed:.1f} s"
        )


class _Member:
    """One device of the fleet and where it is in its life."""

    __slots__ = (
        "state",
        "bind",
        "address",
        "backup",
        "use_backup",
        "registered_at",
        "register_url",
        "waiting",
        "link",
        "online",
        "refused",
        "pending",
        "timer",
    )

    def __init__(self, state: DeviceState, bind: str | None, address: Address | None) -> None:
        self.state = state
        self.bind = bind
        self.address = address
        self.backup: Address | None = None
        self.use_backup = False
        self.registered_at: float | None = None
        self.register_url: str | None = None  # the province's, from the group platform (§5)
        self.waiting = False  # refused by the group platform: until powered on again
        self.link: DeviceLink | None = None
        self.online = False
        self.refused = False
        self.pending: Deferred[Any] | None = None
        self.timer: IDelayedCall | None = None


def _address(where: str | Address) -> Address:
    if isinstance(where, str):
        host, _, port = where.rpartition(":")
        return host, int(port)
    return where


class Fleet:
    """``count`` simulated devices; see the module docstring."""

    def __init__(
        self,
        reactor: Any,
        *,
        count: int,
        first_devid: int | str = 81100000000,
        key_pattern: str = "key-{devid}",
        register_url: str | None = None,
        link: str | Address | None = None,
        redirect_url: str | None = None,
        dev_type: int = IPC,
        channels: int = 1,
        model: str | None = None,
        dev_ver: str = DEFAULT_DEV_VER,
        heartbeat: float = 120.0,
        request_timeout: float = 30.0,
        alarm_every: float | None = None,
        connect_rate: float = 100.0,
        status_every: float | None = 5.0,
        reconnect_delay: float = 5.0,
        login_retry_delay: float = 180.0,
        register_retry_delay: float = 300.0,
        bind_hosts: Sequence[str] = (),
        report: Callable[[str], None] | None = None,
        clock: IReactorTime | None = None,
        agent: Any = None,
        connect: Connect | None = None,
        ftp: Any = None,
        ftp_server: Callable[[str], FtpServer] | None = None,
        fail_upgrades: Mapping[str, str] | None = None,
    ) -> None:
        if register_url is None and link is None and redirect_url is None:
            raise ValueError("give a registration URL, a link address or the group platform's redirect URL")
        if count < 1 or connect_rate <= 0:
            raise ValueError("count and connect_rate must be positive")
        self.count = count
        self.clock: IReactorTime = reactor if clock is None else clock
        self.register_url = None if link is not None else register_url
        self.redirect_url = None if link is not None or register_url is not None else redirect_url
        self.heartbeat = heartbeat
        self.alarm_every = alarm_every
        self.connect_rate = connect_rate
        self.status_every = status_every
        self.reconnect_delay = reconnect_delay
        self.login_retry_delay = login_retry_delay
        self.register_retry_delay = register_retry_delay
        self.counters = FleetCounters()
        self.ftp = ftp
        self._done: Deferred[FleetSummary] = Deferred()  # callers get their own from wait()
        self._report = report or (lambda line: log.info("{line}", line=line))
        self._pool: HTTPConnectionPool | None = None
        if (self.register_url is not None or self.redirect_url is not None) and agent is None:
            self._pool = HTTPConnectionPool(reactor, persistent=True)
            self._pool.maxPersistentPerHost = 16
            agent = Agent(reactor, pool=self._pool)
        self._agent = agent
        if connect is None:

            def connect(state: DeviceState, address: Address, bind: str | None) -> Deferred[DeviceLink]:
                return connect_device(
                    reactor,
                    address,
                    state,
                    clock=self.clock,
                    bind_address=bind,
                    heartbeat_interval=heartbeat,
                    request_timeout=request_timeout,
                    keep_commands=16,
                    ftp=ftp,
                )

        self._connect_device = connect
        first = int(first_devid)
        fixed = None if link is None else _address(link)
        failing = dict(fail_upgrades or {})
        self.members = [
            _Member(
                DeviceState(
                    str(first + index),
                    key_pattern.format(devid=str(first + index)),
                    dev_type,
                    channel_num=channels,
                    model=model,
                    dev_ver=dev_ver,
                    upgrade_failure=failing.get(str(first + index)),
                    ftp_server=None if ftp_server is None else ftp_server(str(first + index)),
                ),
                bind_hosts[index % len(bind_hosts)] if bind_hosts else None,
                fixed,
            )
            for index in range(count)
        ]
        self._queue: deque[_Member] = deque()
        self._tokens = 0.0
        self._ticked_at = 0.0
        self._alarm_tokens = 0.0
        self._alarm_next = 0
        self._started_at: float | None = None
        self._all_online_after: float | None = None
        self._all_online_waiters: list[Deferred[float]] = []
        self._tick_call: IDelayedCall | None = None
        self._status_call: IDelayedCall | None = None
        self._closed_commands = 0
        self._stopping = False
        self._closing = 0
        self._grace: IDelayedCall | None = None
        self._alarms_in_flight = 0
        self._links_closing = False  # stop() has closed the links (after the alarms in flight were answered)
        self._drain: IDelayedCall | None = None

    # -- public -----------------------------------------------------------------------

    @property
    def links(self) -> list[DeviceLink]:
        """The links currently logged in."""
        return [m.link for m in self.members if m.online and m.link is not None]

    def prepare(self) -> None:
        """Write every device's LOGIN_REQ and ABILITYUP_REQ bodies now (``DeviceState.encode`` keeps
        them), so that a load generator's logins cost it less while they are timed."""
        for m in self.members:
            m.state.encode(m.state.login_request())
            m.state.encode(m.state.ability_request())

    def start(self) -> None:
        self._started_at = self.clock.seconds()
        self._queue.extend(self.members)
        self._tokens = max(1.0, self.connect_rate * TICK)
        self._ticked_at = self.clock.seconds()
        self._tick()
        if self.status_every:
            self._status_call = self.clock.callLater(self.status_every, self._status)

    def all_online(self) -> Deferred[float]:
        """Fires with the seconds it took, once every device has been online at the same time."""
        if self._all_online_after is not None:
            d: Deferred[float] = Deferred()
            d.callback(self._all_online_after)
            return d
        d = Deferred()
        self._all_online_waiters.append(d)
        return d

    def status_line(self) -> str:
        c = self.counters
        return (
            f"[{self._elapsed():7.1f} s] online {c.online}/{self.count} (peak {c.peak_online}) "
            f"logins {c.logins} refused {c.login_refused} failed {c.login_failed} | "
            f"connects {c.connects} failed {c.connect_failed} | "
            f"registered {c.registered} failed {c.register_failed} | disconnects {c.disconnects} | "
            f"alarms {c.alarms_acked}/{c.alarms_sent} | commands {self._commands()} | waiting {len(self._queue)}"
        )

    def summary(self) -> FleetSummary:
        self.counters.commands = self._commands()
        return FleetSummary(self.count, self._elapsed(), self._all_online_after, attrs.evolve(self.counters))

    def _elapsed(self) -> float:
        return 0.0 if self._started_at is None else self.clock.seconds() - self._started_at

    def stop(self) -> Deferred[FleetSummary]:
        """Stop connecting and close every link; fires with the summary."""
        if self._stopping:
            return self.wait()
        self._stopping = True
        for call in (self._tick_call, self._status_call):
            if call is not None and call.active():
                call.cancel()
        self._queue.clear()
        for m in self.members:
            if m.timer is not None and m.timer.active():
                m.timer.cancel()
            m.timer = None
            if m.pending is not None:
                m.pending.cancel()
        if self._alarms_in_flight:
            # an alarm already sent gets its answer before its link closes: a stop
            # must not count a report the platform is about to acknowledge as failed
            self._drain = self.clock.callLater(CLOSE_GRACE, self._close_links)
        else:
            self._close_links()
        return self.wait()

    def _close_links(self) -> None:
        if self._links_closing:
            return
        self._links_closing = True
        if self._drain is not None and self._drain.active():
            self._drain.cancel()
        links = [m.link for m in self.members if m.link is not None]
        self._closing = len(links)
        self._grace = self.clock.callLater(CLOSE_GRACE, self._finish)
        for link in links:
            link.close()
        if not links:
            self._finish()

    def wait(self) -> Deferred[FleetSummary]:
        """Fires with the summary once the fleet has stopped."""
        d: Deferred[FleetSummary] = Deferred()

        def relay(result: Any) -> Any:
            d.callback(result)
            return result

        self._done.addBoth(relay)
        return d

    # -- the pipeline -----------------------------------------------------------------

    def _finish(self) -> None:
        if self._done.called:
            return
        if self._grace is not None and self._grace.active():
            self._grace.cancel()
        summary = self.summary()
        if self._pool is not None:
            self._pool.closeCachedConnections()
        self._done.callback(summary)

    def _enqueue(self, m: _Member) -> None:
        m.timer = None
        if not self._stopping:
            self._queue.append(m)

    def _later(self, m: _Member, delay: float) -> None:
        if self._stopping:
            return
        if delay <= 0:
            self._queue.append(m)
        else:
            m.timer = self.clock.callLater(delay, self._enqueue, m)

    def _tick(self) -> None:
        # tokens for the time that really passed: a tick that runs late (a busy
        # reactor) does not lower the rate, up to one tick's worth of lateness
        now = self.clock.seconds()
        elapsed = max(0.0, now - self._ticked_at)
        self._ticked_at = now
        batch = max(1.0, self.connect_rate * TICK)
        self._tokens = min(2 * batch, self._tokens + self.connect_rate * elapsed)
        while self._tokens >= 1 and self._queue:
            self._tokens -= 1
            self._launch(self._queue.popleft())
        if self.alarm_every:
            self._raise_alarms()
        self._tick_call = self.clock.callLater(TICK, self._tick)

    def _status(self) -> None:
        self._report(self.status_line())
        self._status_call = self.clock.callLater(self.status_every, self._status)  # type: ignore[arg-type]

    def power_cycle(self) -> int:
        """The devices the group platform refused are switched off and on:
        they ask it again (§5 item 4).  How many."""
        waiting = [m for m in self.members if m.waiting]
        for m in waiting:
            m.waiting = False
            self._later(m, 0)
        return len(waiting)

    @property
    def _registers(self) -> bool:
        """Whether devices learn their link address by registering (§7.2), not from ``link``."""
        return self.register_url is not None or self.redirect_url is not None

    def _launch(self, m: _Member) -> None:
        if self.redirect_url is not None and m.register_url is None and m.address is None:
            self._redirect(m)
        elif self._registers and m.address is None:
            self._register(m)
        else:
            self._connect(m)

    def _redirect(self, m: _Member) -> None:
        d = redirect(self._agent, self.redirect_url, m.state, timeout=30.0, clock=self.clock)  # type: ignore[arg-type]
        m.pending = d
        d.addCallbacks(self._redirected, self._redirect_failed, callbackArgs=(m,), errbackArgs=(m,))

    def _redirected(self, result: RedirectResult, m: _Member) -> None:
        m.pending = None
        if not result.ok:
            why = f"HTTP {result.code}" + (f", Result {result.response.Result}" if result.response else "")
            self._redirect_failed(None, m, why)
            return
        self.counters.redirected += 1
        m.register_url = result.register_url
        self._register(m)

    def _redirect_failed(self, failure: Failure | None, m: _Member, why: str | None = None) -> None:
        m.pending = None
        if self._stopping:
            return
        self.counters.redirect_refused += 1
        log.info("Device {dev_id}: the group platform did not redirect it: {why}", dev_id=m.state.dev_id,
                 why=why if failure is None else failure.getErrorMessage())
        m.waiting = True

    def _register(self, m: _Member) -> None:
        m.registered_at = self.clock.seconds()
        url = m.register_url or self.register_url
        d = register(self._agent, url, m.state, timeout=30.0, clock=self.clock)  # type: ignore[arg-type]
        m.pending = d
        d.addCallbacks(self._registered, self._register_failed, callbackArgs=(m,), errbackArgs=(m,))

    def _registered(self, result: RegisterResult, m: _Member) -> None:
        m.pending = None
        if not result.ok or result.link_address is None:
            self._register_failed(None, m, f"Result {result.response.Result}, HTTP {result.code}")
            return
        self.counters.registered += 1
        m.state.apply_register(result.response)
        m.address = result.link_address
        m.backup = result.backup_link_address
        m.use_backup = False
        self._connect(m)

    def _register_failed(self, failure: Failure | None, m: _Member, why: str | None = None) -> None:
        m.pending = None
        if self._stopping:
            return
        self.counters.register_failed += 1
        if self.counters.register_failed == 1:
            log.warn(
                "Device {dev_id}: registration failed: {why}",
                dev_id=m.state.dev_id,
                why=why if failure is None else failure.getErrorMessage(),
            )
        self._later(m, self.register_retry_delay)

    def _connect(self, m: _Member) -> None:
        address = m.backup if m.use_backup and m.backup is not None else m.address
        assert address is not None
        self.counters.connects += 1
        d = self._connect_device(m.state, address, m.bind)
        m.pending = d
        d.addCallbacks(self._connected, self._connect_failed, callbackArgs=(m,), errbackArgs=(m,))

    def _connect_failed(self, failure: Failure, m: _Member) -> None:
        m.pending = None
        if self._stopping:
            return
        self.counters.connect_failed += 1
        if self.counters.connect_failed == 1:
            log.warn("Device {dev_id}: cannot connect: {why}", dev_id=m.state.dev_id, why=failure.getErrorMessage())
        if not m.use_backup and m.backup is not None and m.backup != m.address:
            m.use_backup = True
            self._later(m, 0)
        elif self._registers:
            m.address = m.backup = None
            m.use_backup = False
            since = 0.0 if m.registered_at is None else self.clock.seconds() - m.registered_at
            self._later(m, self.register_retry_delay - since)
        else:
            self._later(m, self.reconnect_delay)

    def _connected(self, link: DeviceLink, m: _Member) -> None:
        m.pending = None
        m.link = link
        if self._stopping:
            self._closing += 1
            link.close()
        link.logged_in().addCallbacks(self._logged_in, self._login_failed, callbackArgs=(m,), errbackArgs=(m,))
        link.when_closed().addCallback(self._closed, m, link)

    def _logged_in(self, response: object, m: _Member) -> None:
        c = self.counters
        c.logins += 1
        c.online += 1
        c.peak_online = max(c.peak_online, c.online)
        m.online = True
        if c.online == self.count and self._all_online_after is None:
            self._all_online_after = self._elapsed()
            waiters, self._all_online_waiters = self._all_online_waiters, []
            for d in waiters:
                d.callback(self._all_online_after)

    def _login_failed(self, failure: Failure, m: _Member) -> None:
        if failure.check(LoginRefused):
            self.counters.login_refused += 1
            m.refused = True
            if m.link is not None:
                m.link.close()
        elif not self._stopping:
            self.counters.login_failed += 1

    def _closed(self, reason: BaseException, m: _Member, link: DeviceLink) -> None:
        self._closed_commands += link.commands_answered
        m.link = None
        if self._stopping:
            # Closed by stop(): the summary reports who was online when it was called.
            m.online = False
            if not self._links_closing:
                return  # closed by the platform while stop() waited for alarm answers
            self._closing -= 1
            if self._closing <= 0:
                self._finish()
            return
        if m.online:
            m.online = False
            self.counters.online -= 1
            self.counters.disconnects += 1
        delay = self.login_retry_delay if m.refused else self.reconnect_delay
        m.refused = False
        self._later(m, delay)

    def _raise_alarms(self) -> None:
        self._alarm_tokens += self.count / self.alarm_every * TICK  # type: ignore[operator]
        while self._alarm_tokens >= 1:
            self._alarm_tokens -= 1
            m = self._next_online()
            if m is None:
                self._alarm_tokens = 0
                return
            self.counters.alarms_sent += 1
            self._alarms_in_flight += 1
            if self.ftp is not None:
                d = self.ftp.alarm(m.link, 0, 1, desc="simulated motion")
            else:
                d = m.link.send_alarm(0, 1, desc="simulated motion")  # type: ignore[union-attr]
            d.addCallbacks(self._alarm_answered, self._alarm_failed)
            d.addBoth(self._alarm_settled)

    def _next_online(self) -> _Member | None:
        for _ in range(self.count):
            m = self.members[self._alarm_next]
            self._alarm_next = (self._alarm_next + 1) % self.count
            if m.online and m.link is not None:
                return m
        return None

    def _alarm_answered(self, response: Any) -> None:
        if response.Result == 0:
            self.counters.alarms_acked += 1
        else:
            self.counters.alarms_failed += 1

    def _alarm_failed(self, failure: Failure) -> None:
        self.counters.alarms_failed += 1

    def _alarm_settled(self, _: object) -> None:
        self._alarms_in_flight -= 1
        if self._stopping and not self._alarms_in_flight:
            self._close_links()

    def _commands(self) -> int:
        return self._closed_commands + sum(m.link.commands_answered for m in self.members if m.link is not None)


def start_fleet(reactor: Any, **options: Any) -> Fleet:
    """Build a :class:`Fleet` with *options* (its constructor's keywords) and start it."""
    fleet = Fleet(reactor, **options)
    fleet.start()
    return fleet


def run_fleet(reactor: Any, *, duration: float | None = None, **options: Any) -> Deferred[FleetSummary]:
    """Run a fleet for *duration* seconds, or else until the reactor shuts down; fires with its summary."""
    fleet = start_fleet(reactor, **options)
    if duration is not None:
        fleet.clock.callLater(duration, fleet.stop)
    else:
        reactor.addSystemEventTrigger("before", "shutdown", fleet.stop)
    return fleet.wait()
