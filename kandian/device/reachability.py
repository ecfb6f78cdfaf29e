"""UPnP reachability (§15 step 2, §8.7 UpnpPlayUrl).

After a login, and whenever a heartbeat reports a new UPnP address, the
platform tries a TCP connection to ``UpnpIP:RtspUpnpPort`` with a short
timeout and stores whether it got through; VideoPlay hands out an UpnpPlayUrl
only for a device found reachable.  Only literal IPv4/IPv6 addresses are
tried (no DNS lookups on a device's say-so); ``0.0.0.0`` means the device's
mapping failed (§7.5.1) and is stored as unreachable without a probe.
"""

from __future__ import annotations

import ipaddress

from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, connectProtocol
from twisted.logger import Logger

from ..store.pool import log_failure

log = Logger()


def probe_target(upnp_ip: str | None, port: int | None) -> tuple[str, int] | None:
    """The address worth probing, or None when the report rules it out."""
    if not upnp_ip or not port:
        return None
    try:
        address = ipaddress.ip_address(upnp_ip)
    except ValueError:
        return None
    if address.is_unspecified or address.is_multicast:
        return None
    return str(address), port


class UpnpProbe:
    def __init__(self, reactor, store, timeout: float = 3.0, clock=None):
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.store = store
        self.timeout = timeout

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
        if target is not None:
            try:
                yield self.connect(*target)
                reachable = True
            except Exception:
                reachable = False
        log.info("device {dev_id}: UPnP {ip}:{port} {outcome}", dev_id=dev_id, ip=upnp_ip, port=port,
                 outcome="reachable" if reachable else "not reachable")
        if upnp_ip and port is not None:
            try:
                yield self.store.upnp_reachable(dev_id, upnp_ip, port, reachable, self.clock.seconds())
            except Exception:
                log_failure(log, "device {dev_id}: could not store UPnP reachability", dev_id=dev_id)
        return reachable
