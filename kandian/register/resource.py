"""``POST /register`` on the ``[register]`` listener: device registration (§7.2 设备注册).

A device posts REGISTER_REQ (``Content-Type: text/xml;charset=UTF-8``) and
gets REGISTER_RES: its Result and, on success, where to log in (primary and
backup link), the TURN servers, the FTP server for pictures with this
device's own account and password (:meth:`kandian.core.files.Files.credentials`),
and the time.

Result 0 ok; 1 unknown device (provisioned instead when ``auto_provision`` is
on and the DevID is 11 digits with a known manufacturer prefix, §6.6 step 10);
2 wrong DevKey; 255 the store failed (the table: :mod:`.results`).  The check
is the core's (:meth:`kandian.core.devices.Devices.register`).  Result 3 ("firmware not supported")
is never given: REGISTER_REQ carries no firmware version — the link's
LOGIN_REQ does, and LOGIN_RES answers 3.

What is not a registration gets an HTTP error and nothing is written: another
path 404, another method 405, a body over 64 KiB 413 (before it is read),
a body that is not well-formed XML or not REGISTER_REQ 400.
"""

from __future__ import annotations

import re

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server

from ..core import errors
from ..core.errors import log_failure
from ..logs import peer_text
from ..wiretime import format_time
from .messages import RegisterRequest, RegisterResponse
from .results import OK, result_for

log = Logger()

DEV_ID = re.compile(r"^[0-9]{11}$")
CONTENT_TYPE = b"text/xml;charset=UTF-8"


class Addresses:
    """What REGISTER_RES hands out; resolved per request so that a ``tcp:0``
    listener (tests) reports the port it was given."""

    def __init__(self, config, link_port=lambda: None):
        self.config = config
        self._link_port = link_port

    def link(self) -> tuple[str, int | None]:
        configured = self.config.register.link_address
        if configured:
            return configured
        return self.config.platform.public_host, self.config.port_of("device") or self._link_port()

    def backup_link(self) -> tuple[str, int | None]:
        return self.config.register.backup_link_address or self.link()


class Register(resource.Resource):
    isLeaf = True

    def __init__(self, devices, files, addresses: Addresses, clock, timezone, auto_provision: bool):
        """*devices*, *files*: the core's (:class:`kandian.core.devices.Devices`,
        :class:`kandian.core.files.Files`: the device's FTP credentials)."""
        super().__init__()
        self.devices = devices
        self.files = files
        self.addresses = addresses
        self.clock = clock
        self.timezone = timezone
        self.auto_provision = auto_provision

    def render(self, request):
        if request.postpath not in ([], [b""]):
            return self._error(request, 404, "not found: POST /register")
        if request.method != b"POST":
            request.setHeader(b"allow", b"POST")
            return self._error(request, 405, "method not allowed: POST /register")
        body = request.content.read()
        try:
            registration = RegisterRequest.from_xml(body)
        except ValueError as e:  # the codec's only error, whatever the bytes
            log.warn("registration from {peer} refused: {why}", peer=_peer(request), why=peer_text(str(e), 160))
            return self._error(request, 400, "bad REGISTER_REQ: %s" % (e,))
        self._register(request, registration)
        return server.NOT_DONE_YET

    @defer.inlineCallbacks
    def _register(self, request, registration: RegisterRequest):
        now = self.clock.seconds()
        result = OK
        ftp = None
        try:
            if not DEV_ID.match(registration.DevID):
                raise errors.NoSuchDevice("not a DevID")
            yield self.devices.register(registration.DevID, registration.DevKey, registration.DevType,
                                        registration.Mode, self.auto_provision)
            ftp = yield self.files.credentials(registration.DevID)
        except Exception as e:
            if not isinstance(e, errors.DomainError):
                log_failure(log, "registration of {dev_id}: store failed", dev_id=peer_text(registration.DevID))
            result = result_for(e)
        log.info("registration of {dev_id} ({model}) from {peer}: Result {result}",
                 dev_id=peer_text(registration.DevID), model=peer_text(registration.Mode or "-"), peer=_peer(request),
                 result=result)
        answer = self._answer(registration.DevID, result, now, ftp)
        if not request.finished and not request._disconnected:
            request.setHeader(b"content-type", CONTENT_TYPE)
            request.write(answer.to_xml())
            request.finish()

    def _answer(self, dev_id: str, result: int, now: float, ftp) -> RegisterResponse:
        time = format_time(now, self.timezone)
        if result != OK:
            return RegisterResponse(Result=result, DevID=dev_id, Time=time)
        link, backup = self.addresses.link(), self.addresses.backup_link()
        turn = self.addresses.config.register.turn_address
        backup_turn = self.addresses.config.register.backup_turn_address or turn
        return RegisterResponse(
            Result=OK, DevID=dev_id,
            NatIP=link[0], NatPort=link[1], BackupNatIP=backup[0], BackupNatPort=backup[1],
            TurnIP=turn[0] if turn else None, TurnPort=turn[1] if turn else None,
            BackupTurnIP=backup_turn[0] if backup_turn else None,
            BackupTurnPort=backup_turn[1] if backup_turn else None,
            FtpIP=ftp.ip, FtpPort=ftp.port, FtpAccount=ftp.account, FtpPassword=ftp.password, Time=time)

    @staticmethod
    def _error(request, code: int, text: str) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return (text + "\n").encode("utf-8")


def _peer(request) -> str:
    address = request.getClientAddress()
    return "%s:%s" % (getattr(address, "host", "?"), getattr(address, "port", "?"))


def root(register: Register) -> resource.Resource:
    """The listener's tree: ``/register`` and nothing else (404)."""
    top = resource.Resource()
    top.putChild(b"register", register)
    return top
