"""The province's client of the group platform (§6.1–§6.5) over HTTP, on the reactor.

:class:`GroupClient` POSTs one request document (:mod:`.messages`) to
``[group] url`` with ``Content-Type: text/xml;charset=UTF-8`` and reads the
answer: an HTTP status other than 200, an answer over :data:`MAX_ANSWER`
bytes, one that is not the request's ``*_RES``, a refused connection or no
whole answer within ``timeout`` seconds (connecting included) is
:class:`~kandian.core.errors.GroupUnavailable`; a Result is turned into the
core's errors by :mod:`.results`.  ``https:`` URLs are verified against the
system's CAs (Twisted's ``BrowserLikePolicyForHTTPS``).  The CmsPassword
travels in every request (§6) and is never logged.

:class:`NoGroupPlatform` stands in when ``[group] url`` is empty: AddDevice
of an unknown device is §6.5's Result 3 ("power it on first"), and nothing
else is ever sent.
"""

from __future__ import annotations

import collections
from typing import Any

from twisted.internet import defer, protocol
from twisted.logger import Logger
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from ..core.clients import ClientReleases, Release
from ..core.errors import GroupUnavailable, UnknownToGroup
from ..core.interfaces import IGroupPlatform
from ..logs import peer_text
from . import messages as m
from .results import error_for

log = Logger()

CONTENT_TYPE = b"text/xml;charset=UTF-8"
MAX_ANSWER = 64 * 1024
CMS_VER = "1.0"  # §6.1: "目前为 1.0"


@implementer(IBodyProducer)
class _Body:
    """A request body already in memory."""

    def __init__(self, data: bytes):
        self.data = data
        self.length = len(data)

    def startProducing(self, consumer):
        consumer.write(self.data)
        return defer.succeed(None)

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


class _TooLarge(Exception):
    pass


class _BoundedReader(protocol.Protocol):
    """Collects a response body up to *limit* bytes; more aborts the connection."""

    def __init__(self, limit: int):
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self.done: defer.Deferred = defer.Deferred(lambda _: self._abort())

    def _abort(self):
        if self.transport is not None:
            self.transport.stopProducing()

    def dataReceived(self, data: bytes):
        if self.done.called:
            return
        self.size += len(data)
        if self.size > self.limit:
            self.done.errback(_TooLarge())
            self._abort()
            return
        self.parts.append(data)

    def connectionLost(self, reason):
        if self.done.called:
            return
        if reason.check(ResponseDone):
            self.done.callback(b"".join(self.parts))
        else:
            self.done.errback(reason)


class GroupStats:
    """Counters for ``/metrics``: exchanges by root element and outcome
    (a Result, or ``unavailable`` when there was no usable answer)."""

    def __init__(self):
        self.exchanges: collections.Counter = collections.Counter()


@implementer(IGroupPlatform)
class GroupClient:
    configured = True

    def __init__(self, reactor, url: str, *, province_no: str, cms_no: str, cms_password: str,
                 timeout: float = 10.0, stats: GroupStats | None = None, agent=None, clock=None):
        """*reactor* connects; *clock* runs the timeout (the reactor by default, not a domain clock)."""
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.url = url
        self.province_no = province_no
        self.cms_no = cms_no
        self._password = cms_password
        self.timeout = timeout
        self.stats = stats if stats is not None else GroupStats()
        if agent is None:
            # a few exchanges an hour: no connection is kept between them
            agent = Agent(reactor, connectTimeout=timeout, pool=HTTPConnectionPool(reactor, persistent=False))
        self.agent = agent

    def _who(self) -> dict[str, str]:
        return dict(ProvinceNo=self.province_no, CmsNo=self.cms_no, CmsPassword=self._password)

    @defer.inlineCallbacks
    def exchange(self, request: m.ProvinceRequest):
        """POST *request*; its ``*_RES``, whatever its Result.  GroupUnavailable otherwise."""
        expected = m.RESPONSE_OF[type(request)]
        d = self._post(request.to_xml())
        # not addTimeout: the agent fails a cancelled request with its own error, not CancelledError
        timed_out: list[bool] = []
        timer = self.clock.callLater(self.timeout, lambda: (timed_out.append(True), d.cancel()))
        try:
            code, body = yield d
        except _TooLarge:
            raise self._unavailable(request, "an answer over %d bytes" % MAX_ANSWER) from None
        except Exception as e:
            raise self._unavailable(request, "no answer within %g s" % self.timeout if timed_out
                                    else _one_line(e)) from None
        finally:
            if timer.active():
                timer.cancel()
        if code != 200:
            raise self._unavailable(request, "HTTP %d: %s" % (code, peer_text(body.strip(), 120)))
        try:
            answer = m.decode(body, [expected])
        except m.MessageError as e:
            raise self._unavailable(request, "not a %s: %s" % (expected.ROOT, peer_text(str(e), 160))) from None
        self.stats.exchanges[(request.ROOT, str(answer.Result))] += 1
        return answer

    def _unavailable(self, request, why: str) -> GroupUnavailable:
        self.stats.exchanges[(request.ROOT, "unavailable")] += 1
        return GroupUnavailable("%s to %s: %s" % (request.ROOT, self.url, why))

    @defer.inlineCallbacks
    def _post(self, data: bytes):
        response = yield self.agent.request(b"POST", self.url.encode("ascii"),
                                            Headers({b"Content-Type": [CONTENT_TYPE]}), _Body(data))
        reader = _BoundedReader(MAX_ANSWER)
        response.deliverBody(reader)
        body = yield reader.done
        return response.code, body

    @defer.inlineCallbacks
    def _ask(self, request: m.ProvinceRequest, what: str):
        answer = yield self.exchange(request)
        error = error_for(answer, what)
        if error is not None:
            raise error
        return answer

    # -- IGroupPlatform

    @defer.inlineCallbacks
    def device_usage(self, dev_id: str, dev_key: str):
        yield self._ask(m.DeviceUseRequest(**self._who(), DevID=dev_id, DevKey=dev_key), "device %s" % dev_id)

    @defer.inlineCallbacks
    def address_report(self, mcu_url: str, dev_url: str):
        answer = yield self._ask(m.AddressReportRequest(**self._who(), CmsVer=CMS_VER, McuUrl=mcu_url,
                                                        DevUrl=dev_url), "the address report")
        return releases_of(answer)

    @defer.inlineCallbacks
    def user_open(self, mobile: str, ipcam_num: int):
        yield self._ask(m.UserOpenRequest(**self._who(), MobileTel=mobile, IpcamNum=ipcam_num), "user %s" % mobile)

    @defer.inlineCallbacks
    def user_change(self, mobile: str, ipcam_num: int):
        yield self._ask(m.UserChangeRequest(**self._who(), MobileTel=mobile, IpcamNum=ipcam_num),
                        "user %s" % mobile)

    @defer.inlineCallbacks
    def user_cancel(self, mobile: str):
        yield self._ask(m.UserCancelRequest(**self._who(), MobileTel=mobile), "user %s" % mobile)


def releases_of(answer: m.AddressReportResponse) -> ClientReleases:
    """The clients an ADDRESS_REPORT_RES names (a platform without both URL and version: none)."""

    def release(url: str | None, version: str | None) -> Release | None:
        return Release(version, url) if url and version else None

    return ClientReleases(android=release(answer.McuAndroidUrl, answer.McuAndroidVer),
                          ios=release(answer.McuIosUrl, answer.McuIosVer),
                          windows=release(answer.McuWinUrl, answer.McuWinVer))


@implementer(IGroupPlatform)
class NoGroupPlatform:
    """``[group] url`` is empty: the province is on its own."""

    configured = False

    def device_usage(self, dev_id: str, dev_key: str) -> defer.Deferred:
        return defer.fail(UnknownToGroup("no group platform to ask about %s" % (dev_id,), 3))

    def _none(self, *args: Any) -> defer.Deferred:
        return defer.fail(GroupUnavailable("no group platform configured ([group] url)"))

    address_report = user_open = user_change = user_cancel = _none


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    if type(e).__name__ in ("ResponseNeverReceived", "RequestTransmissionFailed") and getattr(e, "reasons", None):
        text = "; ".join(_one_line(r.value) for r in e.reasons)
    return text or type(e).__name__
