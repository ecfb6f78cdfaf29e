"""Sending on a Twisted TCP connection at once (docs/benchmarks.md: "RTSP relay", "FTP uploads").

Twisted's ``transport.write`` only queues: the bytes go out when the reactor
next finds the socket writable, so every write costs a watch for writability
switched on and off (two ``epoll_ctl`` calls) and a turn of the reactor
besides its ``send``.  :func:`send_now` sends straight to the socket while
nothing waits in the transport's buffer; what the socket does not take, and
everything while something waits, goes through ``write`` in order, with
Twisted's back-pressure.  A connection error is left for the transport's own
send to find (and end the connection as it always does).  The RTSP relay's
media, the FTP control connection's replies and the device link's frames go
this way.
"""

from __future__ import annotations

from twisted.internet import tcp

_BUFFERS = ("dataBuffer", "_tempDataLen", "socket")


def no_delay(transport) -> None:
    """``TCP_NODELAY`` on *transport* when it has the option (a test's transport has not): a small frame
    written while the one before it is unacknowledged goes out at once, instead of waiting under Nagle's
    algorithm for the peer's delayed ACK (40 ms on Linux).  For links of small frames that answer each
    other: the device link, both ends."""
    set_option = getattr(transport, "setTcpNoDelay", None)
    if set_option is not None:
        set_option(True)


def direct_socket(transport):
    """The socket :func:`send_now` may send on for *transport*: a plain TCP
    connection with this Twisted's buffer attributes (another Twisted, a TLS
    or any other transport: None, and every write goes through ``write``)."""
    if isinstance(transport, tcp.Connection) and not transport.TLS and \
            all(hasattr(transport, name) for name in _BUFFERS):
        return transport.socket
    return None


def send_now(transport, sock, data: bytes) -> None:
    """``transport.write(data)``, sent at once on *sock* (from :func:`direct_socket`, or None) while nothing
    waits to be sent."""
    if sock is not None and not transport.dataBuffer and not transport._tempDataLen and transport.connected \
            and not transport.disconnecting and not transport.TLS:
        try:
            sent = sock.send(data)
        except OSError:  # EAGAIN, or the connection failed: write() buffers it, Twisted's next send finds why
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)
