"""The FTP protocol interpreter for devices: Twisted's ``FTP`` with kandian's rules.

Twisted's command parsing, state machine, listings, TYPE, SIZE, MDTM, CWD are
kept.  Overridden, and why:

- ``lineReceived``: Twisted's stops reading the connection for every
  command and resumes it through the *global* reactor one iteration later
  (two ``epoll_ctl`` calls and a timer a command), and answers an unexpected
  failure with a traceback in the log and "550 internal server error"; here
  a command answered at once (USER, PWD, CWD, TYPE …) goes straight on to
  the next line, reading stops only while one is answered later (PASS,
  EPSV, STOR …) and resumes when it is; one log line and the table's 451
  (:mod:`.results`).
- ``reply``: Twisted's 552 and 553 templates take no argument while its
  callers pass the path, so the reply raises TypeError and the client is
  never answered; here a reply can always be formatted.
- ``USER``/``PASS``: no anonymous login (530); the source address goes with
  the credentials for the throttle; after ``login_attempts`` failures, a
  throttled source or a device at its session cap the connection is closed
  (530/421).  An unauthenticated connection is closed after ``idle_timeout``
  whatever it sends.
- ``PASV``/``EPSV``: ports from ``[ftp] passive_ports`` (:mod:`.data`),
  bound on the control connection's local address; PASV advertises
  ``[platform] public_host`` when it is an IPv4 literal (the address behind a
  NAT), else that local address.  ``PORT``/``EPRT`` are refused (502).
- ``CWD``: answered at once (the device's tree is :mod:`.paths`'s), not
  through the shell's Deferred.
- ``STOR``/``RETR``: through :class:`~.data.DataChannel` and the shell's
  uploads and downloads (:mod:`.shell`), 226 only once an upload is on disk
  and recorded or a download sent in full, with the idle timer off during the
  transfer and the data connection's own timer on.
"""

from __future__ import annotations

import collections
import ipaddress
import math

import attrs
from twisted.cred import error as cred_error
from twisted.internet import defer, protocol
from twisted.logger import Logger
from twisted.protocols import ftp
from twisted.python import failure

from ..core import errors
from ..limits import RateLimitedLog
from ..logs import peer_text
from ..sendnow import direct_socket, send_now
from . import paths
from .data import PassiveFactory
from .realm import DeviceLogin
from .results import (
    ActiveModeRefused,
    AnonymousRefused,
    NoDataConnection,
    NoPassivePort,
    NoSpace,
    TransferAborted,
    line_for,
    reply_for,
)

log = Logger()

ANONYMOUS = ("anonymous", "ftp")


@attrs.define
class FtpStats:
    """Counters of the FTP listener, read by ``/metrics``."""

    logins: collections.Counter = attrs.field(factory=collections.Counter)  # outcome → count
    transfers: collections.Counter = attrs.field(factory=collections.Counter)  # (direction, area, outcome)
    bytes_in: int = 0
    bytes_out: int = 0
    foreign_data: int = 0  # data connections from an address other than the session's, refused
    internal_errors: int = 0
    lines_too_long: int = 0


class DeviceFTP(ftp.FTP):
    MAX_LENGTH = 2048
    FEATURES = ["EPSV", "FEAT", "MDTM", "PASV", "SIZE", "TYPE A;I"]
    login_attempts = 3  # failed PASS on one connection before it is closed

    _transfer = None  # the data channel of the STOR/RETR in progress
    _socket = None
    _pending = False  # the command being answered has not been answered yet
    _lines = 0  # commands answered at once since the last read
    lines_at_once = 16  # then the next wait for the reactor's next turn
    _login_timer = None
    _peer = ""

    # -- connection

    def connectionMade(self):
        reactor = self.factory.reactor
        self.callLater = reactor.callLater  # TimeoutMixin's timer on the listener's reactor
        self._peer = self.transport.getPeer().host
        self._socket = direct_socket(self.transport)  # replies sent at once (kandian.sendnow)
        self.failures = 0
        super().connectionMade()
        self._login_timer = reactor.callLater(self.factory.timeOut, self._login_expired)

    def connectionLost(self, reason):
        self.disconnected = True
        if self._login_timer is not None and self._login_timer.active():
            self._login_timer.cancel()
        self._login_timer = None
        self.cleanupDTP()
        if self._transfer is not None and self._transfer.isConnected:
            self._transfer.transport.abortConnection()
        self.setTimeout(None)
        shell, self.shell = self.shell, None
        if shell is not None:
            shell.logout()

    def timeoutConnection(self):
        self._close("421 Idle timeout, closing control connection.")

    def _login_expired(self):
        self._login_timer = None
        if self.state != self.AUTHED and self.state != self.RENAMING:
            self._close("421 Login timeout, closing control connection.")

    def _close(self, line: str) -> None:
        if self.transport is None or self.disconnected:
            return
        self.sendLine(line)
        self.disconnected = True
        self.transport.loseConnection()

    def lineLengthExceeded(self, line):
        self.factory.stats.lines_too_long += 1
        log.info("ftp {peer}: command line over {max} bytes, closing", peer=self._peer, max=self.MAX_LENGTH)
        self._close("500 Command line too long.")

    # -- commands

    def dataReceived(self, data):
        self._lines = 0
        super().dataReceived(data)

    def lineReceived(self, line):
        self.resetTimeout()
        text = line.decode(self._encoding)
        cmd, space, arg = text.partition(" ")
        args = (arg,) if space else ()
        try:
            result = self.processCommand(cmd, *args)
        except Exception:
            result = failure.Failure()
        if not isinstance(result, defer.Deferred):  # USER, PWD, TYPE, QUIT …: no Deferred made
            self._settle(result, cmd)
            self._lines += 1
            if self._lines >= self.lines_at_once and not self.paused and not self.disconnected:
                # a client sending commands faster than it reads answers shares the reactor with the others
                self.pauseProducing()
                self.factory.reactor.callLater(0, self._resume)
            return
        self._pending = True
        result.addBoth(self._settle, cmd)
        if self._pending:
            # answered later (a login, a transfer): no further command is read until then
            self.pauseProducing()

    def _settle(self, result, cmd: str) -> None:
        """Answer *result* of *cmd* (a Failure: refused, or unexpected), then read the next command."""
        try:
            if isinstance(result, failure.Failure):
                unexpected = self._refuse(result, cmd)
                if unexpected is not None:
                    self._internal(unexpected, cmd)
            else:
                self._answer(result)
        except Exception:
            self._internal(failure.Failure(), cmd)
        self._pending = False
        if self.paused and not self.disconnected:
            self.resumeProducing()

    def _resume(self):
        if self.paused and not self._pending and not self.disconnected:
            self.resumeProducing()

    def _answer(self, result):
        if isinstance(result, tuple):
            self.reply(*result)
        elif result is not None:
            self.reply(result)

    def _refuse(self, why: failure.Failure, cmd: str):
        if why.check(TypeError) and any(m in str(why.value) for m in ("takes exactly", "required positional")):
            self.reply(ftp.SYNTAX_ERR, "%s requires an argument." % (peer_text(cmd, 16),))
            return
        error = why.value
        if reply_for(error) is None and not isinstance(error, ftp.FTPCmdError):
            return why  # unexpected: _internal
        text, close = line_for(error, self._detail(error))
        if close:
            self._close(text)
        else:
            self.sendLine(text)

    def _internal(self, why: failure.Failure, cmd: str):
        self.factory.stats.internal_errors += 1
        log.failure("ftp {peer}: {cmd} failed", why, peer=self._peer, cmd=peer_text(cmd, 16))
        if not self.disconnected and self.transport is not None:
            self.sendLine(line_for(RuntimeError())[0])

    @staticmethod
    def _detail(error) -> str:
        if isinstance(error, errors.TooManyFailures):
            return "retry in %d s" % max(1, math.ceil(error.retry_after))
        if isinstance(error, (paths.NotHere, errors.BadFileName)):
            return peer_text(str(error), 80)
        return ""

    def sendLine(self, line):
        # replies quote what the peer sent (read as latin-1) and peer_text's "…": never fail to encode
        if isinstance(line, str):
            line = line.encode(self._encoding, "replace")
        send_now(self.transport, self._socket, line + self.delimiter)

    def reply(self, key, *args):
        template = ftp.RESPONSE[key]
        wanted = template.count("%s")
        self.sendLine(template % ((args + ("",) * wanted)[:wanted]))

    def _segments(self, path: str) -> list[str]:
        try:
            return ftp.toSegments(self.workingDirectory, path)
        except ftp.InvalidPath:
            raise paths.NotHere(path) from None

    # -- login

    def ftp_USER(self, username):
        if not username:
            return defer.fail(ftp.CmdSyntaxError("USER requires an argument"))
        if username.lower() in ANONYMOUS:
            self.factory.stats.logins["anonymous"] += 1
            log.info("ftp {peer}: anonymous login refused", peer=self._peer)
            return defer.fail(AnonymousRefused())
        self._user = username
        self.state = self.INAUTH
        return ftp.USR_NAME_OK_NEED_PASS, peer_text(username, 32)

    def ftp_PASS(self, password):
        user = self._user
        del self._user
        d = self.portal.login(DeviceLogin(user, password, self._peer), None, ftp.IFTPShell)
        d.addCallbacks(self._logged_in, self._login_failed, errbackArgs=(user,))
        return d

    def _logged_in(self, result):
        _, shell, _ = result
        if self.disconnected:  # gone while the check ran
            shell.logout()
            return None
        self.shell = shell
        self.workingDirectory = []
        self.state = self.AUTHED
        if self._login_timer is not None and self._login_timer.active():
            self._login_timer.cancel()
        self._login_timer = None
        self.factory.stats.logins["ok"] += 1  # not logged: the transfers are, with the address
        return ftp.USR_LOGGED_IN_PROCEED

    def _login_failed(self, why: failure.Failure, user: str):
        self.state = self.UNAUTH
        error = why.value
        if why.check(cred_error.UnauthorizedLogin, cred_error.UnhandledCredentials):
            error = errors.WrongPassword(str(error))
        outcome = {errors.WrongPassword: "wrong_password", errors.TooManyFailures: "throttled"}.get(
            type(error), type(error).__name__)
        self.factory.stats.logins[outcome] += 1
        if isinstance(error, errors.WrongPassword):
            self.failures += 1
            held_back = self.factory.log.due(("login", self._peer))
            if held_back is not None:
                log.info("ftp {peer}: login as {user} refused{more}", peer=self._peer, user=peer_text(user, 32),
                         more="; %d more refused from it since the last line" % held_back if held_back else "")
        elif not isinstance(error, errors.DatabaseUnavailable):
            held_back = self.factory.log.due(("login", self._peer))
            if held_back is not None:
                log.info("ftp {peer}: login as {user} refused: {why}", peer=self._peer, user=peer_text(user, 32),
                         why=peer_text(str(error), 120))
        text, close = line_for(error, self._detail(error))
        if close or self.failures >= self.login_attempts:
            self._close(text)
        else:
            self.sendLine(text)

    # -- data connections

    def ftp_PORT(self, address):
        return defer.fail(ActiveModeRefused())

    ftp_EPRT = ftp_PORT

    def ftp_PASV(self):
        if self._epsvAll:
            return defer.fail(ftp.BadCmdSequenceError("may not send PASV after EPSV ALL"))
        host = self._pasv_host()
        if host is None:
            return defer.fail(ftp.PASVIPv6NotImplementedError())
        return self._passive(lambda port: (ftp.ENTERING_PASV_MODE, ftp.encodeHostPort(host, port)))

    def ftp_EPSV(self, protocol=""):
        if protocol.upper() == "ALL":
            self._epsvAll = True
            return ftp.EPSV_ALL_OK
        if protocol:
            try:
                self._validateNetworkProtocol(protocol)
            except ftp.FTPCmdError:
                return defer.fail()
        return self._passive(lambda port: (ftp.ENTERING_EPSV_MODE, port))

    def _pasv_host(self) -> str | None:
        local = self.transport.getHost().host
        try:
            ip = ipaddress.ip_address(local)
        except ValueError:
            return None
        if ip.version == 6:
            if ip.ipv4_mapped is None:
                return None  # PASV cannot name an IPv6 address: EPSV
            local = str(ip.ipv4_mapped)
        try:
            if ipaddress.ip_address(self.factory.public_host).version == 4:
                return self.factory.public_host
        except ValueError:
            pass
        return local

    def _passive(self, answer):
        self.cleanupDTP()
        listener = self.factory
        data = PassiveFactory(self._peer, listener.reactor, listener.data_timeout, listener.data_timeout,
                              on_foreign=self._foreign_data)
        self.dtpFactory = data

        def listening(port):
            if self.dtpFactory is not data:  # another PASV, or the end, came first
                port.release()
                return None
            self.dtpPort = port
            self.reply(*answer(port.number))
            data.start()
            return data.deferred.addCallbacks(self._data_connected, self._data_missing,
                                              callbackArgs=(data,), errbackArgs=(data,))

        def no_port(why):
            why.trap(NoPassivePort)
            if self.dtpFactory is data:
                self.dtpFactory = None
            log.warn("ftp {peer}: no passive port free within {timeout} s ([ftp] passive_ports)",
                     peer=self._peer, timeout=listener.data_timeout)
            return why

        interface = self.transport.getHost().host
        return listener.ports.listen(data, interface).addCallbacks(listening, no_port)

    def _data_connected(self, channel, data):
        if self.dtpFactory is not data:
            channel.transport.abortConnection()
            return None
        self.dtpInstance = channel
        port, self.dtpPort = self.dtpPort, None
        if port is not None:
            port.release()  # the connection stays; the port is free for the next PASV
        return None

    def _data_missing(self, why, data):
        why.trap(TransferAborted)
        if self.dtpFactory is data:
            self.cleanupDTP()
        return None  # 227/229 was the answer; the next transfer command gets 425

    def _foreign_data(self):
        self.factory.stats.foreign_data += 1
        held_back = self.factory.log.due(("foreign", self._peer))
        if held_back is not None:
            log.warn("ftp {peer}: data connection from another address refused", peer=self._peer)

    def cleanupDTP(self):
        data, self.dtpFactory = self.dtpFactory, None
        if data is not None:
            data.cancel()
        port, self.dtpPort = self.dtpPort, None
        if port is not None:
            port.release()
        channel, self.dtpInstance = self.dtpInstance, None
        if channel is not None and channel.isConnected:
            channel.transport.abortConnection()

    def _take_channel(self):
        """The data connection, for one transfer (RFC 959: a new PASV for the next)."""
        channel, self.dtpInstance = self.dtpInstance, None
        if channel is None or not channel.isConnected:
            raise NoDataConnection()
        return channel

    # -- transfers

    def ftp_STOR(self, path):
        channel = self._take_channel()
        try:
            segments = self._segments(path)
        except paths.NotHere:
            channel.transport.abortConnection()
            raise
        self._transfer = channel
        self.setTimeout(None)
        d = self.shell.openForWriting(segments)
        d.addCallback(self._upload, channel)
        d.addErrback(self._transfer_failed, channel, "in", segments)
        d.addBoth(self._transfer_done)
        return d

    def _upload(self, upload, channel):
        self.reply(ftp.DATA_CNX_ALREADY_OPEN_START_XFR if channel.isConnected else ftp.FILE_STATUS_OK_OPEN_DATA_CNX)
        return channel.receive(upload).addBoth(self._received, upload, channel)

    def _received(self, result, upload, channel):
        self.factory.stats.bytes_in += channel.received
        if isinstance(result, failure.Failure):
            upload.discard()
            return result
        return upload.commit().addCallback(self._stored, upload)

    def _stored(self, result, upload):
        size, _ = result
        area = upload.target.area
        self.factory.stats.transfers["in", area, "ok"] += 1
        log.info("ftp {dev_id} stored {area}/{name} ({size} bytes) from {peer}",
                 dev_id=self.shell.dev_id if self.shell else "?", area=area, name=upload.target.name, size=size,
                 peer=self._peer)
        return (ftp.TXFR_COMPLETE_OK,)

    def ftp_RETR(self, path):
        channel = self._take_channel()
        try:
            segments = self._segments(path)
        except paths.NotHere:
            channel.transport.abortConnection()
            raise
        self._transfer = channel
        self.setTimeout(None)
        d = self.shell.openForReading(segments)
        d.addCallback(self._download, channel)
        d.addErrback(self._transfer_failed, channel, "out", segments)
        d.addBoth(self._transfer_done)
        return d

    @defer.inlineCallbacks
    def _download(self, download, channel):
        self.reply(ftp.DATA_CNX_ALREADY_OPEN_START_XFR if channel.isConnected else ftp.FILE_STATUS_OK_OPEN_DATA_CNX)
        try:
            yield download.send(channel)
        except Exception:
            raise TransferAborted("the data connection closed") from None
        finally:
            self.factory.stats.bytes_out += channel.sent
        clean = yield channel.when_closed()
        if not clean or channel.sent != download.size:
            raise TransferAborted("the data connection closed")
        self.factory.stats.transfers["out", "firmware", "ok"] += 1
        dev_id = download.shell.dev_id
        log.info("ftp {dev_id} fetched firmware/{name} ({size} bytes) from {peer}", dev_id=dev_id,
                 name=download.name, size=download.size, peer=self._peer)
        try:
            yield download.shell.realm.firmware_downloaded(dev_id, download.name)
        except Exception:
            errors.log_failure(log, "ftp {dev_id}: firmware download of {name} not recorded", dev_id=dev_id,
                               name=download.name)
        return (ftp.TXFR_COMPLETE_OK,)

    def _transfer_failed(self, why, channel, direction, segments):
        if channel.isConnected:
            channel.transport.abortConnection()
        if reply_for(why.value) is None:
            self.factory.stats.transfers[direction, "-", "error"] += 1
            return why  # unexpected: logged once by _internal
        outcome = {errors.FileTooLarge: "too_large", errors.OverQuota: "over_quota",
                   errors.BadFileName: "bad_name", paths.NotHere: "refused", NoSpace: "no_space",
                   TransferAborted: "aborted"}.get(type(why.value), type(why.value).__name__)
        area = segments[0] if len(segments) == 2 and segments[0] in paths.DIRECTORIES else "-"
        self.factory.stats.transfers[direction, area, outcome] += 1
        log.info("ftp {dev_id}: {op} {path} refused: {why}", dev_id=self.shell.dev_id if self.shell else "?",
                 op="STOR" if direction == "in" else "RETR", path=peer_text("/".join(segments), 80),
                 why=peer_text(str(why.value) or type(why.value).__name__, 120))
        return why

    def _transfer_done(self, result):
        self._transfer = None
        if not self.disconnected and self.transport is not None:
            self.setTimeout(self.factory.timeOut)
        return result

    def ftp_CWD(self, path):
        # Twisted's asks the shell through a Deferred; a device's tree is known here (paths.directory)
        try:
            segments = ftp.toSegments(self.workingDirectory, path)
        except ftp.InvalidPath:
            return defer.fail(ftp.FileNotFoundError(path))
        paths.directory(segments)  # NotHere: 550
        self.workingDirectory = segments
        return (ftp.REQ_FILE_ACTN_COMPLETED_OK,)

    def ftp_NLST(self, path=""):
        # Twisted's takes a required argument: a bare NLST (ftplib's nlst()) was a 500
        return super().ftp_NLST(path)

    def ftp_ALLO(self, *args):
        return (ftp.CMD_NOT_IMPLMNTD_SUPERFLUOUS,)


class FtpFactory(protocol.ServerFactory):
    """The FTP listener's factory: *portal* over kandian's checker and realm,
    *ports* the passive ports, timeouts in seconds on *reactor*."""

    protocol = DeviceFTP
    noisy = False
    allowAnonymous = False
    userAnonymous = "anonymous"
    welcomeMessage = "kandian FTP ready"

    def __init__(self, portal, reactor, ports, *, public_host: str, idle_timeout: float, data_timeout: float,
                 stats: FtpStats | None = None, realm=None):
        """*realm*: the portal's, for its session count (``/metrics``)."""
        self.portal = portal
        self.realm = realm
        self.reactor = reactor
        self.ports = ports
        self.public_host = public_host
        self.timeOut = idle_timeout
        self.data_timeout = data_timeout
        self.stats = stats if stats is not None else FtpStats()
        self.log = RateLimitedLog(reactor)

    def buildProtocol(self, addr):
        p = self.protocol()
        p.factory = self
        p.portal = self.portal
        p.timeOut = self.timeOut
        return p

    def stopFactory(self):
        self.ports.close()  # the passive ports kept open between transfers
