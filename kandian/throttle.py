"""Throttling of failed credential checks (hardening: password, DevKey and token guessing).

Every interface that checks a secret a peer sends — McuLogin's password
(§8.2), AddDevice's DevKey (§8.5), a play URL's HashToken (§10, §15) — asks
:meth:`FailureThrottle.allowed` before checking and reports the outcome.
Failures are counted in fixed windows per source address and per (account,
source address): an address that keeps guessing is stopped, for every
account, while the account's owner on another address is not.  An IPv6
source counts by its /64, the smallest block one subscriber is given.

Sans-IO: the clock is injected (``IReactorTime``'s ``seconds``), nothing is
scheduled; state is bounded (``max_entries``) and expired entries are swept
as new ones arrive.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Hashable

import attrs


@functools.lru_cache(maxsize=16384)
def source_key(address: str) -> str:
    """The unit of counting for a source address: the address, or its /64 for IPv6 (remembered for the
    addresses seen last: parsing one cost a twentieth of a remembered McuLogin)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network((int(ip) >> 64 << 64, 64)))
    return str(ip)


@attrs.define
class _Window:
    start: float
    count: int = 0


@attrs.define
class FailureThrottle:
    """Failures per source and per (account, source) within ``window`` seconds.

    ``per_address`` failures from one source stop that source; ``per_account``
    failures against one account from one source stop that source for that
    account.  A success clears the (account, source) count, not the source's.
    """

    seconds: Callable[[], float]
    per_address: int = 30
    per_account: int = 5
    window: float = 900.0
    max_entries: int = 100_000
    _windows: dict = attrs.field(factory=dict, init=False)
    refused: int = attrs.field(default=0, init=False)

    def allowed(self, address: str, account: Hashable = None) -> bool:
        """Whether a check from *address* (against *account*) may be tried now."""
        now = self.seconds()
        source = source_key(address)
        ok = (self._count(("a", source), now) < self.per_address
              and (account is None or self._count(("k", account, source), now) < self.per_account))
        if not ok:
            self.refused += 1
        return ok

    def failed(self, address: str, account: Hashable = None) -> None:
        now = self.seconds()
        source = source_key(address)
        self._add(("a", source), now)
        if account is not None:
            self._add(("k", account, source), now)

    def succeeded(self, address: str, account: Hashable = None) -> None:
        if account is not None:
            self._windows.pop(("k", account, source_key(address)), None)

    def retry_after(self, address: str, account: Hashable = None) -> float:
        """Seconds until the source (and account) windows that stop *address* end."""
        now = self.seconds()
        source = source_key(address)
        keys = [("a", source)] + ([("k", account, source)] if account is not None else [])
        ends = [w.start + self.window for k in keys
                if (w := self._windows.get(k)) is not None and w.start + self.window > now]
        return max(0.0, max(ends, default=now) - now)

    def __len__(self) -> int:
        return len(self._windows)

    def _count(self, key: tuple, now: float) -> int:
        w = self._windows.get(key)
        if w is None or now >= w.start + self.window:
            return 0
        return w.count

    def _add(self, key: tuple, now: float) -> None:
        w = self._windows.get(key)
        if w is None or now >= w.start + self.window:
            if w is None and len(self._windows) >= self.max_entries:
                self._sweep(now)
            w = self._windows[key] = _Window(now)
        w.count += 1

    def _sweep(self, now: float) -> None:
        expired = [k for k, w in self._windows.items() if now >= w.start + self.window]
        for k in expired:
            del self._windows[k]
        if len(self._windows) >= self.max_entries:
            # still full of live windows: forget the oldest half rather than grow
            for k, _ in sorted(self._windows.items(), key=lambda kv: kv[1].start)[: self.max_entries // 2]:
                del self._windows[k]
