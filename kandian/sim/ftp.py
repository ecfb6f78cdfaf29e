"""The device side of FTP (spec §7.5.17 远程升级, §7.5.27 FTP 图片抓拍, §7.5.35 日志上传).

:func:`upload` and :func:`download` are one FTP session each (connect, log
in, passive STOR or RETR, QUIT) with Twisted's ``FTPClient`` on the given
reactor; a download is hashed as it arrives, never held in memory.

:class:`DeviceFtp` is what a simulated device does with them; the link
(:class:`kandian.sim.link.DeviceLink`, given ``ftp=``) calls it:

* :meth:`~DeviceFtp.alarm`: ALARM_NOTIFY_REQ naming a snapshot, the
  snapshot's STOR to ``pictures/DevID_ChannelNo_YYYYMMDDHHMMSS.JPG``, then
  NOTIFY_PICTURE_REQ (§7.5.27: only once the picture is on the server);
* an accepted UPGRADE_REQ: RETR of FtpFileName with the login it carries
  (retried ``retries`` times, ``retry_delay`` apart), the image's sha256
  checked against the digest the catalogue has for NewDevVer (given as
  *digests*: UPGRADE_REQ carries none); a good image "reboots" the device —
  its DevVer becomes NewDevVer and its link closes (a fleet logs it in
  again) — and the outcome is reported after that login as
  EXCEPTION_NOTIFY_REQ (§7.5.17: success or failure; type 11 for failure,
  0 with the text for success).  ``DeviceState.upgrade_failure`` makes a
  device fail on purpose (``kandian.sim.state.UPGRADE_FAILURES``);
* an accepted LOG_UPLOAD_REQ: a text log STORed to
  ``logs/DevID_YYYYMMDDHHMMSS.log`` (§7.5.35: under 1 MB).

A device runs one upgrade at a time; a second UPGRADE_REQ meanwhile is
answered (the link does that) and otherwise ignored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from twisted.internet import defer, protocol, task
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.logger import Logger
from twisted.protocols.ftp import FTPClient

from kandian.sim.state import DeviceState, FtpServer

__all__ = ["FtpServer", "TooLarge", "upload", "download", "DeviceFtp", "SAMPLE_JPEG"]

log = Logger()

UPGRADE_FAILED = 11  # §7.5.4 ExceptionType
MAX_IMAGE = 64 << 20  # bytes a simulated device accepts as firmware

# A valid 1x1 JPEG followed by padding: pictures are this size unless told otherwise.
_JPEG_HEAD = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f"
    "141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001000101011100"
    "ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000"
    "017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a"
    "3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a9293949596"
    "9798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2"
    "f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9")


def sample_jpeg(size: int = 4096) -> bytes:
    """A JPEG of *size* bytes (give or take 3; at least the 1x1 image's): the image, grown by
    comment segments (COM, FF FE) after its JFIF header, so that it still
    starts FF D8 FF and ends FF D9."""
    head, tail = _JPEG_HEAD[:20], _JPEG_HEAD[20:]  # SOI + the APP0 (JFIF) segment, then the rest
    padding, room = [], size - len(_JPEG_HEAD)
    while room >= 4:
        n = min(room, 0xFFFF + 2)
        if room - n in (1, 2, 3):  # what would be left could not hold a segment of its own
            n -= 4
        padding.append(b"\xff\xfe" + (n - 2).to_bytes(2, "big") + b"\0" * (n - 4))
        room -= n
    return head + b"".join(padding) + tail


SAMPLE_JPEG = sample_jpeg()


class TooLarge(Exception):
    """The download was longer than the device accepts."""


class _Client(FTPClient):
    """FTPClient dialling its passive data connections on the reactor it was given."""

    def __init__(self, reactor, account: str, password: str):
        super().__init__(account, password, passive=1)
        self.connectFactory = reactor.connectTCP


class _Factory(protocol.ClientFactory):
    noisy = False

    def __init__(self, reactor, account: str, password: str):
        self.reactor = reactor
        self.account = account
        self.password = password

    def buildProtocol(self, addr):
        return _Client(self.reactor, self.account, self.password)


class _Digest(protocol.Protocol):
    """A RETR's data, hashed and counted as it arrives."""

    def __init__(self, limit: int):
        self.limit = limit
        self.sha256 = hashlib.sha256()
        self.size = 0

    def dataReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            self.transport.abortConnection()
            return
        self.sha256.update(data)


@defer.inlineCallbacks
def _session(reactor, server: FtpServer, work, timeout: float, clock):
    endpoint = TCP4ClientEndpoint(reactor, server.host, server.port, timeout=timeout)
    client = yield endpoint.connect(_Factory(reactor, server.account, server.password))
    try:
        d = defer.maybeDeferred(work, client)
        if clock is not None:
            d.addTimeout(timeout, clock)
        result = yield d
        try:
            yield client.quit()
        except Exception:
            pass  # the work is done; a server closing without 221 changes nothing
        return result
    finally:
        client.transport.loseConnection()


def upload(reactor, server: FtpServer, path: str, data: bytes, *, timeout: float = 60.0, clock=None):
    """STOR *data* at *path* (passive); fires once the server said 226. *clock* bounds the whole session."""
    @defer.inlineCallbacks
    def store(client):
        consumer_d, control_d = client.storeFile(path)

        def refused(failure):
            # a refusal before the data connection (530, 553 …) never fires the consumer's Deferred
            if not consumer_d.called:
                consumer_d.errback(failure)
                return None
            return failure
        control_d.addErrback(refused)
        consumer = yield consumer_d
        consumer.write(data)
        consumer.finish()
        yield control_d
    return _session(reactor, server, store, timeout, clock)


def download(reactor, server: FtpServer, path: str, *, limit: int = MAX_IMAGE, timeout: float = 300.0,
             clock=None):
    """RETR *path* (passive); fires with (size, sha256 hex).  Fails TooLarge past *limit* bytes."""
    @defer.inlineCallbacks
    def retrieve(client):
        digest = _Digest(limit)
        try:
            yield client.retrieveFile(path, digest)
        except Exception:
            if digest.size > limit:
                raise TooLarge("%s is more than %d bytes" % (path, limit)) from None
            raise
        if digest.size > limit:
            raise TooLarge("%s is more than %d bytes" % (path, limit))
        return digest.size, digest.sha256.hexdigest()
    return _session(reactor, server, retrieve, timeout, clock)


class DeviceFtp:
    """What simulated devices do over FTP; one object can serve a whole fleet.

    *digests* maps a NewDevVer to the sha256 the catalogue keeps for it; an
    image for a version not in it is only checked to be non-empty.
    *picture* is the snapshot uploaded with each alarm.  *clock* times the
    retries (the device's clock); *reactor* carries the connections.
    """

    def __init__(self, reactor, clock=None, *, digests: Mapping[str, str] | None = None,
                 picture: bytes = SAMPLE_JPEG, retries: int = 3, retry_delay: float = 5.0,
                 timeout: float = 300.0):
        self.reactor = reactor
        self.clock = reactor if clock is None else clock
        self.digests = dict(digests or {})
        self.picture = picture
        self.retries = retries
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.upgrading: set[str] = set()  # DevIDs with an upgrade under way
        # each device's latest link: an upgrade outlives the link its UPGRADE_REQ came on
        self._links: dict[str, Any] = {}
        # what happened, for tests and the fleet's summary
        self.counters = {"pictures": 0, "picture_failures": 0, "upgrades": 0, "upgrade_failures": 0,
                         "logs": 0, "log_failures": 0}

    # -- §7.5.34 + §7.5.27: an alarm with its snapshot

    @defer.inlineCallbacks
    def alarm(self, link, channel: int, alarm_type: int, *, desc: str | None = None):
        """ALARM_NOTIFY_REQ, then the picture's upload and NOTIFY_PICTURE_REQ;
        fires with the ALARM_NOTIFY_RES (the picture's fate is counted)."""
        state: DeviceState = link.state
        now = self.clock.seconds()
        name = state.picture_name(channel, now)
        answer = yield link.send_alarm(channel, alarm_type, desc=desc, file_name=name)
        self._picture(link, channel, name, now)
        return answer

    @defer.inlineCallbacks
    def _picture(self, link, channel: int, name: str, taken: float):
        server = link.state.ftp_server
        try:
            if server is None:
                raise ValueError("no FTP server known (none in REGISTER_RES)")
            yield upload(self.reactor, server, "pictures/" + name, self.picture, timeout=self.timeout)
            yield link.send_picture(channel, file_name=name, when=taken)
        except Exception as e:
            self._failed("picture_failures", link.state.dev_id, "picture %s" % (name,), e)
            return
        self.counters["pictures"] += 1

    # -- what the link tells

    def logged_in(self, link) -> None:
        """*link* is its device's link from now on (the link calls this at each login)."""
        self._links[link.state.dev_id] = link

    def _link(self, link):
        """The device's current link (the one *link* was, or the one that replaced it)."""
        return self._links.get(link.state.dev_id, link)

    def accepted(self, link, request: Any) -> None:
        """The link answered *request* with Result 0: do what it asks."""
        if request.ROOT == "UPGRADE_REQ":
            if link.state.dev_id not in self.upgrading:
                self.upgrading.add(link.state.dev_id)
                self._upgrade(link, request).addBoth(lambda _: self.upgrading.discard(link.state.dev_id))
        elif request.ROOT == "LOG_UPLOAD_REQ":
            self._upload_log(link, request)

    @defer.inlineCallbacks
    def _upgrade(self, link, request):
        state: DeviceState = link.state
        server = FtpServer(request.FtpIP, request.FtpPort, request.FtpAccount, request.FtpPassword)
        try:
            size, digest = yield self._download(server, request.FtpFileName)
        except Exception as e:
            self._failed("upgrade_failures", state.dev_id, "firmware download", e)
            self._report(link, UPGRADE_FAILED, "download of %s failed: %s" % (request.FtpFileName, _why(e)))
            return
        if state.upgrade_failure == "corrupt":
            digest = hashlib.sha256(digest.encode("ascii")).hexdigest()  # as if bytes were damaged on the way
        expected = self.digests.get(request.NewDevVer)
        if size == 0 or (expected is not None and digest != expected):
            self.counters["upgrade_failures"] += 1
            self._report(link, UPGRADE_FAILED, "image of %d bytes failed its check (sha256 %s)" % (size, digest))
            return
        if state.upgrade_failure == "silent":
            return
        self.counters["upgrades"] += 1
        old, state.dev_ver = state.dev_ver, request.NewDevVer
        # the outcome is reported after the reboot's login (§7.5.17)
        state.queue_report(state.exception_request(0, "upgraded from %s to %s" % (old, request.NewDevVer)))
        self._link(link).close()  # the reboot (a device between links comes back with it anyway)

    @defer.inlineCallbacks
    def _download(self, server: FtpServer, path: str):
        for attempt in range(self.retries + 1):
            try:
                return (yield download(self.reactor, server, path, timeout=self.timeout))
            except TooLarge:
                raise
            except Exception:
                if attempt == self.retries:
                    raise
            yield task.deferLater(self.clock, self.retry_delay, lambda: None)

    def _report(self, link, exception_type: int, desc: str) -> None:
        link = self._link(link)
        request = link.state.exception_request(exception_type, desc)
        if link.is_logged_in:
            link.send_report(request)
        else:
            link.state.queue_report(request)

    @defer.inlineCallbacks
    def _upload_log(self, link, request):
        state: DeviceState = link.state
        name = state.log_name(self.clock.seconds())
        text = state.log_text()
        server = FtpServer(request.FtpIP, request.FtpPort, request.FtpAccount, request.FtpPassword)
        try:
            yield upload(self.reactor, server, "logs/" + name, text, timeout=self.timeout)
        except Exception as e:
            self._failed("log_failures", state.dev_id, "log upload", e)
            return
        self.counters["logs"] += 1

    def _failed(self, counter: str, dev_id: str, what: str, error: BaseException) -> None:
        self.counters[counter] += 1
        if self.counters[counter] == 1:  # the first of each kind: a fleet's log stays readable
            log.warn("Device {dev_id}: {what} failed: {why}", dev_id=dev_id, what=what, why=_why(error))


def _why(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__
