"""The device side of the group platform's redirect (spec §5 终端设备与集团平台协议, §6.6).

:func:`redirect` POSTs a REDIRECT_REQ built from a
:class:`~kandian.sim.state.DeviceState` (``Content-Type:
text/xml;charset=UTF-8``) and reads the answer into a
:class:`RedirectResult`: ``ok`` (HTTP 200, Result 0) with ``LcmsUrl``, the
province's registration address (§7.2), or the HTTP status and Result
that refused it (§6.6 step 3: 401 until a province claimed the device).
An answer without a REDIRECT_RES body is a result too (``response`` None):
a device reads the status first.  No answer fails the Deferred.
"""

from __future__ import annotations

from typing import Any

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent

from kandian.group.messages import MessageError, RedirectRequest, RedirectResponse, decode
from kandian.sim.register import CONTENT_TYPE, _Body
from kandian.sim.state import DeviceState

__all__ = ["RedirectResult", "redirect_request", "redirect"]


@attrs.frozen
class RedirectResult:
    code: int
    response: RedirectResponse | None

    @property
    def ok(self) -> bool:
        return self.code == 200 and self.response is not None and self.response.Result == 0 \
            and bool(self.response.LcmsUrl)

    @property
    def register_url(self) -> str | None:
        """Where to register (§7.2): the province's DevUrl."""
        return self.response.LcmsUrl if self.ok and self.response is not None else None


def redirect_request(state: DeviceState) -> RedirectRequest:
    """REDIRECT_REQ for *state* (§5)."""
    return RedirectRequest(ManufacturerNo=state.manufacturer_no, Mode=state.model, DevType=state.dev_type,
                           DevID=state.dev_id, DevKey=state.dev_key)


def redirect(agent_or_reactor: Any, url: str, state: DeviceState, *, timeout: float | None = None,
             clock: IReactorTime | None = None) -> Deferred[RedirectResult]:
    """POST REDIRECT_REQ for *state* to the group platform's *url*; fires with a :class:`RedirectResult`."""
    if IAgent.providedBy(agent_or_reactor):
        agent = agent_or_reactor
    else:
        agent = Agent(agent_or_reactor)
        clock = agent_or_reactor if clock is None else clock
    d = agent.request(b"POST", url.encode("ascii"), Headers({b"Content-Type": [CONTENT_TYPE]}),
                      _Body(redirect_request(state).to_xml()))
    if timeout is not None:
        if clock is None:
            raise ValueError("a timeout needs a clock")
        d.addTimeout(timeout, clock)
    return d.addCallback(lambda response: readBody(response).addCallback(_parse, response.code))


def _parse(body: bytes, code: int) -> RedirectResult:
    try:
        answer = decode(body, [RedirectResponse])
    except MessageError:
        answer = None
    return RedirectResult(code, answer)  # type: ignore[arg-type]
