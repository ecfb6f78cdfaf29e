"""LISTEN on a connection of its own, heard again after an outage.

PostgreSQL sends a ``NOTIFY`` (``pg_notify`` in a trigger) to every session
that LISTENs on its channel, once the notifying transaction commits; this is
how one node learns what another node (or ``psql``) changed.  A
:class:`Listener` keeps one connection outside the pool (a pooled connection
runs queries and is lent around; a listening one must stay idle to be told
anything) and uses the pool's reconnection (:class:`kandian.store.pool.Pool`,
of one connection): while it is down nothing can be heard, so its owner is
told (``on_reset(False)``) and must not trust what it would otherwise have
been told about; once it LISTENs again, ``on_reset(True)``: notifications may
have been missed meanwhile.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import Logger

from .pool import Pool

log = Logger()


class _ListeningPool(Pool):
    """A pool of one connection that tells its listener when the connection goes and comes back."""

    def __init__(self, listener: Listener, *args, **kw):
        super().__init__(*args, **kw)
        self.listener = listener

    def _lost(self, slot, f) -> None:
        super()._lost(slot, f)
        self.listener._down()

    def _back(self, slot) -> None:
        super()._back(slot)
        if not self.closed:
            self.listener._listen()


class Listener:
    """``LISTEN channel`` on a connection to *dsn*: *on_notify(payload)* for each notification, *on_reset(up)*
    when the connection is lost (False) and when it listens again (True, also the first time)."""

    def __init__(self, dsn: str, channel: str, on_notify, on_reset, reactor, *, clock=None, connect_kwargs=None,
                 connect_timeout: float = 10.0):
        if not channel.isidentifier():
            raise ValueError("a channel is an identifier: %r" % (channel,))
        self.channel = channel
        self.on_notify = on_notify
        self.on_reset = on_reset
        self.listening = False
        self.pool = _ListeningPool(self, dsn, 1, reactor, clock=clock, connect_kwargs=connect_kwargs,
                                   connect_timeout=connect_timeout)
        self.pool.slots[0].connection.addNotifyObserver(self._notified)

    def start(self) -> defer.Deferred:
        """Connect and LISTEN; fires when listening (or, if the database is unreachable, once the first attempt
        failed: the pool goes on trying)."""
        d = self.pool.start()

        def failed(f):
            log.info("LISTEN {channel}: cannot connect yet ({why}); retrying", channel=self.channel,
                     why=f.getErrorMessage())
            if not self.pool.closed:
                self.pool._lost(self.pool.slots[0], f)  # the pool's outage handling: reconnect with backoff
        d.addCallbacks(lambda _: self._listen(), failed)
        return d

    def close(self) -> None:
        self.listening = False
        self.pool.close()

    def _listen(self) -> defer.Deferred:
        d = self.pool.run(lambda slot: slot.connection.runOperation("LISTEN " + self.channel))

        def listening(_):
            if not self.pool.closed and self.pool.available:
                self.listening = True
                self.on_reset(True)

        def failed(f):
            # the connection went under it: the pool reconnects and LISTENs again
            log.info("LISTEN {channel} failed ({why})", channel=self.channel, why=f.getErrorMessage())
        return d.addCallbacks(listening, failed)

    def _down(self) -> None:
        was, self.listening = self.listening, False
        if was:
            self.on_reset(False)

    def _notified(self, notify) -> None:
        if notify.channel == self.channel and self.listening:
            self.on_notify(notify.payload)
