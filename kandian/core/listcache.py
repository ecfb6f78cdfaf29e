"""A node's cache of the device list's pages, kept right across nodes by PostgreSQL's notifications.

Portal pages and scripts poll ``GET /api/v1/devices``; an exact page of 50 of
20,000 devices costs PostgreSQL a few milliseconds (its ``count(*)`` scans the
device table), which a poll a second from each open page soon adds up to.  The
store's triggers ``NOTIFY kandian_fleet`` at the commit of any change a page
shows or selects by (migration 0013: a device's name, type, model,
manufacturer, firmware; devices, channels, bindings, owners' mobiles,
manufacturers added or removed) and every node LISTENs
(:class:`kandian.store.listen.Listener`), so a node drops its pages when
*any* node, ``kandianctl`` or ``psql`` changed the list.  What changes on every
login and heartbeat (online, last_seen_at) does not notify: a page may show it
up to *ttl* seconds old, which bounds every entry's life; ``online`` itself is
patched per request from the router, so it is never old for the devices this
node serves.

Correctness rules:

* entries are used only while the listening connection LISTENs: when it is lost
  the cache is emptied and bypassed, and emptied again once it listens anew
  (notifications may have been missed in between);
* a query that began before a notification is not stored (its snapshot may
  predate the change): each notification starts a new *generation*;
* identical misses share one query, but a request that arrives after a
  notification never joins a query begun before it;
* at most *size* entries, the least recently used dropped first.
"""

from __future__ import annotations

import collections

from twisted.internet import defer
from twisted.python.failure import Failure


class ListCache:
    def __init__(self, clock, ttl: float = 1.0, size: int = 512):
        """*clock*: an IReactorTime; *ttl*: seconds an entry is used at most (0: no caching); *size*: entries."""
        self.clock = clock
        self.ttl = ttl
        self.size = size
        self.enabled = False  # only while the store's notifications can be heard
        self.generation = 0
        self._entries: collections.OrderedDict = collections.OrderedDict()  # key → (expires, value)
        self._running: dict = {}  # key → [Deferred] of the requests waiting for the query under way
        self.hits = 0
        self.misses = 0
        self.drops = 0  # notifications and resets heard
        self.last_notice = None  # the payload of the last notification heard

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key, compute) -> defer.Deferred:
        """The value of *key*: cached if fresh, else ``compute()``'s (a Deferred), shared by identical misses."""
        if not self.enabled or self.ttl <= 0:
            return defer.maybeDeferred(compute)
        now = self.clock.seconds()
        entry = self._entries.get(key)
        if entry is not None:
            if entry[0] > now:
                self._entries.move_to_end(key)
                self.hits += 1
                return defer.succeed(entry[1])
            del self._entries[key]
        waiting = self._running.get(key)
        if waiting is not None:
            self.hits += 1
            d: defer.Deferred = defer.Deferred()
            waiting.append(d)
            return d
        self.misses += 1
        waiting = self._running[key] = []
        generation = self.generation

        def done(result):
            if self._running.get(key) is waiting:
                del self._running[key]
            if not isinstance(result, Failure) and generation == self.generation and self.enabled:
                # its age counts from the query's start: the data may be that old
                self._entries[key] = (now + self.ttl, result)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            for d in waiting:
                if isinstance(result, Failure):
                    d.errback(result)
                else:
                    d.callback(result)
            return result

        return defer.maybeDeferred(compute).addBoth(done)

    def changed(self, _payload=None) -> None:
        """A notification: what any entry holds may be old now."""
        self.generation += 1
        self.drops += 1
        self.last_notice = _payload
        self._entries.clear()
        self._running.clear()  # the queries under way still answer those waiting for them, but no one else

    def reset(self, listening: bool) -> None:
        """The listening connection was lost (False) or listens again (True)."""
        self.enabled = listening
        self.changed(None)
