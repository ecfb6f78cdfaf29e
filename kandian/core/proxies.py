"""Stream proxy channels: virtual devices fed by an external RTSP URL (issue 16; PRODUCT.md "Media").

``kandianctl channel add-proxy --url rtsp://… --name N`` (and ``POST
/api/v1/proxies``) make one (:meth:`Proxies.add`): a device whose one
channel, ChannelNo 0 StreamType 1, is the URL's stream.  It plays through
the RTSP relay, live HLS and recording like a camera: the relay fetches the
URL itself (:meth:`Proxies.source`, asked by
:meth:`kandian.core.play.Play.authorize_relay`), and the device is *online*
while the source answers an RTSP OPTIONS (checked every ``interval``
seconds by the injected *check*, recorded in the device row).

No server-side request forgery: the URL's host must be an IP literal (a
name is never resolved) inside ``[media] proxy_allow`` (empty: loopback
only), checked when the proxy is added *and* each time the relay dials it.
Credentials in the URL are refused (the relay does not answer RTSP
authentication challenges).  :class:`WithProxies` is the device router the
rest of the core sees: a camera's link, or a proxy's answering source,
makes a device online.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

from twisted.internet import defer, task
from twisted.logger import Logger
from zope.interface import implementer

from ..dialpolicy import ip_literal
from .access import require_operator
from .errors import BadValue, DeviceRefused
from .interfaces import IDeviceRouter

log = Logger()

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
MAX_URL = 1000
MAX_NAME = 64


def parse_source(url: str) -> tuple[str, int]:
    """(host, port) of an ``rtsp://IP[:port]/…`` URL; BadValue saying what is wrong otherwise."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or not url.isascii() or any(
            c.isspace() or ord(c) < 32 for c in url):
        raise BadValue("the URL must be ASCII, without spaces, at most %d characters" % MAX_URL)
    try:
        parts = urlsplit(url)
        port = parts.port or 554
    except ValueError:
        raise BadValue("not a URL: %s" % (url[:80],)) from None
    if parts.scheme != "rtsp":
        raise BadValue("only rtsp:// URLs can feed a stream proxy")
    if parts.username is not None or parts.password is not None:
        raise BadValue("credentials in the URL are not supported")
    host = parts.hostname or ""
    if ip_literal(host) is None:
        raise BadValue("the URL's host must be an IP address (names are not resolved)")
    return host, port


class Proxies:
    def __init__(self, store, clock, *, allow=(), check: Callable[[str, int, str], defer.Deferred] | None = None,
                 interval: float = 30.0):
        """*allow*: the networks of ``[media] proxy_allow`` (empty: loopback);
        *check(host, port, url)*: a Deferred of whether the source answers."""
        self.store = store
        self.clock = clock
        self.allow = tuple(allow) or LOOPBACK
        self.check = check
        self.interval = interval
        self.urls: dict[str, str] = {}  # DevID → source URL, of every proxy
        self.answering: set[str] = set()  # DevIDs whose source answered the last check
        self.checks = 0
        self._loop = task.LoopingCall(self.check_all)
        self._loop.clock = clock

    def allowed(self, host: str) -> bool:
        address = ip_literal(host)
        return address is not None and any(
            address.version == network.version and address in network for network in self.allow)

    def validate(self, url: str) -> tuple[str, int]:
        host, port = parse_source(url)
        if not self.allowed(host):
            raise BadValue("the URL's host %s is not in [media] proxy_allow" % (host,))
        return host, port

    @defer.inlineCallbacks
    def add(self, url: str, name: str, principal=None):
        """A new stream proxy's DevID; BadValue for a URL or name not taken,
        Forbidden for a *principal* (the portal's) who is not an admin operator."""
        if principal is not None:
            require_operator(principal, write=True)
        url = url.strip() if isinstance(url, str) else url
        self.validate(url)
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or not name.isprintable():
            raise BadValue("the name must be 1..%d printable characters" % MAX_NAME)
        dev_id = yield self.store.proxies.add(url, name.strip())
        self.urls[dev_id] = url
        log.info("stream proxy {dev_id} added ({name})", dev_id=dev_id, name=name.strip())
        if self._loop.running:
            yield self._check_one(dev_id, url)
        return dev_id

    @defer.inlineCallbacks
    def set_url(self, dev_id: str, url: str, principal=None):
        """Feed the proxy *dev_id* from *url* from now on (the next stream pulled; the
        check says whether it answers); BadValue for a URL not allowed or a device that is no proxy."""
        if principal is not None:
            require_operator(principal, write=True)
        url = url.strip() if isinstance(url, str) else url
        self.validate(url)
        changed = yield self.store.proxies.set_url(dev_id, url)
        if not changed:
            raise BadValue("%s is not a stream proxy" % (dev_id,))
        self.urls[dev_id] = url
        log.info("stream proxy {dev_id}: new source", dev_id=dev_id)
        if self._loop.running:
            yield self._check_one(dev_id, url)

    def list(self, principal=None) -> defer.Deferred:
        """Every stream proxy (Forbidden for a *principal* who is not an operator)."""
        if principal is not None:
            try:
                require_operator(principal)
            except Exception as e:
                return defer.fail(e)
        return self.store.proxies.list()

    def is_proxy(self, dev_id: str) -> bool:
        return dev_id in self.urls

    def online(self, dev_id: str) -> bool:
        return dev_id in self.answering

    def source(self, url: str) -> tuple[str, int] | None:
        """Where the relay may dial for a proxy's *url*: (host, port), or None when the policy forbids it now."""
        try:
            return self.validate(url)
        except BadValue:
            return None

    # -- "online while its source answers"

    @defer.inlineCallbacks
    def start(self):
        proxies = yield self.store.proxies.list()
        self.urls = {p.dev_id: p.url for p in proxies}
        if self.check is not None:
            self._loop.start(self.interval, now=True)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    @defer.inlineCallbacks
    def check_all(self):
        proxies = yield self.store.proxies.list()
        self.urls = {p.dev_id: p.url for p in proxies}
        for gone in self.answering - set(self.urls):
            self.answering.discard(gone)
        yield defer.DeferredList([self._check_one(p.dev_id, p.url, p.online) for p in proxies])

    @defer.inlineCallbacks
    def _check_one(self, dev_id: str, url: str, recorded: bool | None = None):
        self.checks += 1
        source = self.source(url)
        answers = False
        if source is not None:
            try:
                answers = bool((yield self.check(source[0], source[1], url)))
            except Exception:
                answers = False
        was = dev_id in self.answering
        (self.answering.add if answers else self.answering.discard)(dev_id)
        if answers != was:
            log.info("stream proxy {dev_id}: source {state}", dev_id=dev_id,
                     state="answers: online" if answers else "does not answer: offline")
        if answers != was or answers != recorded:
            try:
                yield self.store.proxies.set_online(dev_id, answers, self.clock.seconds())
            except Exception:
                log.failure("stream proxy {dev_id}: could not record its state", dev_id=dev_id)


@implementer(IDeviceRouter)
class WithProxies:
    """A device router that also knows stream proxies: online while their source answers, no commands."""

    def __init__(self, router, proxies: Proxies):
        self.router = router
        self.proxies = proxies

    def online(self, dev_id):
        return self.router.online(dev_id) or self.proxies.online(dev_id)

    def peer_ip(self, dev_id):
        return self.router.peer_ip(dev_id)

    def call(self, dev_id, request):
        if self.proxies.is_proxy(dev_id):
            return defer.fail(DeviceRefused("%s is a stream proxy: it takes no commands" % (dev_id,)))
        return self.router.call(dev_id, request)

    def attach(self, dev_id, link):
        return self.router.attach(dev_id, link)

    def detach(self, link):
        return self.router.detach(link)
