"""The FTP server devices upload pictures and logs to and fetch firmware from
(§7.2, §7.5.17, §7.5.27, §7.5.35; PRODUCT.md "FTP").

Twisted's ``twisted.protocols.ftp`` on the reactor, over kandian's own
``twisted.cred`` pair (:mod:`.realm`: a checker over
:meth:`kandian.core.files.Files.login` and a realm of per-device shells),
a device's view of its tree (:mod:`.paths`, :mod:`.shell`), passive data
connections on ``[ftp] passive_ports`` (:mod:`.data`) and the one table of
replies (:mod:`.results`).  :func:`factory` builds the listener's factory;
docs/device-protocol.md says what a camera may do, docs/operations.md how to
run it.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.cred import portal as cred_portal

from .data import PassivePorts
from .realm import DeviceChecker, DeviceRealm
from .server import FtpFactory, FtpStats

__all__ = ["factory", "FtpFactory", "FtpStats"]


def factory(files, layout, *, reactor, clock, timezone, public_host: str, passive_ports: range | None,
            idle_timeout: float, data_timeout: float, max_sessions: int, fsync: bool = True,
            stats: FtpStats | None = None, threads: bool = True, firmware_for: Callable,
            firmware_downloaded: Callable, log_stored: Callable) -> FtpFactory:
    """The FTP listener's factory over the core's *files* and *layout*.

    Connection timeouts run on *reactor*; *clock* dates listings.  The
    landing of uploads (write, fsync, rename) runs in the landing threads and
    comes back through *reactor*'s ``callFromThread``; with *threads* false
    (tests on a memory reactor) it runs inline.  The three hooks are the
    firmware slice's (:mod:`.realm`)."""
    if threads:
        landing = {"call_from_thread": reactor.callFromThread}
    else:
        landing = {"call_from_thread": _call, "submit": _call}
    realm = DeviceRealm(files, layout, clock, timezone, max_sessions=max_sessions, fsync=fsync,
                        firmware_for=firmware_for, firmware_downloaded=firmware_downloaded, log_stored=log_stored,
                        **landing)
    portal = cred_portal.Portal(realm, [DeviceChecker(files)])
    ports = PassivePorts(reactor, passive_ports, wait=data_timeout)
    return FtpFactory(portal, reactor, ports, public_host=public_host, idle_timeout=idle_timeout,
                      data_timeout=data_timeout, stats=stats, realm=realm)


def _call(f: Callable, *args) -> None:
    f(*args)
