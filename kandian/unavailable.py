"""Placeholder answer for a listener whose interface has not been built yet.

A listener that is configured is always bound (PRODUCT.md: the daemon binds
the default ports), and a peer that connects gets its protocol's "service
unavailable" rather than silence.  Only the FTP listener (§7.5.17, §7.5.27,
§7.5.35) still uses it: FTP's 421 (RFC 959) and the connection closed.
"""

from __future__ import annotations

from twisted.internet import protocol


class _FTPUnavailable(protocol.Protocol):
    def connectionMade(self):
        self.transport.write(b"421 Service not available, closing control connection.\r\n")
        self.transport.loseConnection()


class _Factory(protocol.Factory):
    protocol = _FTPUnavailable
    noisy = False


def ftp() -> protocol.Factory:
    return _Factory()
