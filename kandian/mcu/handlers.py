"""The MCU/CU operations (§8.1–§8.19, QueryRecordFiles, RecordPlay): the SOAP adapter of the core.

Each operation parses what the contract carries, calls the core
(:mod:`kandian.core`), and returns its output tuple in the order of the
contract (:mod:`kandian.mcu.api`).  The core's refusals
(:mod:`kandian.core.errors`) become §8 Results — or Faults — through the one
table of :mod:`kandian.mcu.results`, in :meth:`McuHandlers.call`.  A value
outside the spec's range (PtzDirection 7, PageNo 0, a malformed time) is a
``Client.ValueError`` fault: that is a client bug, not a state of the platform.
The secrets a peer sends (McuLogin's password, AddDevice's DevKey) are
throttled per TCP peer address (never a forwarded-for header) by the core.
"""

from __future__ import annotations

from collections import namedtuple

from spyne import Fault
from twisted.internet import defer
from twisted.logger import Logger

from ..core import errors
from ..core.alarms import PAGE_SIZE
from ..core.errors import DomainError
from ..logs import LineBudget, peer_text
from ..wiretime import format_time, parse_time
from . import api
from .results import OK, QUIET, UPGRADE, fault_for, result_for

log = Logger()


# DevList entries as plain records of the contract's field names (kandian.mcu.api.Dev):
# the answer writer reads them by name, and they cost a tenth of spyne objects to build
_Dev = namedtuple("Dev", [name for name, _ in api.Dev._type_info.items()])
_Video = namedtuple("Video", [name for name, _ in api.Video._type_info.items()])
_DIDO = namedtuple("DIDO", [name for name, _ in api.DIDO._type_info.items()])


LOGIN_LINES_PER_SECOND = 50


class Refusal(Exception):
    """Answer the operation with this Result and empty outputs."""

    def __init__(self, result: int, why: str = ""):
        super().__init__(why or "Result %d" % result)
        self.result = result


def _bad_value(what: str) -> Fault:
    return Fault("Client.ValueError", what)


class _QuietFault(Fault):
    quiet = True  # counted by the SOAP resource, not logged per request


class McuHandlers:
    def __init__(self, *, core, clock, config):
        """*core* is the platform's :class:`kandian.core.Core`."""
        self.core = core
        self.play = core.play
        self.passwords = core.accounts.passwords
        self.clock = clock
        self.config = config
        # a login line each, up to this many a second; beyond, one line a second counts the rest, as for
        # device logins (kandian.logs.LineBudget: at 1,600 logins/s the line was a tenth of a login's CPU)
        self.login_lines = LineBudget(clock, LOGIN_LINES_PER_SECOND, lambda n: log.info(
            "{count} more MCU logins in the last second, not logged one by one", count=n))

    # -- dispatch

    def call(self, name: str, ctx, args) -> defer.Deferred:
        outputs = len(ctx.descriptor.out_message._type_info)
        client_ip = getattr(ctx.transport.req.getClientAddress(), "host", None)
        d = defer.maybeDeferred(getattr(self, name), client_ip, *args)

        def refused(failure):
            failure.trap(Refusal, DomainError)
            error = failure.value
            if isinstance(error, DomainError):
                code = fault_for(name, error)
                if code is not None:
                    fault = _QuietFault(code, str(error)) if isinstance(error, QUIET) else Fault(code, str(error))
                    raise fault
                result = result_for(name, error)
                if result is None:
                    return failure
            else:
                result = error.result
            (log.debug if isinstance(error, QUIET) else log.info)(
                "MCU {operation}: Result {result} ({why})", operation=name, result=result,
                why=peer_text(str(error), 200))
            return result if outputs == 1 else (result,) + (None,) * (outputs - 1)

        return d.addErrback(refused)

    def now(self) -> float:
        return self.clock.seconds()

    def stop(self) -> None:
        """Write the count of login lines held back now (at shutdown)."""
        self.login_lines.flush()

    def _user(self, account: str, session: str) -> defer.Deferred:
        return self.core.accounts.user(account, session)

    def _device(self, account: str, session: str, dev_id: str, channel_no: int | None = None,
                control: bool = False) -> defer.Deferred:
        """(user_id, device) when the session is live and the device is bound
        to its user — and, with *channel_no*, has that channel; with *control*,
        not through a read-only share."""
        return self.core.bindings.device(account, session, dev_id, channel_no, control).addCallback(_with_user)

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
        yield self.core.accounts.sms_password(MobileTel)
        return OK

    # -- §8.2–§8.4 sessions

    @defer.inlineCallbacks
    def McuLogin(self, client_ip, Account, Password, Version):
        login = yield self.core.accounts.login(Account, Password, Version, client_ip)
        if self.login_lines.allow():
            log.info("MCU login of {account} from {ip} ({version})", account=Account, ip=client_ip,
                     version=peer_text(Version))
        return OK, login.session, login.max_devices, _dev_list(login.devices)

    def CheckClientUpgrade(self, client_ip, MobileTel, CmsUrl, CmsName, Version):
        """§9.1: the group platform's current client of the caller's platform, if newer."""
        if self.core.group is None:
            return OK, None
        try:
            release = self.core.group.client_upgrade(Version)
        except errors.BadValue as e:
            raise _bad_value(str(e)) from None
        return (OK, None) if release is None else (UPGRADE, release.url)

    @defer.inlineCallbacks
    def McuLogout(self, client_ip, Account, LoginSession):
        yield self.core.accounts.logout(Account, LoginSession)
        return OK

    @defer.inlineCallbacks
    def RefreshDevList(self, client_ip, Account, LoginSession):
        channels = yield self.core.accounts.devices(Account, LoginSession)
        return OK, _dev_list(channels)

    # -- §8.5–§8.6 bindings

    @defer.inlineCallbacks
    def AddDevice(self, client_ip, Account, LoginSession, DevID, DevKey):
        yield self.core.bindings.add(Account, LoginSession, DevID, DevKey, client_ip)
        return OK

    @defer.inlineCallbacks
    def DelDevice(self, client_ip, Account, LoginSession, DevID, DevKey):
        yield self.core.bindings.delete(Account, LoginSession, DevID, DevKey)
        return OK

    # -- §8.7 VideoPlay, RecordPlay

    @defer.inlineCallbacks
    def VideoPlay(self, client_ip, Account, LoginSession, DevID, ChannelNo, StreamType):
        user_id, device = yield self._device(Account, LoginSession, DevID, ChannelNo)
        urls = yield self.play.video(device, ChannelNo, StreamType, client_ip=client_ip, account=Account,
                                     user_id=user_id)
        stun = self.config.mcu.stun_address
        return (OK, urls.local, urls.upnp, urls.turn, stun[0] if stun else "", stun[1] if stun else 0,
                device.nat_type or 0, urls.relay)

    @defer.inlineCallbacks
    def RecordPlay(self, client_ip, Account, LoginSession, DevID, ChannelNo, FileName):
        user_id, device = yield self._device(Account, LoginSession, DevID, ChannelNo)
        urls = yield self.play.record(device, ChannelNo, FileName, client_ip=client_ip, account=Account,
                                      user_id=user_id)
        return OK, urls.local, urls.upnp, urls.turn, urls.relay

    # -- §8.8–§8.19 device operations (kandian.core.devices, kandian.core.alarms)

    @defer.inlineCallbacks
    def PtzControl(self, client_ip, Account, LoginSession, DevID, ChannelNo, PtzDirection):
        if PtzDirection not in range(5):
            raise _bad_value("PtzDirection must be 0 (stop) to 4 (right)")
        yield self._device(Account, LoginSession, DevID, ChannelNo, control=True)
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
        yield self._device(Account, LoginSession, DevID, ChannelNo, control=True)
        yield self._core("SetCameraParam", self.core.devices.set_camera_param(
            DevID, ChannelNo, StreamType, FrameSize=FrameSize, FrameRate=FrameRate, RateType=RateType,
            BitRate=BitRate, AudioInput=AudioInput))
        return OK

    @defer.inlineCallbacks
    def GetWifiList(self, client_ip, Account, LoginSession, DevID):
        yield self._device(Account, LoginSession, DevID, control=True)
        networks = yield self._core("GetWifiList", self.core.devices.wifi_list(DevID))
        return OK, [api.Wifi(SSID=w.SSID, Signal=w.Signal, Security=w.Security, InUser=w.InUse) for w in networks]

    @defer.inlineCallbacks
    def SetWifi(self, client_ip, Account, LoginSession, DevID, SSID, Security, Password):
        if Security not in range(6):
            raise _bad_value("Security must be 0 to 5")
        yield self._device(Account, LoginSession, DevID, control=True)
        yield self._core("SetWifi", self.core.devices.set_wifi(DevID, SSID, Security, Password))
        return OK

    @defer.inlineCallbacks
    def RebootCamera(self, client_ip, Account, LoginSession, DevID):
        yield self._device(Account, LoginSession, DevID, control=True)
        yield self._core("RebootCamera", self.core.devices.reboot(DevID))
        return OK

    @defer.inlineCallbacks
    def GetFirmwareVersion(self, client_ip, Account, LoginSession, DevID):
        user_id, device = yield self._device(Account, LoginSession, DevID)
        current, latest = yield self._core("GetFirmwareVersion", self.core.firmware.version(
            device.manufacturer_no, device.model, device.dev_ver))
        return OK, current, latest

    @defer.inlineCallbacks
    def NotifyUpgrade(self, client_ip, Account, LoginSession, DevID):
        user_id, device = yield self._device(Account, LoginSession, DevID, control=True)
        yield self._core("NotifyUpgrade", self.core.upgrades.upgrade_one(
            DevID, device.manufacturer_no, device.model, device.dev_ver))
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
        yield self._device(Account, LoginSession, DevID, ChannelNo, control=True)
        yield self._core("SetAlarmSwitch", self.core.devices.set_alarm_switch(DevID, ChannelNo, AlarmType,
                                                                              AlarmFlag, DIDONo))
        return OK

    @defer.inlineCallbacks
    def SetCameraAlias(self, client_ip, Account, LoginSession, DevID, ChannelNo, NewName):
        yield self._device(Account, LoginSession, DevID, control=True)
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


_record = tuple.__new__  # a named tuple made from a tuple of its fields, without its Python-level __new__


def _dev_list(channels) -> list:
    """DevList of the core's ListedChannels: flags as 0/1 (``+flag`` is the int of a bool), the
    store's (StreamType, FrameSize) and (DIDONo, DIDONoName) pairs as Video and DIDO."""
    return [_record(_Dev, (dev_id, channel_no, name, +online, +ptz, share_flag, +motion, +infrared, +manual,
                           +dido, [_record(_Video, v) for v in videos], [_record(_DIDO, d) for d in didos]))
            for dev_id, channel_no, name, online, ptz, share_flag, motion, infrared, manual, dido, videos, didos
            in channels]


def _with_user(device) -> tuple:
    return device.user_id, device


def _seconds(value: str) -> str:
    """§7.5.22's YYYYMMDDHHMM as the MCU interface's YYYYMMDDHHMMSS."""
    return value + "00" if len(value) == 12 and value.isdigit() else value
