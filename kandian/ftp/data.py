"""FTP data connections, passive only (RFC 959 PASV, RFC 2428 EPSV).

:class:`PassivePorts` hands out the configured ``[ftp] passive_ports`` to the
sessions of one listener.  A port is held only from PASV/EPSV until the
client's data connection arrives (then the port goes back, kept listening
for the next PASV, refusing connections meanwhile), so the range bounds the
data connections being *set up*, not those in progress; when every port is
held a PASV waits for one, up to the data timeout, then gets 425.

:class:`PassiveFactory` accepts one connection, and only from the control
connection's own address (no "PASV theft" by a third party), within the data
timeout.  :class:`DataChannel` is the connection: an upload's bytes go to a
sink (``receive``) and its end is clean only on an orderly close (a reset, an
abort, or no byte for the data timeout is :class:`~.results.TransferAborted`);
bytes that arrive before a sink is given are held by pausing the socket, not
buffered without bound.
"""

from __future__ import annotations

import collections
import ipaddress

from twisted.internet import defer, error, protocol
from twisted.protocols import ftp, policies
from twisted.python import failure

from .results import NoPassivePort, TransferAborted


def same_host(a: str, b: str) -> bool:
    """Whether two socket addresses are one host (an IPv4-mapped IPv6 address is its IPv4 one)."""
    if a == b:  # the data connection from the control connection's address, as written: no parsing
        return True

    def norm(host: str) -> str:
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return host
        if ip.version == 6 and ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ip)
    return norm(a) == norm(b)


class PassivePorts:
    """*ports*: a range of port numbers, or None for "whatever the OS gives" (port 0).

    :meth:`listen` hands out a :class:`Listening` port to one session's
    PASV/EPSV until it is released (:meth:`Listening.release`: its data connection
    came, or the session moved on).  A released port stays open, listening for nobody
    (a connection to it is refused at once), and is the next one handed out
    on its local address: a transfer costs no socket, ``bind``, ``listen``
    and close, and none of Twisted's two log lines for a port opened and
    closed.  With no range, at most *keep* idle ports are kept per address."""

    def __init__(self, reactor, ports: range | None, wait: float, keep: int = 256):
        self.reactor = reactor
        self.wait = wait
        self.keep = keep
        self.free: collections.deque[int] | None = collections.deque(ports) if ports else None
        self.held: set[int] = set()  # port numbers open (handed out, idle, or closing)
        self.idle: dict[str, list[Listening]] = {}  # local address → open ports nobody holds
        self._waiting: collections.deque = collections.deque()
        self.closed = False
        self.waited = 0  # PASVs that found every port held (a metric)
        self.exhausted = 0  # …and got none within the wait
        self.opened = 0  # ports opened (for the benchmark: each transfer had one before they were kept)

    def listen(self, factory, interface: str = "") -> defer.Deferred:
        """A Deferred of a :class:`Listening` port for *factory*; fails with NoPassivePort."""
        port = self._take(factory, interface)
        if port is not None:
            return defer.succeed(port)
        self.waited += 1
        d: defer.Deferred = defer.Deferred(lambda d: self._forget(entry))
        timer = self.reactor.callLater(self.wait, self._give_up, d)
        entry = (factory, interface, d, timer)
        self._waiting.append(entry)
        self._close_an_idle_port()
        return d

    def close(self) -> None:
        """The listener stops: its idle ports close, and every port handed out closes once released."""
        self.closed = True
        for ports in self.idle.values():
            for port in ports:
                self._stop(port)
        self.idle.clear()

    def _take(self, factory, interface):
        idle = self.idle.get(interface)
        port = idle.pop() if idle else self._open(interface)
        if port is not None:
            port.holder = factory
        return port

    def _open(self, interface):
        port = Listening(self, interface)
        self.opened += 1
        if self.free is None:
            port.listening = self.reactor.listenTCP(0, port, interface=interface)
            port.number = port.listening.getHost().port
            return port
        for _ in range(len(self.free)):
            number = self.free.popleft()
            try:
                port.listening = self.reactor.listenTCP(number, port, interface=interface)
            except error.CannotListenError:
                self.free.append(number)  # another process has it now: try it last next time
                continue
            self.held.add(number)
            port.number = number
            return port
        return None

    def release(self, port: Listening) -> None:
        port.holder = None
        if self.closed:
            self._stop(port)
            return
        for entry in self._waiting:
            if entry[1] == port.interface:  # a PASV waiting for a port on this address takes it at once
                self._waiting.remove(entry)
                factory, _, d, timer = entry
                timer.cancel()
                port.holder = factory
                d.callback(port)
                return
        idle = self.idle.setdefault(port.interface, [])
        if self.free is None and len(idle) >= self.keep:
            self._stop(port)
            return
        idle.append(port)
        self._close_an_idle_port()

    def _close_an_idle_port(self) -> None:
        """A PASV waits on an address no idle port is on: close an idle one of
        another address so that its number can be bound there."""
        if self.free is None or not self._waiting or self.free:
            return
        for interface, ports in self.idle.items():
            if ports and all(entry[1] != interface for entry in self._waiting):
                self._stop(ports.pop())
                return

    def _stop(self, port: Listening) -> None:
        d = defer.maybeDeferred(port.listening.stopListening)
        d.addBoth(lambda _: self._stopped(port.number))

    def _stopped(self, number: int) -> None:
        if self.free is None or number not in self.held:
            return
        self.held.discard(number)
        self.free.appendleft(number)
        while self._waiting:
            factory, interface, d, timer = self._waiting[0]
            got = self._take(factory, interface)
            if got is None:
                return
            self._waiting.popleft()
            timer.cancel()
            d.callback(got)

    def _give_up(self, d):
        self._forget(next(e for e in self._waiting if e[2] is d))
        self.exhausted += 1
        d.errback(NoPassivePort())

    def _forget(self, entry):
        if entry in self._waiting:
            self._waiting.remove(entry)
            if entry[3].active():
                entry[3].cancel()


class Listening(protocol.ServerFactory):
    """One open passive port of :class:`PassivePorts` (*number* on the local
    address *interface*): a connection to it goes to the factory of the
    session that holds it, and is refused while nobody does."""

    noisy = False

    def __init__(self, ports: PassivePorts, interface: str):
        self.ports = ports
        self.interface = interface
        self.holder = None  # the PassiveFactory of the session holding it
        self.listening = None  # Twisted's listening port
        self.number = 0

    def buildProtocol(self, addr):
        holder = self.holder
        return holder.buildProtocol(addr) if holder is not None else None

    def release(self) -> None:
        """Given back: its connection came, or is no longer wanted."""
        if self.holder is not None:
            self.ports.release(self)


class PassiveFactory(protocol.ServerFactory):
    """One data connection from *peer_host* within *timeout* seconds of :meth:`start`:
    ``deferred`` fires with its :class:`DataChannel`, or fails with TransferAborted."""

    noisy = False

    def __init__(self, peer_host: str, clock, timeout: float, idle_timeout: float, on_foreign=lambda: None):
        self.peer_host = peer_host
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.on_foreign = on_foreign
        self.timeout = timeout
        self.deferred: defer.Deferred = defer.Deferred()
        self.done = False
        self._timer = None

    def start(self) -> None:
        """Listening now: the connection has ``timeout`` seconds to come."""
        if not self.done:
            self._timer = self.clock.callLater(self.timeout, self._timed_out)

    def buildProtocol(self, addr):
        if self.done:
            return None
        if not same_host(getattr(addr, "host", ""), self.peer_host):
            self.on_foreign()
            return None
        self.done = True
        self._cancel_timer()
        channel = DataChannel(self.clock, self.idle_timeout)
        channel.factory = self
        return channel

    def cancel(self) -> None:
        """The session moved on (another PASV, the end): no connection is wanted any more."""
        self._cancel_timer()
        if not self.done:
            self.done = True
            self.deferred.errback(TransferAborted("no data connection"))

    def _timed_out(self):
        self._timer = None
        if not self.done:
            self.done = True
            self.deferred.errback(TransferAborted("no data connection within the data timeout"))

    def _cancel_timer(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


class DataChannel(ftp.DTP, policies.TimeoutMixin):
    """One passive data connection (the protocol interpreter's ``dtpInstance``)."""

    def __init__(self, clock, idle_timeout: float):
        self.callLater = clock.callLater  # TimeoutMixin's timer on the injected clock
        self.idle_timeout = idle_timeout
        self.received = 0
        self.sent = 0
        self.timed_out = False
        self._sink = None
        self._discarding = False  # a sink refused: what still arrives goes nowhere
        self._done: defer.Deferred | None = None
        self._end: failure.Failure | None = None  # how it ended, once it has
        self._closed: list[defer.Deferred] = []

    def connectionMade(self):
        self.isConnected = True
        self._buffer = []
        self.setTimeout(self.idle_timeout)
        self.factory.deferred.callback(self)

    # -- upload: bytes to a sink

    def dataReceived(self, data):
        self.resetTimeout()
        self.received += len(data)
        if self._discarding:
            return
        if self._sink is None:
            # no STOR yet: hold this chunk and stop reading until one comes
            self._buffer.append(data)
            self.transport.pauseProducing()
            return
        try:
            self._sink.write(data)
        except Exception:
            self._fail(failure.Failure())

    def receive(self, sink) -> defer.Deferred:
        """Write what arrives to *sink* (its ``write`` may raise to stop the
        transfer); fires at a clean end, fails with TransferAborted or the
        sink's error (the connection is then aborted)."""
        self._sink = sink
        self._done = d = defer.Deferred()
        held, self._buffer = self._buffer, []
        try:
            for chunk in held:
                sink.write(chunk)
        except Exception:
            self._fail(failure.Failure())
            return d
        if self._end is not None:
            self._finish(self._end)
        else:
            self.transport.resumeProducing()
        return d

    def _fail(self, why: failure.Failure) -> None:
        d, self._done = self._done, None
        self._sink = None
        self._discarding = True
        if self.transport is not None and self.isConnected:
            self.transport.abortConnection()
        if d is not None:
            d.errback(why)

    # -- download: the FileSender writes through this consumer

    def write(self, data):
        self.resetTimeout()
        self.sent += len(data)
        self.transport.write(data)

    def registerProducer(self, producer, streaming):
        self.transport.registerProducer(producer, streaming)

    @property
    def ended(self) -> bool:
        return self._end is not None

    def when_closed(self) -> defer.Deferred:
        """Fires once the connection is closed: True for an orderly close after
        everything written was sent, False otherwise."""
        if self._end is not None:
            return defer.succeed(self._clean(self._end))
        d: defer.Deferred = defer.Deferred()
        self._closed.append(d)
        return d

    # -- the end

    def timeoutConnection(self):
        self.timed_out = True
        self.transport.abortConnection()

    def connectionLost(self, reason):
        self.isConnected = False
        self.setTimeout(None)
        self._end = reason
        if self._done is not None:
            self._finish(reason)
        closed, self._closed = self._closed, []
        for d in closed:
            d.callback(self._clean(reason))

    def _clean(self, reason) -> bool:
        return not self.timed_out and reason.check(error.ConnectionDone) is not None

    def _finish(self, reason) -> None:
        d, self._done = self._done, None
        self._sink = None
        if self._clean(reason):
            d.callback(None)
        else:
            why = "idle for the data timeout" if self.timed_out else reason.getErrorMessage()
            d.errback(TransferAborted(why))
