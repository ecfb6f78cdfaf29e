"""The device side of registration (spec §7.2 设备注册).

:func:`register` POSTs a REGISTER_REQ built from a
:class:`~kandian.sim.state.DeviceState` with ``Content-Type:
text/xml;charset=UTF-8`` and parses the REGISTER_RES
(:mod:`kandian.register.messages`) into a :class:`RegisterResult`: where to
log in (NatIP/NatPort, then BackupNatIP/BackupNatPort), the TURN and FTP
servers and the platform's time.

An answer with a REGISTER_RES body is a result whatever its HTTP status
(``result.ok`` tells success); anything else — an HTTP error without such a
body (§6.6: the group platform answers 401), a body that is not
REGISTER_RES — fails with :class:`RegisterError`.
"""

from __future__ import annotations

from typing import Any

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IBodyProducer
from zope.interface import implementer

from kandian.register.messages import RegisterRequest, RegisterResponse
from kandian.sim.state import DeviceState
from kandian.xmlwire import XMLWireError

__all__ = ["CONTENT_TYPE", "RegisterError", "RegisterResult", "register_request", "register"]

CONTENT_TYPE = b"text/xml;charset=UTF-8"  # §7.2.1


class RegisterError(Exception):
    """The registration server did not answer with a REGISTER_RES."""

    def __init__(self, message: str, code: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.code = code
        self.body = body


@attrs.frozen
class RegisterResult:
    """An HTTP status and the REGISTER_RES that came with it."""

    code: int
    response: RegisterResponse

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300 and self.response.Result == 0

    @property
    def link_address(self) -> tuple[str, int] | None:
        """Where to log in first (NatIP, NatPort)."""
        return _address(self.response.NatIP, self.response.NatPort)

    @property
    def backup_link_address(self) -> tuple[str, int] | None:
        """Where to log in when the first address fails (§7.2: "一主一备")."""
        return _address(self.response.BackupNatIP, self.response.BackupNatPort)


def _address(host: str | None, port: int | None) -> tuple[str, int] | None:
    if not host or not port:
        return None
    return host, port


def register_request(state: DeviceState) -> RegisterRequest:
    """REGISTER_REQ for *state* (§7.2.1)."""
    return RegisterRequest(
        ManufacturerNo=state.manufacturer_no,
        Mode=state.model,
        DevType=state.dev_type,
        DevID=state.dev_id,
        DevKey=state.dev_key,
    )


@implementer(IBodyProducer)
class _Body:
    """A request body that is already in memory (no cooperator, no global reactor)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length = len(data)

    def startProducing(self, consumer: Any) -> Deferred[None]:
        consumer.write(self.data)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def register(
    agent_or_reactor: Any,
    url: str,
    state: DeviceState,
    *,
    timeout: float | None = None,
    clock: IReactorTime | None = None,
) -> Deferred[RegisterResult]:
    """POST REGISTER_REQ for *state* to *url*; fires with a :class:`RegisterResult`.

    *agent_or_reactor* is an ``IAgent`` (share one with a connection pool to
    register many devices) or a reactor to build a plain ``Agent`` on. With
    *timeout* (seconds, on *clock*, else on the reactor), a slow server
    cancels the request.
    """
    if IAgent.providedBy(agent_or_reactor):
        agent = agent_or_reactor
    else:
        agent = Agent(agent_or_reactor)
        clock = agent_or_reactor if clock is None else clock
    headers = Headers({b"Content-Type": [CONTENT_TYPE]})
    d = agent.request(b"POST", url.encode("ascii"), headers, _Body(register_request(state).to_xml()))
    if timeout is not None:
        if clock is None:
            raise ValueError("a timeout needs a clock")
        d.addTimeout(timeout, clock)
    return d.addCallback(_read_answer)


def _read_answer(response: Any) -> Deferred[RegisterResult]:
    return readBody(response).addCallback(_parse_answer, response.code)


def _parse_answer(body: bytes, code: int) -> RegisterResult:
    try:
        return RegisterResult(code, RegisterResponse.from_xml(body))
    except XMLWireError as e:
        raise RegisterError(f"HTTP {code} without a REGISTER_RES: {e}", code, body[:512]) from None
