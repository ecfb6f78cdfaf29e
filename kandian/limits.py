"""Connection caps on every listener, sized below the open-file limit.

No spec section: hardening.  A peer that opens connections and trickles
bytes into them (slowloris) must not take the file descriptors the device
link (§7.3, one connection per camera) and everything else need.  So:

- every listener's factory is wrapped in a :class:`LimitingFactory`, which
  refuses a connection at accept when the listener is at its total cap or
  the source is at its per-address cap (an IPv6 source counts by its /64,
  as :func:`kandian.throttle.source_key`).  A refused peer gets its
  protocol's "busy" answer where it has one (HTTP 503, FTP 421) and the
  connection is closed at once; refusals are counted per listener and
  reason, and logged at most once a minute per source (per-address refusals)
  or per listener (total-cap refusals);
- :func:`plan` fits the caps into the process's open-file limit: the fds
  kept for the rest (``[platform] fd_reserve`` and the database pool) and
  the other listeners' caps (an RTSP relay connection holds two: client
  and camera) come first, and the device link gets what remains, so the
  other listeners at their caps can never take the device link's share.
"""

from __future__ import annotations

import collections
import functools
import resource
from collections.abc import Hashable
from typing import Any

import attrs
from twisted.internet import defer, protocol
from twisted.logger import Logger

from .config import Config, ConfigError
from .throttle import source_key

log = Logger()

# What a refused peer is told before the connection is closed, by listener.
HTTP_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 10\r\n"
             b"Content-Length: 0\r\nConnection: close\r\n\r\n")
REFUSALS = {
    "register": HTTP_BUSY, "mcu": HTTP_BUSY, "admin": HTTP_BUSY, "portal": HTTP_BUSY, "group_role": HTTP_BUSY,
    "mvb": HTTP_BUSY, "cloudmonitor": HTTP_BUSY, "onenet": HTTP_BUSY,
    "ftp": b"421 Too many connections, try again later.\r\n",
}
# Open files one accepted connection can hold: a relayed RTSP session its
# client and camera; an FTP session its control and data connections and the file.
FDS_PER_CONNECTION = {"rtsp": 2, "ftp": 3}
# Below this share the device link is not worth starting (unless its own cap is lower).
MIN_DEVICE_CONNECTIONS = 64
LOG_INTERVAL = 60.0


@attrs.define
class ListenerLimit:
    """The caps of one listener and its counters (read by ``/metrics``)."""

    name: str
    max_connections: int
    max_per_address: int = 0  # 0: no per-address cap
    fds_per_connection: int = 1
    open: int = 0
    refused: collections.Counter = attrs.field(factory=collections.Counter)  # reason → count
    request_timeouts: int = 0


class RateLimitedLog:
    """At most one line per key per *interval*; how many were held back is
    reported with the next line.  Bounded: past *max_keys* live keys, new
    keys are counted by the caller's metric only."""

    def __init__(self, clock, interval: float = LOG_INTERVAL, max_keys: int = 10_000):
        self.clock = clock
        self.interval = interval
        self.max_keys = max_keys
        self._entries: dict[Hashable, list] = {}

    def due(self, key: Hashable) -> int | None:
        """None: stay silent; else log now, with this many held back since the last line."""
        now = self.clock.seconds()
        entry = self._entries.get(key)
        if entry is not None and now < entry[0] + self.interval:
            entry[1] += 1
            return None
        if entry is None and len(self._entries) >= self.max_keys:
            for k in [k for k, e in self._entries.items() if now >= e[0] + self.interval]:
                del self._entries[k]
            if len(self._entries) >= self.max_keys:
                return None
        self._entries[key] = [now, 0]
        return entry[1] if entry is not None else 0


class _Refused(protocol.Protocol):
    """Says *answer* (if any) and closes; aborts if the peer holds it open."""

    def __init__(self, answer: bytes, clock, grace: float):
        self.answer = answer
        self.clock = clock
        self.grace = grace
        self._abort = None

    def connectionMade(self):
        if not self.answer:
            self.transport.abortConnection()
            return
        self.transport.write(self.answer)
        self.transport.loseConnection()
        self._abort = self.clock.callLater(self.grace, self.transport.abortConnection)

    def connectionLost(self, reason=None):
        if self._abort is not None and self._abort.active():
            self._abort.cancel()
        self._abort = None


class Drain:
    """Deferreds that fire once *connections* (a collection its owner keeps)
    is empty: the owner calls :meth:`check` whenever one closes."""

    def __init__(self, connections):
        self.connections = connections
        self._waiting: list[defer.Deferred] = []

    def wait(self) -> defer.Deferred:
        """Fires once no connection is left (at once if none is); cancellable."""
        if not self.connections:
            return defer.succeed(None)
        d: defer.Deferred = defer.Deferred(self._waiting.remove)
        self._waiting.append(d)
        return d

    def check(self) -> None:
        if not self.connections and self._waiting:
            waiting, self._waiting = self._waiting, []
            for d in waiting:
                d.callback(None)


class LimitingFactory(protocol.ServerFactory):
    """Wraps a listener's factory with its :class:`ListenerLimit`.

    The protocols are the wrapped factory's own (no ProtocolWrapper: their
    transport stays the real one, and nothing is added to each byte's path);
    the factory learns of a connection's end by hooking that protocol's
    ``connectionLost``.  ``connections`` is every open protocol it accepted,
    for :class:`kandian.service.Listener` to close on stop, and
    :meth:`when_drained` fires once they are all gone.
    """

    noisy = False
    refusal_grace = 2.0

    def __init__(self, wrapped, limit: ListenerLimit, clock, answer: bytes = b"", exempt=frozenset()):
        """*exempt*: source keys (:func:`~kandian.throttle.source_key`) the per-address cap does not
        apply to (the total cap does): the address this node's own media children reach its relay from."""
        self.wrapped = wrapped
        self.limit = limit
        self.clock = clock
        self.answer = answer
        self.exempt = frozenset(exempt)
        self.connections: set[Any] = set()
        self._drain = Drain(self.connections)
        self.per_source: dict[str, int] = {}
        self.log = RateLimitedLog(clock)

    def doStart(self):
        self.wrapped.doStart()

    def doStop(self):
        self.wrapped.doStop()

    def logPrefix(self):
        return self.limit.name

    def when_drained(self) -> defer.Deferred:
        return self._drain.wait()

    def buildProtocol(self, addr):
        limit = self.limit
        host = getattr(addr, "host", None)
        source = source_key(host) if host is not None else None
        held = self.per_source.get(source, 0) if source is not None else 0
        if limit.open >= limit.max_connections:
            return self._refuse(source, "total")
        if limit.max_per_address and source is not None and held >= limit.max_per_address \
                and source not in self.exempt:
            return self._refuse(source, "per_address")
        p = self.wrapped.buildProtocol(addr)
        if p is None:
            return None
        limit.open += 1
        if source is not None:
            self.per_source[source] = held + 1
        self.connections.add(p)
        # one partial per connection (not a closure and its cells): thousands of idle device links
        p.connectionLost = functools.partial(self._lost, p, source, p.connectionLost)
        return p

    def _lost(self, p, source: str | None, original, reason=None):
        self._release(p, source)
        return original(reason)

    def _release(self, p, source: str | None) -> None:
        if p not in self.connections:
            return
        self.connections.discard(p)
        try:
            del p.connectionLost  # the hook held p: break the cycle now
        except AttributeError:
            pass
        self.limit.open -= 1
        if source is not None:
            left = self.per_source[source] - 1
            if left:
                self.per_source[source] = left
            else:
                del self.per_source[source]
        self._drain.check()

    def _refuse(self, source: str | None, reason: str):
        limit = self.limit
        limit.refused[reason] += 1
        if reason == "total":
            held_back = self.log.due(("total",))
            if held_back is not None:
                log.warn("listener {listener}: refused a connection from {source}: {open} open, at"
                         " max_connections {cap}{more}", listener=limit.name, source=source or "?",
                         open=limit.open, cap=limit.max_connections, more=_more(held_back, "on this listener"))
        else:
            held_back = self.log.due(("source", source))
            if held_back is not None:
                log.warn("listener {listener}: refused a connection from {source}: {held} open from it, at"
                         " max_connections_per_address {cap}{more}", listener=limit.name, source=source,
                         held=self.per_source.get(source, 0), cap=limit.max_per_address,
                         more=_more(held_back, "from it"))
        return _Refused(self.answer, self.clock, self.refusal_grace)


def _more(held_back: int, where: str) -> str:
    return "; %d more refused %s since the last line" % (held_back, where) if held_back else ""


# -- the open-file budget


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one, as servers do; the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY:
        return target
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


@attrs.define
class Plan:
    open_files: int
    limits: dict[str, ListenerLimit]
    warnings: list[str]


def plan(config: Config, open_files: int) -> Plan:
    """The caps of every listener within *open_files*, or a one-line ConfigError."""
    reserve = config.platform.fd_reserve + config.database.pool_size
    limits: dict[str, ListenerLimit] = {}
    others = 0
    spent = []
    for name in config.listeners():
        if name == "device":
            continue
        section = getattr(config, name)
        fds = FDS_PER_CONNECTION.get(name, 1)
        limits[name] = ListenerLimit(name, section.max_connections, section.max_connections_per_address, fds)
        others += section.max_connections * fds
        spent.append("%s %s%d" % (name, "%d x " % fds if fds > 1 else "", section.max_connections))
    share = open_files - reserve - others
    wanted = config.device.max_connections
    floor = min(wanted, MIN_DEVICE_CONNECTIONS) if wanted else MIN_DEVICE_CONNECTIONS
    where = "%s: " % config.path if config.path else ""
    if share < floor:
        raise ConfigError(
            "%sthe open-file limit %d leaves the device link %d connections after [platform] fd_reserve %d,"
            " [database] pool_size %d and the max_connections of %s: raise the limit (LimitNOFILE=)"
            " or lower those" % (where, open_files, max(share, 0), config.platform.fd_reserve,
                                 config.database.pool_size, ", ".join(spent)))
    warnings = []
    if wanted > share:
        warnings.append("%s[device] max_connections = %d does not fit in the open-file limit %d:"
                        " the device link gets the %d left by the other listeners and fd_reserve"
                        % (where, wanted, open_files, share))
    device = ListenerLimit("device", min(wanted, share) if wanted else share,
                           config.device.max_connections_per_address)
    ordered = {name: device if name == "device" else limits[name] for name in config.listeners()}
    return Plan(open_files, ordered, warnings)
