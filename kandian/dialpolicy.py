"""Which addresses a device may make the platform dial (§15 routes, §7.5.1
UpnpIP; PRODUCT.md "RTSP relay").

A device reports LocalIP, UpnpIP and TurnRelayIP; the relay (§15 step 4) and
the UPnP probe (§15 step 2) would connect to them.  Unchecked, that lets a
device point the platform at its own internal services (server-side request
forgery) or use the probe as a port scanner.  The platform dials only an IP
literal (a peer-supplied name is never resolved) that is the device's own
public address (the peer address of its link), a configured TURN relay
(``[register] turn_address``/``backup_turn_address``), or inside a network of
``[rtsp] upstream_allow`` (lab set-ups).  Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import attrs

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def ip_literal(host: str | None) -> IPAddress | None:
    """*host* as an address when it is an IPv4/IPv6 literal (IPv4-mapped IPv6
    as IPv4), else None — a name is never looked up."""
    if not host or not isinstance(host, str):
        return None
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return None
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
    return address


def may_dial(host: str | None, link_peer_ip: str | None, turn_ips: Iterable[IPAddress] = (),
             allow_networks: Iterable[IPNetwork] = ()) -> bool:
    """Whether the platform may connect to *host* on a device's say-so.

    *link_peer_ip* is the source address of the device's link (None when
    offline); *turn_ips* the configured TURN relays; *allow_networks* the
    operator's extra networks.
    """
    address = ip_literal(host)
    if address is None or address.is_unspecified or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255"):
        return False
    peer = ip_literal(link_peer_ip)
    if peer is not None and address == peer:
        return True
    if address in set(turn_ips):
        return True
    return any(address.version == network.version and address in network for network in allow_networks)


def networks(raw: str) -> tuple[IPNetwork, ...]:
    """A comma-separated CIDR list (``10.0.0.0/8, 2001:db8::/32``); ValueError names a bad entry."""
    found = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError("not a CIDR network: %r" % (part[:60],)) from None
    return tuple(found)


@attrs.frozen
class DialPolicy:
    """:func:`may_dial` with the configured TURN relays and allowed networks bound."""

    turn_ips: frozenset = frozenset()
    allow_networks: tuple = ()

    def __call__(self, host: str | None, link_peer_ip: str | None) -> bool:
        return may_dial(host, link_peer_ip, self.turn_ips, self.allow_networks)

    @classmethod
    def from_config(cls, config) -> DialPolicy:
        """From ``[register] turn_address``/``backup_turn_address`` (only IP
        literals count: a relay configured by name goes in ``upstream_allow``)
        and ``[rtsp] upstream_allow``."""
        turn = {ip_literal(a[0]) for a in (config.register.turn_address, config.register.backup_turn_address) if a}
        return cls(frozenset(ip for ip in turn if ip is not None), tuple(config.rtsp.upstream_allow))
