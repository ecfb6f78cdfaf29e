"""The MCU/CU operations (§8.1–§8.19, QueryRecordFiles, RecordPlay).

Every operation but GetSmsPassword and McuLogin first checks that
LoginSession is a live session of Account (Result 1: no such account, 2:
session expired or not this account's), then — for a device operation —
that the device is bound to that user, owned or shared (3 otherwise: a
device of somebody else is "not there" to this user).  Operations forwarded
to the device answer 4 when it is offline and 255 when it did not answer in
time or refused.  A value outside the spec's range (PtzDirection 7, PageNo 0,
a malformed time) is a ``Client.ValueError`` fault: that is a client bug, not
a state of the platform.

Each operation returns its output tuple in the order of the contract
(:mod:`kandian.mcu.api`); refusals short-cut through :class:`Refusal`.

Secrets a peer sends — McuLogin's password, AddDevice's DevKey — are checked
only while :class:`kandian.throttle.FailureThrottle` allows it for the
request's TCP peer address (never a forwarded-for header): failures count per
address and per (account or DevID, address), so a guessing address is
stopped, for every account, before any scrypt runs, while the owner on another
address is not.  A stopped McuLogin is a ``Client.TooManyFailures`` fault
(§8.2 has no code for it); a stopped AddDevice is §8.5's 255 (other error).
AddDevice answers 6 for a device another user owns without comparing the key,
so the key of a bound device cannot be learnt from the answers at all.
"""

from __future__ import annotations

import secrets
from collections import namedtuple
from urllib.parse import quote, urlencode

from spyne import Fault
from twisted.internet import defer, threads
from twisted.logger import Logger

from ..core import errors
from ..core.alarms import PAGE_SIZE
from ..device.commands import DeviceCommands
from ..passwords import hash_password
from ..store.devices import DEV_ID, DeviceExists
from ..logs import peer_text
from ..throttle import FailureThrottle
from ..wiretime import format_time, parse_time
from . import api
from .auth import version_supported
from .results import result_for

log = Logger()

OK, NO_USER, SESSION, NO_DEVICE, OFFLINE, OTHER = 0, 1, 2, 3, 4, 255
WRONG_KEY, OVER_LIMIT, ALREADY_BOUND = 4, 5, 6  # §8.5
VERSION_TOO_LOW = 3  # §8.2
SMS_FAILED = 2  # §8.1


# DevList entries as plain records of the contract's field names (kandian.mcu.api.Dev):
# the answer writer reads them by name, and they cost a tenth of spyne objects to build
_Dev = namedtuple("Dev", [name for name, _ in api.Dev._type_info.items()])
_Video = namedtuple("Video", [name for name, _ in api.Video._type_info.items()])
_DIDO = namedtuple("DIDO", [name for name, _ in api.DIDO._type_info.items()])


class Refusal(Exception):
    """Answer the operation with this Result and empty outputs."""

    def __init__(self, result: int, why: str = ""):
        super().__init__(why or "Result %d" % result)
        self.result = result


def _bad_value(what: str) -> Fault:
    return Fault("Client.ValueError", what)


class TooManyFailures(Fault):
    """McuLogin from an address (or for an account from it) that failed too often."""

    quiet = True  # counted, not logged per request: a stopped guesser keeps sending

    def __init__(self, retry_after: float):
        super().__init__("Client.TooManyFailures", "too many failed logins from this address; retry in %d s"
                         % max(1, round(retry_after)))


class Throttled(Refusal):
    quiet = True


class McuHandlers:
    def __init__(self, *, store, tokens, links, core, passwords, clock, config, sms, group, device_store=None,
                 relay_port=lambda: None, ftp_port=lambda: None, throttle: FailureThrottle | None = None):
        self.store = store
        self.tokens = tokens
        self.links = links
        self.core = core
        self.passwords = passwords
        self.clock = clock
        self.config = config
        self.sms = sms
        self.group = group
        self.devices = device_store
        self.relay_port = relay_port
        self.ftp_port = ftp_port
        t = config.throttle
        self.throttle = throttle if throttle is not None else FailureThrottle(
            clock.seconds, per_address=t.failures_per_address, per_account=t.failures_per_account,
            window=t.window)
        mcu = config.mcu
        self.version_floors = {"A": mcu.min_version_android, "I": mcu.min_version_ios, "W": mcu.min_version_windows}

    # -- dispatch

    def call(self, name: str, ctx, args) -> defer.Deferred:
        outputs = len(ctx.descriptor.out_message._type_info)
        client_ip = getattr(ctx.transport.req.getClientAddress(), "host", None)
        d = defer.maybeDeferred(getattr(self, name), client_ip, *args)

        def refused(failure):
            failure.trap(Refusal)
            result = failure.value.result
            (log.debug if getattr(failure.value, "quiet", False) else log.info)(
                "MCU {operation}: Result {result} ({why})", operation=name, result=result,
                why=peer_text(str(failure.value), 200))
            return result if outputs == 1 else (result,) + (None,) * (outputs - 1)

        return d.addErrback(refused)

    def now(self) -> float:
        return self.clock.seconds()

    @defer.inlineCallbacks
    def _user(self, account: str, session: str):
        check = yield self.store.check_session(account, session, self.now(), self.config.mcu.session_timeout)
        if check.result != OK:
            raise Refusal(check.result, "session check")
        return check.user_id

    @defer.inlineCallbacks
    def _device(self, account: str, session: str, dev_id: str, channel_no: int | None = None):
        """(user_id, device) when the session is live and the device is bound
        to its user — and, with *channel_no*, has that channel (one query)."""
        if channel_no is not None and channel_no < 0:
            channel_no = -1  # no such channel; the session is still checked first
        check, device = yield self.store.check_device(account, session, dev_id, channel_no, self.now(),
                                                      self.config.mcu.session_timeout)
        if check.result != OK:
            raise Refusal(check.result, "session check")
        if device is None:
            raise Refusal(NO_DEVICE, "%s (channel %s) is not bound to %s" % (dev_id, channel_no, account))
        return check.user_id, device

    @defer.inlineCallbacks
    def _core(self, operation: str, d: defer.Deferred):
        """A core call's result; its domain error as *operation*'s Result (:mod:`.results`)."""
        try:
            return (yield d)
        except errors.BadValue as e:
            raise _bad_value(str(e)) from None
        except errors.DomainError as e:
            result = result_for(operation, e)
            if result is None:
                raise
            raise Refusal(result, str(e)) from None

    # -- §8.1 GetSmsPassword

    @defer.inlineCallbacks
    def GetSmsPassword(self, client_ip, MobileTel, Type):
        if Type != 0:
            raise _bad_value("Type must be 0 (password)")
        if not self.sms.delivers:
            # a new password nobody receives would lock the owner out (and anyone could ask for it)
            raise Refusal(SMS_FAILED, "no SMS gateway configured")
        user = yield self.store.user(MobileTel)
        if user is None:
            raise Refusal(SMS_FAILED, "no account %s" % (MobileTel,))
        mcu = self.config.mcu
        allowed = yield self.store.sms_allowed(MobileTel, self.now(), mcu.sms_interval, mcu.sms_daily_limit)
        if not allowed:
            raise Refusal(SMS_FAILED, "SMS rate limit for %s" % (MobileTel,))
        password = "".join(secrets.choice("0123456789") for _ in range(8))
        hashed = yield threads.deferToThread(hash_password, password)
        # the SMS first: a gateway failure must not leave the user with a
        # password nobody told them (the old one stays valid then)
        try:
            yield self.sms.send(MobileTel, "您的手机看店登录密码为 %s，请妥善保管。" % (password,))
        except Exception as e:
            log.warn("SMS to {mobile} failed: {why}", mobile=MobileTel, why=e)
            raise Refusal(SMS_FAILED, "SMS gateway") from None
        yield self.store.set_password_hash(user[0], hashed, self.now())
        return OK

    # -- §8.2–§8.4 sessions

    @defer.inlineCallbacks
    def McuLogin(self, client_ip, Account, Password, Version):
        address, account = client_ip or "?", ("login", Account)
        if not self.throttle.allowed(address, account):
            raise TooManyFailures(self.throttle.retry_after(address, account))
        user = yield self.store.user(Account)
        if user is None:
            self.throttle.failed(address, account)  # guessing accounts is guessing too
            raise Refusal(NO_USER, "no account %s" % (Account,))
        user_id, stored, max_devices = user
        ok = yield self.passwords.check(Password, stored)
        if not ok:
            self.throttle.failed(address, account)
            raise Refusal(2, "wrong password for %s" % (Account,))
        self.throttle.succeeded(address, account)
        if not version_supported(Version, self.version_floors):
            raise Refusal(VERSION_TOO_LOW, "client version %r" % (Version,))
        session, channels = yield self.store.open_session_list(user_id, Version, client_ip, self.now())
        devices = self._device_list(channels)
        log.info("MCU login of {account} from {ip} ({version})", account=Account, ip=client_ip,
                 version=peer_text(Version))
        return OK, session, max_devices, devices

    @defer.inlineCallbacks
    def McuLogout(self, client_ip, Account, LoginSession):
        yield self._user(Account, LoginSession)
        yield self.store.end_session(LoginSession, self.now())
        return OK

    @defer.inlineCallbacks
    def RefreshDevList(self, client_ip, Account, LoginSession):
        check, channels = yield self.store.check_session_list(Account, LoginSession, self.now(),
                                                              self.config.mcu.session_timeout)
        if check.result != OK:
            raise Refusal(check.result, "session check")
        return OK, self._device_list(channels)

    def _device_list(self, channels):
        online = self.links.online
        return [_Dev(c.dev_id, c.channel_no, c.name, int(online(c.dev_id) or c.online), int(c.ptz), c.share_flag,
                     int(c.motion), int(c.infrared), int(c.manual), int(c.dido),
                     [_Video(s, f) for s, f in c.videos], [_DIDO(n, name) for n, name in c.didos])
                for c in channels]

    # -- §8.5–§8.6 bindings

    @defer.inlineCallbacks
    def AddDevice(self, client_ip, Account, LoginSession, DevID, DevKey):
        user_id = yield self._user(Account, LoginSession)
        if not DEV_ID.match(DevID):
            raise Refusal(NO_DEVICE, "not a DevID: %r" % (DevID,))
        address, device = client_ip or "?", ("devkey", DevID)
        if not self.throttle.allowed(address, device):
            raise Throttled(OTHER, "too many wrong DevKeys from %s" % (address,))
        key, bound = yield self.store.device_key_and_binding(DevID, user_id)
        if bound:
            # before the key: "wrong key" and "somebody else's" must not tell a right key from a wrong one
            raise Refusal(ALREADY_BOUND, "%s is already bound" % (DevID,))
        if key is None:
            # §6.5: a device this platform has not seen is checked with the group platform
            verdict = yield self.group.device_usage(DevID, DevKey)
            if verdict == WRONG_KEY:
                self.throttle.failed(address, device)
            if verdict != OK:
                raise Refusal(verdict, "group platform says %d for %s" % (verdict, DevID))
            try:
                yield self.devices.add(DevID, DevKey, provisioned_by="group")
            except DeviceExists:
                pass
            key = DevKey
        if key != DevKey:
            self.throttle.failed(address, device)
            raise Refusal(WRONG_KEY, "wrong DevKey for %s" % (DevID,))
        user = yield self.store.user(Account)
        result = yield self.store.bind(user_id, DevID, user[2])
        if result != OK:
            raise Refusal(result, "binding %s" % (DevID,))
        log.info("MCU {account} added device {dev_id}", account=Account, dev_id=DevID)
        return OK

    @defer.inlineCallbacks
    def DelDevice(self, client_ip, Account, LoginSession, DevID, DevKey):
        user_id, device = yield self._device(Account, LoginSession, DevID)
        if device.share_flag:
            raise Refusal(OTHER, "a shared device cannot be removed (§8.6)")
        if device.dev_key != DevKey:
            raise Refusal(WRONG_KEY, "wrong DevKey for %s" % (DevID,))
        yield self.store.unbind_all(DevID)
        log.info("MCU {account} removed device {dev_id}", account=Account, dev_id=DevID)
        if self.links.online(DevID):
            # §7.5.39: the removed device goes back to its factory settings
            DeviceCommands(self.links, DevID).reset_default().addCallbacks(
                lambda _: log.info("device {dev_id} reset to factory defaults", dev_id=DevID),
                lambda f: log.warn("device {dev_id}: RESET_DEFAULT failed: {why}", dev_id=DevID,
                                   why=f.getErrorMessage()))
        return OK

    # -- §8.7 VideoPlay, RecordPlay

    @defer.inlineCallbacks
    def VideoPlay(self, client_ip, Account, LoginSession, DevID, ChannelNo, StreamType):
        user_id, device = yield self._device(Account, LoginSession, DevID, ChannelNo)
        if StreamType not in (1, 2):
            raise Refusal(NO_DEVICE, "no stream type %s" % (StreamType,))
        if not self.links.online(DevID):
            raise Refusal(OFFLINE, "%s is offline" % (DevID,))
        urls = yield self._play_urls(Account, user_id, device, client_ip, ChannelNo,
                                     [("streamtype", str(StreamType))], stream_type=StreamType)
        stun = self.config.mcu.stun_address
        return (OK, urls["local"], urls["upnp"], urls["turn"], stun[0] if stun else "", stun[1] if stun else 0,
                device.nat_type or 0, urls["relay"])

    @defer.inlineCallbacks
    def RecordPlay(self, client_ip, Account, LoginSession, DevID, ChannelNo, FileName):
        user_id, device = yield self._device(Account, LoginSession, DevID, ChannelNo)
        if not FileName.strip():
            raise _bad_value("FileName must not be empty")
        if not self.links.online(DevID):
            raise Refusal(OFFLINE, "%s is offline" % (DevID,))
        urls = yield self._play_urls(Account, user_id, device, client_ip, ChannelNo,
                                     [("filename", FileName)], file_name=FileName)
        return OK, urls["local"], urls["upnp"], urls["turn"], urls["relay"]

    @defer.inlineCallbacks
    def _play_urls(self, account, user_id, device, client_ip, channel_no, stream, **binding):
        """The §8.7 URLs, each with its own one-time token; "" where the route cannot work."""
        candidates = {
            # §15 step 1: only when the client and the device share a public address
            "local": (device.local_ip, device.rtsp_local_port)
            if client_ip and device.public_ip == client_ip else None,
            # §15 step 2: only when the platform reached the UPnP mapping
            "upnp": (device.upnp_ip, device.rtsp_upnp_port) if device.upnp_reachable else None,
            # §15 step 3: when the device reported a TURN relay
            "turn": (device.turn_relay_ip, device.rtsp_turn_relay_port)
            if device.turn_relay_ip not in (None, "", "0.0.0.0") else None,
            "relay": (self.config.platform.public_host, self.config.port_of("rtsp") or self.relay_port()),
        }
        routes = [route for route, address in candidates.items() if address and address[0] and address[1]]
        tokens = yield self.tokens.issue_many(device.dev_id, channel_no,
                                              ["relay" if route == "relay" else "client" for route in routes],
                                              user_id=user_id, account=account, now=self.now(), **binding)
        urls = dict.fromkeys(candidates, "")
        for route, token in zip(routes, tokens):
            host, port = candidates[route]
            query = urlencode([("devid", device.dev_id), ("channelno", str(channel_no)), *stream,
                               ("hashtoken", token)], quote_via=quote)
            host = "[%s]" % host if ":" in host else host
            urls[route] = "rtsp://%s:%d/realplay?%s" % (host, port, query)
        return urls

    # -- §8.8–§8.19 device operations (kandian.core.devices, kandian.core.alarms)

    @defer.inlineCallbacks
    def PtzControl(self, client_ip, Account, LoginSession, DevID, ChannelNo, PtzDirection):
        if PtzDirection not in range(5):
            raise _bad_value("PtzDirection must be 0 (stop) to 4 (right)")
        yield self._device(Account, LoginSession, DevID, ChannelNo)
        yield self._core("PtzControl", self.core.devices.ptz(DevID, ChannelNo, PtzDirection))
        return OK

    @defer.inlineCallbacks
    def GetCameraParam(self, client_ip, Account, LoginSession, DevID, ChannelNo, StreamType):
        yield self._device(Account, LoginSession, DevID, ChannelNo)
        answer = yield self._core("GetCameraParam", self.core.devices.camera_param(DevID, ChannelNo, StreamType))
        return OK, DevID, answer.FrameSize, answer.FrameRate, answer.RateType, answer.BitRate, answer.AudioInput

    @defer.inlineCallbacks
    def SetCameraParam(self, client_ip, Account, LoginSession, DevID, ChannelNo, StreamType, FrameSize, FrameRate,
                       RateType, BitRate, AudioInput):
        yield self._device(Account, LoginSession, DevID, ChannelNo)
        yield self._core("SetCameraParam", self.core.devices.set_camera_param(
            DevID, ChannelNo, StreamType, FrameSize=FrameSize, FrameRate=FrameRate, RateType=RateType,
            BitRate=BitRate, AudioInput=AudioInput))
        return OK

    @defer.inlineCallbacks
    def GetWifiList(self, client_ip, Account, LoginSession, DevID):
        yield self._device(Account, LoginSession, DevID)
        networks = yield self._core("GetWifiList", self.core.devices.wifi_list(DevID))
        return OK, [api.Wifi(SSID=w.SSID, Signal=w.Signal, Security=w.Security, InUser=w.InUse) for w in networks]

    @defer.inlineCallbacks
    def SetWifi(self, client_ip, Account, LoginSession, DevID, SSID, Security, Password):
        if Security not in range(6):
            raise _bad_value("Security must be 0 to 5")
        yield self._device(Account, LoginSession, DevID)
        yield self._core("SetWifi", self.core.devices.set_wifi(DevID, SSID, Security, Password))
        return OK

    @defer.inlineCallbacks
    def RebootCamera(self, client_ip, Account, LoginSession, DevID):
        yield self._device(Account, LoginSession, DevID)
        yield self._core("RebootCamera", self.core.devices.reboot(DevID))
        return OK

    @defer.inlineCallbacks
    def GetFirmwareVersion(self, client_ip, Account, LoginSession, DevID):
        user_id, device = yield self._device(Account, LoginSession, DevID)
        current, latest = yield self._core("GetFirmwareVersion", self.core.devices.firmware_version(
            device.manufacturer_no, device.model, device.dev_ver))
        return OK, current, latest

    @defer.inlineCallbacks
    def NotifyUpgrade(self, client_ip, Account, LoginSession, DevID):
        user_id, device = yield self._device(Account, LoginSession, DevID)
        register = self.config.register
        ftp = register.ftp_address or (self.config.platform.public_host,
                                       self.config.port_of("ftp") or self.ftp_port() or 21)
        yield self._core("NotifyUpgrade", self.core.devices.upgrade(
            DevID, device.manufacturer_no, device.model, device.dev_ver, ftp,
            register.ftp_account or "anonymous", register.ftp_password or "kandian"))
        return OK

    @defer.inlineCallbacks
    def GetAlarmSwitch(self, client_ip, Account, LoginSession, DevID, ChannelNo, AlarmType, DIDONo):
        if AlarmType not in range(1, 5):
            raise _bad_value("AlarmType must be 1 to 4")
        yield self._device(Account, LoginSession, DevID, ChannelNo)
        flag = yield self._core("GetAlarmSwitch", self.core.devices.alarm_switch(DevID, ChannelNo, AlarmType, DIDONo))
        return OK, flag

    @defer.inlineCallbacks
    def SetAlarmSwitch(self, client_ip, Account, LoginSession, DevID, ChannelNo, AlarmType, AlarmFlag, DIDONo):
        if AlarmType not in range(1, 5) or AlarmFlag not in (0, 1):
            raise _bad_value("AlarmType must be 1 to 4 and AlarmFlag 0 or 1")
        yield self._device(Account, LoginSession, DevID, ChannelNo)
        yield self._core("SetAlarmSwitch", self.core.devices.set_alarm_switch(DevID, ChannelNo, AlarmType,
                                                                              AlarmFlag, DIDONo))
        return OK

    @defer.inlineCallbacks
    def SetCameraAlias(self, client_ip, Account, LoginSession, DevID, ChannelNo, NewName):
        yield self._device(Account, LoginSession, DevID)
        yield self._core("SetCameraAlias", self.core.devices.rename_channel(DevID, ChannelNo, NewName))
        return OK

    # -- §8.19 QueryAlarms, QueryRecordFiles

    def _time(self, value, name):
        if not value:
            return None
        try:
            return parse_time(value, self.config.platform.timezone)
        except ValueError:
            raise _bad_value("%s must be YYYYMMDDHHMMSS" % (name,)) from None

    @defer.inlineCallbacks
    def QueryAlarms(self, client_ip, Account, LoginSession, DevID, ChannelNo, StartTime, EndTime, PageNo):
        if PageNo < 1:
            raise _bad_value("PageNo counts from 1")
        start, end = self._time(StartTime, "StartTime"), self._time(EndTime, "EndTime")
        if DevID:
            user_id, _ = yield self._device(Account, LoginSession, DevID)
        else:
            user_id = yield self._user(Account, LoginSession)
        page = yield self._core("QueryAlarms", self.core.alarms.query(user_id, DevID, ChannelNo, start, end, PageNo))
        tz = self.config.platform.timezone
        return OK, page.total, [api.Alarm(DevName=name, AlarmType=alarm_type, DIDONoName=dido,
                                          AlarmTime=format_time(when.timestamp(), tz))
                                for name, alarm_type, dido, when in page.rows]

    @defer.inlineCallbacks
    def QueryRecordFiles(self, client_ip, Account, LoginSession, DevID, ChannelNo, StartTime, EndTime, PageNo):
        if PageNo < 1:
            raise _bad_value("PageNo counts from 1")
        start, end = self._time(StartTime, "StartTime"), self._time(EndTime, "EndTime")
        if start is None or end is None:
            raise _bad_value("StartTime and EndTime are required")
        yield self._device(Account, LoginSession, DevID, ChannelNo)
        answer = yield self._core("QueryRecordFiles", self.core.devices.record_files(DevID, ChannelNo, start, end,
                                                                                     PageNo))
        files = [api.RecordFile(FileName=f.FileName, FileSize=f.FileSize, StartTime=_seconds(f.StartTime),
                                EndTime=_seconds(f.EndTime)) for f in answer.File][:PAGE_SIZE]
        return OK, answer.TotalRecordNum if answer.TotalRecordNum is not None else len(files), files


def _seconds(value: str) -> str:
    """§7.5.22's YYYYMMDDHHMM as the MCU interface's YYYYMMDDHHMMSS."""
    return value + "00" if len(value) == 12 and value.isdigit() else value
