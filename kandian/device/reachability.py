"""UPnP reachability (§15 step 2, §8.7 UpnpPlayUrl).

After a login, and whenever a heartbeat reports a new UPnP address, the
platform tries a TCP connection to ``UpnpIP:RtspUpnpPort`` with a short
timeout and stores whether it got through; VideoPlay hands out an UpnpPlayUrl
only for a device found reachable.  Only literal IPv4/IPv6 addresses are
tried (no DNS lookups on a device's say-so); ``0.0.0.0`` means the device's
mapping failed (§7.5.1) and is stored as unreachable without a probe.  An
address the dial policy refuses (:mod:`kandian.dialpolicy`: not the device's
own link address, a TURN relay or an allowed network) is stored as
unreachable without a probe too, so the probe tells a device nothing about
other hosts' ports.

At most ``max_concurrent`` probes are in flight (each holds an open file for
up to ``timeout`` seconds: a reconnect storm of thousands of cameras must not
spend the descriptors kept for the database); up to ``max_waiting`` more wait
their turn, and beyond that a probe is skipped — nothing is stored, the
device's earlier reachability stands — and counted.
"""

from __future__ import annotations

from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, connectProtocol
from twisted.logger import Logger

__all__ = ["UpnpProbe", "probe_target"]

from ..core.devices import probe_target
from ..core.errors import log_failure
from ..dialpolicy import DialPolicy
from ..logs import peer_text

log = Logger()


class UpnpProbe:
    def __init__(self, reactor, record, timeout: float = 3.0, clock=None, *, policy: DialPolicy | None = None,
                 peer_ip=None, max_concurrent: int = 64, max_waiting: int = 4096):
        """*record* keeps the outcomes (the core's devices:
        ``upnp_reachable(dev_id, ip, port, reachable, now)``); *policy* says
        which addresses may be dialled; *peer_ip(dev_id)* is the source
        address of the device's link (None when offline)."""
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.record = record
        self.timeout = timeout
        self.policy = policy if policy is not None else DialPolicy()
        self.peer_ip = peer_ip if peer_ip is not None else (lambda dev_id: None)
        self.refused = 0  # probes the policy refused
        self.skipped = 0  # probes not tried because too many were waiting
        self.max_waiting = max_waiting
        self._slots = defer.DeferredSemaphore(max_concurrent)

    def connect(self, host: str, port: int) -> defer.Deferred:
        endpoint_class = TCP6ClientEndpoint if ":" in host else TCP4ClientEndpoint
        endpoint = endpoint_class(self.reactor, host, port, timeout=self.timeout)
        d = connectProtocol(endpoint, protocol.Protocol())
        d.addCallback(lambda proto: proto.transport.loseConnection())
        return d

    @defer.inlineCallbacks
    def check(self, dev_id: str, upnp_ip: str | None, port: int | None):
        """Probe and record; fires with the outcome, never fails."""
        target = probe_target(upnp_ip, port)
        reachable = False
        outcome = "not reachable"
        if target is not None and not self.policy(target[0], self.peer_ip(dev_id)):
            self.refused += 1
            outcome = "not probed (not the device's own address)"
        elif target is not None:
            if len(self._slots.waiting) >= self.max_waiting:
                self.skipped += 1
                return False
            try:
                yield self._slots.run(self.connect, *target)
                reachable = True
                outcome = "reachable"
            except Exception:
                reachable = False
        log.info("device {dev_id}: UPnP {ip}:{port} {outcome}", dev_id=peer_text(dev_id), ip=peer_text(upnp_ip),
                 port=port, outcome=outcome)
        if upnp_ip and port is not None:
            try:
                yield self.record.upnp_reachable(dev_id, upnp_ip, port, reachable, self.clock.seconds())
            except Exception:
                log_failure(log, "device {dev_id}: could not store UPnP reachability", dev_id=peer_text(dev_id))
        return reachable
