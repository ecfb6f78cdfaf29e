"""The service tree: the store first, then one listener per interface.

``KandianService`` is the one ``MultiService`` that ``twistd kandian`` runs.
Listeners are ``StreamServerEndpointService`` children added only once the
store is ready (Buildbot's AsyncMultiService idea: nothing accepts a device or
an app before the database can answer it), and a bind failure fails start-up
instead of being merely logged (``_raiseSynchronously``, as ``strports.service``
does).  Stopping closes the listeners first, then the store.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

from .config import Config
from .store.service import StoreService

log = Logger()


class Listener(StreamServerEndpointService):
    """A listener that fails start-up on a bind error and keeps its port."""

    def __init__(self, name: str, description: str, endpoint, factory):
        super().__init__(endpoint, factory)
        self.name = name
        self.description = description
        self._raiseSynchronously = True
        self.port = None

    def startService(self):
        super().startService()
        self._waitingForPort.addCallback(self._bound)

    def whenListening(self) -> defer.Deferred:
        """A new Deferred for the port (``_waitingForPort`` must keep its result:
        ``stopService`` reads it)."""
        d: defer.Deferred = defer.Deferred()

        def fire(result):
            d.callback(result)
            return result
        self._waitingForPort.addBoth(fire)
        return d

    def _bound(self, port):
        self.port = port
        log.info("listener {name} bound on {address} ({description})", name=self.name,
                 address=_address(port), description=self.description)
        return port


def _address(port) -> str:
    host = port.getHost()
    if hasattr(host, "port"):
        return "%s:%d" % (host.host, host.port)
    return str(host)


class Platform:
    """What the interfaces are built from once the store is ready."""

    def __init__(self, config: Config, reactor, db):
        self.config = config
        self.reactor = reactor
        self.db = db


def default_factories() -> dict[str, Callable[[Platform], object]]:
    """Listener name → builder of its protocol factory."""
    from . import unavailable
    from .admin import web as admin_web
    return {
        "device": lambda p: unavailable.close(),
        "register": lambda p: unavailable.http("device registration"),
        "mcu": lambda p: unavailable.http("the MCU web service"),
        "rtsp": lambda p: unavailable.rtsp(),
        "admin": lambda p: admin_web.site(p.db, p.reactor),
        "ftp": lambda p: unavailable.ftp(),
    }


class KandianService(service.MultiService):
    name = "kandian"

    def __init__(self, config: Config, reactor, *, factories=None, exit_on_failure: bool = False):
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.factories = factories if factories is not None else default_factories()
        self.exit_on_failure = exit_on_failure
        self.store = StoreService(config, reactor)
        self.store.setServiceParent(self)
        self.listeners: dict[str, Listener] = {}
        self.platform: Platform | None = None
        self.ready: defer.Deferred | None = None
        self.failure: BaseException | None = None

    def privilegedStartService(self):
        # Nothing binds before the store is ready; see the module docstring.
        pass

    def startService(self):
        service.Service.startService(self)
        self.ready = self._start()
        self.ready.addErrback(self._start_failed)

    @defer.inlineCallbacks
    def _start(self):
        self.store.startService()
        db = yield self.store.ready
        self.platform = Platform(self.config, self.reactor, db)
        for name, description in self.config.listeners().items():
            factory = self.factories[name](self.platform)
            endpoint = serverFromString(self.reactor, description)
            listener = Listener(name, description, endpoint, factory)
            self.listeners[name] = listener
            try:
                listener.setServiceParent(self)
            except Exception as e:
                raise StartupError("[%s] listen = %s: %s" % (name, description, _one_line(e))) from None
            yield listener.whenListening()
        log.info("kandian ready: {listeners}", listeners=", ".join(
            "%s %s" % (name, _address(l.port)) for name, l in self.listeners.items()))
        return self

    def _start_failed(self, failure):
        self.failure = failure.value
        log.critical("start-up failed: {why}", why=_one_line(failure.value))
        if self.exit_on_failure:
            # twistd has no way to set its exit status: leave with 1 once the
            # services (the embedded PostgreSQL among them) have stopped.
            self.reactor.addSystemEventTrigger("after", "shutdown", _exit, 1)
            if self.reactor.running:
                self.reactor.stop()
            else:
                self.reactor.callWhenRunning(self.reactor.stop)
            return None  # reported above, once
        return failure

    @defer.inlineCallbacks
    def stopService(self):
        service.Service.stopService(self)
        for listener in reversed(list(self.listeners.values())):
            if listener.running:
                yield listener.stopService()
        yield self.store.stopService()


class StartupError(Exception):
    pass


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or e.__class__.__name__


def _exit(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
