"""The pure state of one simulated camera or NVR (spec §7.5, device side).

A :class:`DeviceState` is what a real IPC, DVR or NVR keeps about itself:
identity (DevID, DevKey, DevType, model, firmware DevVer), capabilities
(§7.5.2), network addresses (§7.5.1, §7.5.3), local storage (§7.5.36) and the
settings the platform can change.

* The builders make the bodies the device sends: :meth:`~DeviceState.login_request`
  (§7.5.1), :meth:`~DeviceState.ability_request` (§7.5.2),
  :meth:`~DeviceState.heartbeat_request` (§7.5.3),
  :meth:`~DeviceState.exception_request` (§7.5.4),
  :meth:`~DeviceState.video_play_request` (§7.5.5),
  :meth:`~DeviceState.record_play_request` (§7.5.23),
  :meth:`~DeviceState.picture_request` (§7.5.27),
  :meth:`~DeviceState.alarm_request` (§7.5.34).
* :meth:`~DeviceState.answer` takes any platform request of CMD 0x60–0x82
  that has a body class and returns the device's response, changing the
  state, so that a set followed by a get round-trips.

Pure: no I/O, no Twisted, no clock. Times come in as arguments (POSIX
seconds, as ``IReactorTime.seconds()`` gives them).

Memory: 50,000 idle devices must fit in one process. Identity, addresses,
capabilities and storage are a handful of slots, the last three shared
between devices until one changes; everything the platform can set lives in
a separate settings object created by the first command that changes
something (a get is answered from the defaults without creating it), and
dropped again by RESET_DEFAULT.

Readings of the spec
--------------------
* Result: 0 success; :data:`FAILED` (1) for every refusal (unknown channel,
  value out of the ranges the tables give, a capability the device lacks, a
  DevID that is not this device's), since the tables only say "other: error".
  STORE_QUERY's Result is the medium's state and STORE_FORMAT's has its own
  codes (§7.5.36–§7.5.37).
* ChannelNo counts from 0 (§7.5.6); StreamType is 1 or 2. FrameSize follows
  the §7.5.6 table (1 720P, 2 VGA, 3 D1, 4 CIF, 5 QVGA), not the §7.5.2
  sample (1 720P, 2 D1, 3 CIF); FrameRate 2–25 as §7.5.7 says (§7.5.6 says
  5–25).
* A recording policy day holds at most 4 slots per channel (§7.5.13); a
  picture policy may have StartTime = EndTime (FTP policies, §7.5.24).
  PolicyIDs are numbered from 1 per device, recording and picture policies
  sharing one counter ("设备内全局唯一").
* DIDONo (alarm type 4) is accepted from 0 to DIDONum inclusive: the spec
  does not say whether it counts from 0 or 1. For the other alarm types
  DIDONo is ignored.
* NVR_LINK_IPCAM on a channel bound to another IPC is refused;
  NVR_MODIFY_IPCAM of an IPC that is bound nowhere is "ignored" (§7.5.19)
  and answered with Result 0; NVR_DEL_IPCAM also deletes the channel's
  recording policies (§7.5.20) and succeeds on a channel that is unbound.
  Binding commands are refused by an IPC or DVR.
* RecordLoop is a device setting per StorageFlag (§7.5.30), on by default;
  RecordFull is per channel and StorageFlag, off by default.
* FILE_QUERY: the medium holds one 15-minute recording (§7.5.13: "SD 卡存储
  15 分钟一个") starting at every quarter hour; the files whose start lies in
  [StartTime, EndTime) are listed 10 a page, named
  ``DevID_ChannelNo_YYYYMMDDHHMMSS.mp4`` (§7.5.22), sized from the main
  stream's BitRate. Refused when the medium is not ready.
* RESET_DEFAULT drops every setting (recordings and the medium stay, as
  §7.5.39 says); REBOOT, UPGRADE and LOG_UPLOAD change nothing and are only
  recorded in :attr:`DeviceState.maintenance_log`.
* A change of LocalStoreFlag (formatting an unformatted medium) sets a flag
  the link reads with :meth:`DeviceState.take_ability_change` to report its
  abilities again (§7.5.2).
"""

from __future__ import annotations

import datetime
import re
import zlib
from typing import Any, Callable, TypeVar
from zoneinfo import ZoneInfo

import attrs

from kandian import wiretime
from kandian.device.messages import (
    AbilityUpRequest,
    AddPicturePolicyRequest,
    AddRecordPolicyRequest,
    AlarmNotifyRequest,
    DayPolicy,
    DelPicturePolicyRequest,
    DelRecordPolicyRequest,
    EStoreActivateRequest,
    ExceptionNotifyRequest,
    FileQueryRequest,
    FileQueryResponse,
    GetAlarmRequest,
    GetAlarmResponse,
    GetChannelRequest,
    GetChannelResponse,
    GetEStoreRequest,
    GetEStoreResponse,
    GetRecordFullRequest,
    GetRecordFullResponse,
    GetRecordLoopRequest,
    GetRecordLoopResponse,
    GetWifiRequest,
    GetWifiResponse,
    HeartbeatRequest,
    IpcamChannel,
    LoginRequest,
    LoginResponse,
    LogUploadRequest,
    Message,
    MessageError,
    NotifyPictureRequest,
    NvrDelIpcamRequest,
    NvrLinkIpcamRequest,
    NvrModifyIpcamRequest,
    NvrQueryIpcamRequest,
    NvrQueryIpcamResponse,
    Onvif,
    PtzRequest,
    QueryPicturePolicyRequest,
    QueryPicturePolicyResponse,
    QueryRecordPolicyRequest,
    QueryRecordPolicyResponse,
    RebootRequest,
    RecordFile,
    RecordPlayRequest,
    ResetDefaultRequest,
    SetAlarmRequest,
    SetChannelRequest,
    SetEStoreRequest,
    SetRecordFullRequest,
    SetRecordLoopRequest,
    SetWifiRequest,
    StoreFormatRequest,
    StoreFormatResponse,
    StoreQueryRequest,
    StoreQueryResponse,
    UpgradeRequest,
    Video,
    VideoPlayRequest,
    WeekPolicy,
    WifiSSID,
    message_class,
)

__all__ = [
    "OK",
    "FAILED",
    "IPC",
    "DVR",
    "NVR",
    "DEFAULT_DEV_VER",
    "DEFAULT_TIMEZONE",
    "PAGE_SIZE",
    "Capabilities",
    "Addresses",
    "ChannelParams",
    "EStoreAccount",
    "NvrBinding",
    "UnsupportedRequest",
    "DeviceState",
]

OK = 0
FAILED = 1

IPC, DVR, NVR = 1, 2, 3  # DevType (§7.2.1)

DEFAULT_DEV_VER = "V1.5_20131210"  # the §7.5.1 example
DEFAULT_TIMEZONE = ZoneInfo("Asia/Shanghai")
PAGE_SIZE = 10  # §7.5.22
SEGMENT_MINUTES = 15  # §7.5.13: SD card recordings are 15 minutes long
MAX_POLICIES_A_DAY = 4  # §7.5.13

_MODELS = {IPC: "SIM-IPC", DVR: "SIM-DVR", NVR: "SIM-NVR"}
# §7.5.6 BitRate codes in kbit/s.
_BITRATES = (0, 96, 128, 196, 256, 384, 512, 768, 1024, 1536, 2048, 2560, 3072, 4096)
_HHMM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")
_MINUTE = datetime.timedelta(minutes=1)
_EPOCH = datetime.datetime(2000, 1, 1)


@attrs.frozen(kw_only=True)
class Capabilities:
    """What the device can do, as its ability report says (§7.5.2)."""

    PTZFlag: int = 1
    EStoreFlag: int = 1
    MotionDetectionFlag: int = 1
    InfraredDetectionFlag: int = 1
    ManualAlarmFlag: int = 1
    DIDOAlarmFlag: int = 1
    DIDONum: int = 2
    Onvif: Onvif | None = None  # §7.5.2: IPCs only

    def has_alarm(self, alarm_type: int) -> bool:
        flags = {
            1: self.MotionDetectionFlag,
            2: self.InfraredDetectionFlag,
            3: self.ManualAlarmFlag,
            4: self.DIDOAlarmFlag,
        }
        return flags.get(alarm_type, 0) == 1


IPC_CAPABILITIES = Capabilities(Onvif=Onvif(Port=80, Account="admin", Password="admin"))
RECORDER_CAPABILITIES = Capabilities(EStoreFlag=0, DIDONum=4)  # §7.5.11: 天翼云 is for IPCs


@attrs.frozen(kw_only=True)
class Addresses:
    """Where the device can be reached (§7.5.1, §7.5.3).

    The defaults are those of a camera whose UPnP mapping failed ("0.0.0.0")
    and that has no TURN relay, on a wired LAN behind an unknown NAT.
    """

    UpnpIP: str = "0.0.0.0"
    RtspUpnpPort: int = 0
    LocalIP: str = "192.168.1.64"
    RtspLocalPort: int = 554
    TurnRelayIP: str = "0.0.0.0"
    RtspTurnRelayPort: int = 0
    NetType: int = 0  # 0 wired, 1 Wi-Fi, 2 3G
    NatType: int = 0  # 0 not detected … 6 public address

    def heartbeat_fields(self) -> tuple[object, ...]:
        """What a heartbeat carries: a change here makes the device beat at once (§7.5.3)."""
        return (
            self.UpnpIP,
            self.RtspUpnpPort,
            self.LocalIP,
            self.RtspLocalPort,
            self.TurnRelayIP,
            self.RtspTurnRelayPort,
        )


DEFAULT_ADDRESSES = Addresses()


def _between(low: int, high: int) -> Callable[[int | None], bool]:
    return lambda value: value is None or low <= value <= high


@attrs.frozen(kw_only=True)
class ChannelParams:
    """Video parameters of one stream of one channel (§7.5.6–§7.5.7)."""

    FrameSize: int
    FrameRate: int
    RateType: int
    BitRate: int
    AudioInput: int

    VALID = {
        "FrameSize": _between(1, 5),
        "FrameRate": _between(2, 25),
        "RateType": _between(1, 2),
        "BitRate": _between(1, 13),
        "AudioInput": _between(0, 1),
    }


_DEFAULT_PARAMS = {
    1: ChannelParams(FrameSize=1, FrameRate=25, RateType=1, BitRate=8, AudioInput=1),
    2: ChannelParams(FrameSize=4, FrameRate=15, RateType=2, BitRate=4, AudioInput=1),
}


@attrs.frozen(kw_only=True)
class EStoreAccount:
    """The 天翼云 account (§7.5.1 LOGIN_RES, §7.5.11–§7.5.12)."""

    URL: str | None
    Account: str | None
    Password: str | None = attrs.field(repr=False)
    StorageSpace: int | None
    ERecordBucket: str | None
    EPictureBucket: str | None


# Logins usually hand every device the same account: share equal ones.
_SHARED_ACCOUNTS: dict[EStoreAccount, EStoreAccount] = {}
_MAX_SHARED_ACCOUNTS = 1024


def _shared(account: EStoreAccount) -> EStoreAccount:
    shared = _SHARED_ACCOUNTS.get(account)
    if shared is None:
        if len(_SHARED_ACCOUNTS) >= _MAX_SHARED_ACCOUNTS:
            return account
        _SHARED_ACCOUNTS[account] = shared = account
    return shared


@attrs.frozen(kw_only=True)
class NvrBinding:
    """An IPC bound to an NVR channel (§7.5.18–§7.5.19)."""

    IpcamDevID: str
    IpcamLocalIP: str
    OnvifPort: int
    OnvifAccount: str
    OnvifPassword: str = attrs.field(repr=False)


class UnsupportedRequest(MessageError):
    """:meth:`DeviceState.answer` was given something that is not a platform request."""


class _Refused(Exception):
    def __init__(self, result: int = FAILED) -> None:
        self.result = result


class _Settings:
    """Everything the platform can set; an empty container means "factory defaults"."""

    __slots__ = (
        "channel_params",
        "wifi_networks",
        "wifi_in_use",
        "wifi_password",
        "ptz",
        "estore",
        "estore_active",
        "record_policies",
        "picture_policies",
        "last_policy_id",
        "record_full",
        "record_loop",
        "alarms",
        "nvr_bindings",
    )

    def __init__(self) -> None:
        self.channel_params: dict[tuple[int, int], ChannelParams] = {}
        self.wifi_networks: list[WifiSSID] | None = None  # None: the scanned defaults
        self.wifi_in_use: str | None = None
        self.wifi_password: str | None = None
        self.ptz: dict[int, int] = {}
        self.estore: EStoreAccount | None = None
        self.estore_active = 1  # §7.5.38: factory default 1
        self.record_policies: dict[int, list[WeekPolicy]] = {}
        self.picture_policies: dict[tuple[int, int], list[DayPolicy]] = {}
        self.last_policy_id = 0
        self.record_full: dict[tuple[int, int], int] = {}
        self.record_loop: dict[int, int] = {}
        self.alarms: dict[tuple[int, int, int | None], int] = {}
        self.nvr_bindings: dict[int, NvrBinding] = {}


# Read-only stand-in while a device has no settings of its own; only
# DeviceState._edit() may create settings, so this one is never written.
_FACTORY = _Settings()

_Handler = TypeVar("_Handler", bound=Callable[..., Message])
_HANDLERS: dict[type[Message], Callable[[DeviceState, Any], Message]] = {}


def _answers(cls: type[Message]) -> Callable[[_Handler], _Handler]:
    """Method decorator: the method answers requests of class *cls*."""

    def enter(handler: _Handler) -> _Handler:
        _HANDLERS[cls] = handler
        return handler

    return enter


def _check(condition: bool, result: int = FAILED) -> None:
    if not condition:
        raise _Refused(result)


def _check_times(start: str, end: str, *, equal_ok: bool = False) -> None:
    _check(_HHMM.fullmatch(start) is not None and _HHMM.fullmatch(end) is not None)
    _check(start < end or equal_ok and start == end)


class DeviceState:
    """One simulated device. See the module docstring for the rules it follows."""

    __slots__ = (
        "dev_id",
        "dev_key",
        "dev_type",
        "model",
        "dev_ver",
        "channel_num",
        "capabilities",
        "addresses",
        "local_store",
        "total_size",
        "free_size",
        "cur_video_num",
        "_settings",
        "_log",
        "_ability_changed",
    )

    # §7.5.36 sizes in MB: a 32 GB SD card, a 1 TB disk; 40 % free.
    IPC_STORE_SIZE = 30436
    IPC_STORE_FREE = 12174
    RECORDER_STORE_SIZE = 953869
    RECORDER_STORE_FREE = 381547

    def __init__(
        self,
        dev_id: str,
        dev_key: str,
        dev_type: int = IPC,
        *,
        channel_num: int = 1,
        model: str | None = None,
        dev_ver: str = DEFAULT_DEV_VER,
        capabilities: Capabilities | None = None,
        addresses: Addresses = DEFAULT_ADDRESSES,
        local_store: int = 1,
        total_size: int | None = None,
        free_size: int | None = None,
    ) -> None:
        if dev_type not in _MODELS:
            raise ValueError(f"DevType must be 1 (IPC), 2 (DVR) or 3 (NVR), got {dev_type!r}")
        if channel_num < 1:
            raise ValueError(f"a device has at least one channel, got {channel_num}")
        self.dev_id = dev_id
        self.dev_key = dev_key
        self.dev_type = dev_type
        self.model = _MODELS[dev_type] if model is None else model
        self.dev_ver = dev_ver
        self.channel_num = channel_num
        if capabilities is None:
            capabilities = IPC_CAPABILITIES if dev_type == IPC else RECORDER_CAPABILITIES
        self.capabilities = capabilities
        self.addresses = addresses
        self.local_store = local_store  # LocalStoreFlag: 1 ready, 0 none, 2 unformatted, 3 faulty
        ipc = dev_type == IPC
        if total_size is None:
            total_size = self.IPC_STORE_SIZE if ipc else self.RECORDER_STORE_SIZE
        if free_size is None:
            free_size = min(total_size, self.IPC_STORE_FREE if ipc else self.RECORDER_STORE_FREE)
        self.total_size = total_size
        self.free_size = free_size
        self.cur_video_num = 0  # CurVideoNum of the heartbeat
        self._settings: _Settings | None = None
        self._log: list[tuple[str, Message]] | None = None
        self._ability_changed = False

    def __repr__(self) -> str:
        kind = {IPC: "IPC", DVR: "DVR", NVR: "NVR"}[self.dev_type]
        return f"<DeviceState {kind} {self.dev_id} {self.channel_num} channel(s)>"

    @property
    def manufacturer_no(self) -> str:
        """ManufacturerNo: the first three digits of the DevID (§7.2.1)."""
        return self.dev_id[:3]

    @property
    def maintenance_log(self) -> tuple[tuple[str, Message], ...]:
        """``(ROOT, request)`` of each REBOOT, UPGRADE, LOG_UPLOAD and RESET_DEFAULT answered."""
        return tuple(self._log or ())

    @property
    def has_settings(self) -> bool:
        """Whether the platform changed anything since the factory (or the last reset)."""
        return self._settings is not None

    def _view(self) -> _Settings:
        return _FACTORY if self._settings is None else self._settings

    def _edit(self) -> _Settings:
        if self._settings is None:
            self._settings = _Settings()
        return self._settings

    def take_ability_change(self) -> bool:
        """True once after something the ability report carries has changed."""
        changed, self._ability_changed = self._ability_changed, False
        return changed

    # -- what the device reads and changes itself -----------------------------------

    def set_addresses(self, **changes: Any) -> bool:
        """Change addresses (``UpnpIP=…``, ``RtspUpnpPort=…`` …).

        Returns whether something a heartbeat carries changed, in which case
        the device must beat at once (§7.5.3).
        """
        before = self.addresses
        self.addresses = attrs.evolve(before, **changes)
        return self.addresses.heartbeat_fields() != before.heartbeat_fields()

    def set_local_store(self, flag: int, total_size: int | None = None, free_size: int | None = None) -> None:
        """Insert, remove or break the medium (§7.5.2 LocalStoreFlag); the abilities change."""
        if flag != self.local_store:
            self._ability_changed = True
        self.local_store = flag
        if total_size is not None:
            self.total_size = total_size
        if free_size is not None:
            self.free_size = free_size

    def apply_login(self, response: LoginResponse) -> None:
        """Keep the 天翼云 account a successful LOGIN_RES hands over (§7.5.1)."""
        if response.EURL is None or not response.EStorageSpace:
            return
        account = _shared(
            EStoreAccount(
                URL=response.EURL,
                Account=response.EAccount,
                Password=response.EPassword,
                StorageSpace=response.EStorageSpace,
                ERecordBucket=response.ERecordBucket,
                EPictureBucket=response.EPictureBucket,
            )
        )
        if self._view().estore != account:
            self._edit().estore = account

    def channel_params(self, channel: int, stream_type: int) -> ChannelParams:
        return self._view().channel_params.get((channel, stream_type), _DEFAULT_PARAMS[stream_type])

    def wifi_networks(self) -> list[WifiSSID]:
        """The hotspots the device sees, strongest first, at most ten (§7.5.8)."""
        settings = self._view()
        networks = settings.wifi_networks
        if networks is None:
            networks = self._scanned_networks()
        in_use = settings.wifi_in_use
        listed = [attrs.evolve(network, InUse=int(network.SSID == in_use)) for network in networks]
        listed.sort(key=lambda network: -(network.Signal or 0))
        return listed[:10]

    def _scanned_networks(self) -> list[WifiSSID]:
        tail = self.dev_id[-4:]
        return [
            WifiSSID(SSID=f"ChinaNet-{tail}", Signal=86, Security=3, InUse=0),
            WifiSSID(SSID=f"Shop-{tail}", Signal=71, Security=4, InUse=0),
            WifiSSID(SSID="CMCC-WEB", Signal=48, Security=0, InUse=0),
            WifiSSID(SSID=f"TP-LINK_{tail}", Signal=23, Security=2, InUse=0),
        ]

    @property
    def wifi_in_use(self) -> str | None:
        return self._view().wifi_in_use

    @property
    def estore_account(self) -> EStoreAccount | None:
        return self._view().estore

    @property
    def estore_active(self) -> int:
        return self._view().estore_active

    def ptz_direction(self, channel: int) -> int | None:
        """The last PtzDirection sent to *channel* (§7.5.10), or None."""
        return self._view().ptz.get(channel)

    def alarm_flag(self, channel: int, alarm_type: int, dido_no: int | None = None) -> int:
        """AlarmFlag of a switch (§7.5.32): 0 disarmed (the default), 1 armed."""
        return self._view().alarms.get(self._alarm_key(channel, alarm_type, dido_no), 0)

    def nvr_bindings(self) -> dict[int, NvrBinding]:
        return dict(self._view().nvr_bindings)

    def record_policies(self, channel: int) -> list[WeekPolicy]:
        return list(self._view().record_policies.get(channel, ()))

    # -- bodies the device sends ----------------------------------------------------

    def login_request(self) -> LoginRequest:
        """§7.5.1 LOGIN_REQ."""
        a = self.addresses
        return LoginRequest(
            DevVer=self.dev_ver,
            DevID=self.dev_id,
            DevKey=self.dev_key,
            UpnpIP=a.UpnpIP,
            RtspUpnpPort=a.RtspUpnpPort,
            LocalIP=a.LocalIP,
            RtspLocalPort=a.RtspLocalPort,
            TurnRelayIP=a.TurnRelayIP,
            RtspTurnRelayPort=a.RtspTurnRelayPort,
            NetType=a.NetType,
            NatType=a.NatType,
        )

    def ability_request(self) -> AbilityUpRequest:
        """§7.5.2 ABILITYUP_REQ; Video lists channel 0's current FrameSize per stream."""
        c = self.capabilities
        return AbilityUpRequest(
            DevID=self.dev_id,
            ChannelNum=self.channel_num,
            PTZFlag=c.PTZFlag,
            EStoreFlag=c.EStoreFlag,
            LocalStoreFlag=self.local_store,
            MotionDetectionFlag=c.MotionDetectionFlag,
            InfraredDetectionFlag=c.InfraredDetectionFlag,
            ManualAlarmFlag=c.ManualAlarmFlag,
            DIDOAlarmFlag=c.DIDOAlarmFlag,
            DIDONum=c.DIDONum,
            Video=tuple(
                Video(StreamType=stream, FrameSize=self.channel_params(0, stream).FrameSize)
                for stream in (1, 2)
            ),
            Onvif=c.Onvif,
        )

    def heartbeat_request(self) -> HeartbeatRequest:
        """§7.5.3 HEARTBEAT_REQ."""
        a = self.addresses
        return HeartbeatRequest(
            DevID=self.dev_id,
            CurVideoNum=self.cur_video_num,
            UpnpIP=a.UpnpIP,
            RtspUpnpPort=a.RtspUpnpPort,
            LocalIP=a.LocalIP,
            RtspLocalPort=a.RtspLocalPort,
            TurnRelayIP=a.TurnRelayIP,
            RtspTurnRelayPort=a.RtspTurnRelayPort,
        )

    def exception_request(
        self, exception_type: int, desc: str | None = None, channel: int | None = None
    ) -> ExceptionNotifyRequest:
        """§7.5.4 EXCEPTION_NOTIFY_REQ (ExceptionType 1–12 as tabled, 0 unknown)."""
        return ExceptionNotifyRequest(
            DevID=self.dev_id, ChannelNo=channel, ExceptionType=exception_type, ExceptionDesc=desc
        )

    def video_play_request(self, channel: int, stream_type: int, token: str) -> VideoPlayRequest:
        """§7.5.5 VIDEO_PLAY_REQ: is this live-view HashToken good?"""
        return VideoPlayRequest(DevID=self.dev_id, ChannelNo=channel, StreamType=stream_type, HashToken=token)

    def record_play_request(self, channel: int, file_name: str, token: str) -> RecordPlayRequest:
        """§7.5.23 RECORD_PLAY_REQ: is this playback HashToken good?"""
        return RecordPlayRequest(DevID=self.dev_id, ChannelNo=channel, FileName=file_name, HashToken=token)

    def picture_name(self, channel: int, when: float, tz: ZoneInfo = DEFAULT_TIMEZONE) -> str:
        """``DevID_ChannelNo_YYYYMMDDHHMMSS.JPG`` (§7.5.27, §7.5.34)."""
        return f"{self.dev_id}_{channel}_{wiretime.format_time(when, tz)}.JPG"

    def picture_request(
        self, channel: int, when: float, file_name: str | None = None, tz: ZoneInfo = DEFAULT_TIMEZONE
    ) -> NotifyPictureRequest:
        """§7.5.27 NOTIFY_PICTURE_REQ for a snapshot taken at *when* (POSIX seconds)."""
        if file_name is None:
            file_name = self.picture_name(channel, when, tz)
        return NotifyPictureRequest(
            DevID=self.dev_id, ChannelNo=channel, FileName=file_name, Time=wiretime.format_time(when, tz)
        )

    def alarm_request(
        self,
        channel: int,
        alarm_type: int,
        *,
        when: float | None = None,
        desc: str | None = None,
        dido_no: int | None = None,
        file_name: str | None = None,
        tz: ZoneInfo = DEFAULT_TIMEZONE,
    ) -> AlarmNotifyRequest:
        """§7.5.34 ALARM_NOTIFY_REQ; with *when* and no *file_name*, names the snapshot."""
        if file_name is None and when is not None:
            file_name = self.picture_name(channel, when, tz)
        return AlarmNotifyRequest(
            DevID=self.dev_id,
            ChannelNo=channel,
            AlarmType=alarm_type,
            AlarmDesc=desc,
            DIDONo=dido_no if alarm_type == 4 else None,
            FileName=file_name,
        )

    # -- answering the platform -----------------------------------------------------

    def answer(self, request: Message) -> Message:
        """The response to a platform request of CMD 0x60–0x82 (§7.5.6–§7.5.39).

        Never raises for a request of a supported class: refusals are
        responses with a non-zero Result. Raises :class:`UnsupportedRequest`
        for anything else.
        """
        handler = _HANDLERS.get(type(request))
        if handler is None:
            raise UnsupportedRequest(f"a device does not answer {type(request).__name__}")
        try:
            _check(getattr(request, "DevID", None) == self.dev_id)
            return handler(self, request)
        except _Refused as refusal:
            return message_class(request.CMD, True)(Result=refusal.result, DevID=self.dev_id)

    def _ok(self, request: Message, **fields: Any) -> Message:
        return message_class(request.CMD, True)(Result=OK, DevID=self.dev_id, **fields)

    def _check_channel(self, channel: int) -> None:
        _check(0 <= channel < self.channel_num)

    def _alarm_key(self, channel: int, alarm_type: int, dido_no: int | None) -> tuple[int, int, int | None]:
        return (channel, alarm_type, dido_no if alarm_type == 4 else None)

    def _next_policy_id(self) -> str:
        settings = self._edit()
        settings.last_policy_id += 1
        return str(settings.last_policy_id)

    def _record(self, request: Message) -> None:
        if self._log is None:
            self._log = []
        self._log.append((request.ROOT, request))

    # §7.5.6–§7.5.7 video parameters

    @_answers(SetChannelRequest)
    def _set_channel(self, request: SetChannelRequest) -> Message:
        self._check_channel(request.ChannelNo)
        _check(request.StreamType in _DEFAULT_PARAMS)
        changes = {name: getattr(request, name) for name in ChannelParams.VALID if getattr(request, name) is not None}
        _check(all(ChannelParams.VALID[name](value) for name, value in changes.items()))
        key = (request.ChannelNo, request.StreamType)
        params = attrs.evolve(self.channel_params(*key), **changes)
        if params != self.channel_params(*key):
            self._edit().channel_params[key] = params
            if request.ChannelNo == 0 and "FrameSize" in changes:
                self._ability_changed = True
        return self._ok(request)

    @_answers(GetChannelRequest)
    def _get_channel(self, request: GetChannelRequest) -> Message:
        self._check_channel(request.ChannelNo)
        _check(request.StreamType in _DEFAULT_PARAMS)
        return self._ok(request, **attrs.asdict(self.channel_params(request.ChannelNo, request.StreamType)))

    # §7.5.8–§7.5.9 Wi-Fi

    @_answers(GetWifiRequest)
    def _get_wifi(self, request: GetWifiRequest) -> Message:
        return self._ok(request, WifiSSID=self.wifi_networks())

    @_answers(SetWifiRequest)
    def _set_wifi(self, request: SetWifiRequest) -> Message:
        _check(0 <= request.Security <= 5 and request.SSID != "")
        settings = self._edit()
        if settings.wifi_networks is None:
            settings.wifi_networks = self._scanned_networks()
        if all(network.SSID != request.SSID for network in settings.wifi_networks):
            # Configured by hand before the device saw it: list it as in range.
            settings.wifi_networks.append(WifiSSID(SSID=request.SSID, Signal=60, Security=request.Security, InUse=0))
        settings.wifi_in_use = request.SSID
        settings.wifi_password = request.Password
        return self._ok(request)

    # §7.5.10 PTZ

    @_answers(PtzRequest)
    def _ptz(self, request: PtzRequest) -> Message:
        self._check_channel(request.ChannelNo)
        _check(self.capabilities.PTZFlag == 1 and 0 <= request.PtzDirection <= 4)
        self._edit().ptz[request.ChannelNo] = request.PtzDirection
        return self._ok(request)

    # §7.5.11–§7.5.12, §7.5.38 天翼云

    @_answers(SetEStoreRequest)
    def _set_estore(self, request: SetEStoreRequest) -> Message:
        _check(self.capabilities.EStoreFlag == 1)
        self._edit().estore = EStoreAccount(
            URL=request.URL,
            Account=request.Account,
            Password=request.Password,
            StorageSpace=request.StorageSpace,
            ERecordBucket=request.ERecordBucket,
            EPictureBucket=request.EPictureBucket,
        )
        return self._ok(request)

    @_answers(GetEStoreRequest)
    def _get_estore(self, request: GetEStoreRequest) -> Message:
        _check(self.capabilities.EStoreFlag == 1)
        account = self._view().estore
        return self._ok(request, **({} if account is None else attrs.asdict(account)))

    @_answers(EStoreActivateRequest)
    def _estore_activate(self, request: EStoreActivateRequest) -> Message:
        _check(self.capabilities.EStoreFlag == 1 and request.Flag in (0, 1))
        if request.Flag != self.estore_active:
            self._edit().estore_active = request.Flag
        return self._ok(request)

    # §7.5.13–§7.5.15 recording policies

    @_answers(AddRecordPolicyRequest)
    def _add_record_policy(self, request: AddRecordPolicyRequest) -> Message:
        self._check_channel(request.ChannelNo)
        current = self.record_policies(request.ChannelNo)
        for policy in request.WeekPolicy:
            _check(policy.StoreType in (0, 1) and policy.StreamType in (1, 2))
            _check(policy.StoreType == 0 or self.capabilities.EStoreFlag == 1)
            _check_times(policy.StartTime, policy.EndTime)
        for week in {policy.Week for policy in request.WeekPolicy}:
            slots = [policy for policy in (*current, *request.WeekPolicy) if policy.Week == week]
            _check(len(slots) <= MAX_POLICIES_A_DAY)
        if request.WeekPolicy:
            added = [attrs.evolve(policy, PolicyID=self._next_policy_id()) for policy in request.WeekPolicy]
            self._edit().record_policies[request.ChannelNo] = current + added
        return self._ok(request)

    @_answers(QueryRecordPolicyRequest)
    def _query_record_policy(self, request: QueryRecordPolicyRequest) -> Message:
        self._check_channel(request.ChannelNo)
        return self._ok(request, WeekPolicy=self.record_policies(request.ChannelNo))

    @_answers(DelRecordPolicyRequest)
    def _del_record_policy(self, request: DelRecordPolicyRequest) -> Message:
        self._check_channel(request.ChannelNo)
        current = self.record_policies(request.ChannelNo)
        kept = [policy for policy in current if policy.PolicyID != request.PolicyID]
        _check(len(kept) < len(current))
        self._edit().record_policies[request.ChannelNo] = kept
        return self._ok(request)

    # §7.5.16, §7.5.17, §7.5.35, §7.5.39 maintenance

    @_answers(RebootRequest)
    def _reboot(self, request: RebootRequest) -> Message:
        self._record(request)
        return self._ok(request)

    @_answers(UpgradeRequest)
    def _upgrade(self, request: UpgradeRequest) -> Message:
        # §7.5.17: the device only checks the parameters before answering.
        _check(request.FtpIP != "" and request.FtpPort > 0 and request.FtpFileName != "")
        self._record(request)
        return self._ok(request)

    @_answers(LogUploadRequest)
    def _log_upload(self, request: LogUploadRequest) -> Message:
        _check(request.FtpIP != "" and request.FtpPort > 0)
        self._record(request)
        return self._ok(request)

    @_answers(ResetDefaultRequest)
    def _reset_default(self, request: ResetDefaultRequest) -> Message:
        reported = self.ability_request()
        self._settings = None
        if self.ability_request() != reported:
            self._ability_changed = True
        self._record(request)
        return self._ok(request)

    # §7.5.18–§7.5.21 NVR bindings

    @_answers(NvrLinkIpcamRequest)
    def _nvr_link(self, request: NvrLinkIpcamRequest) -> Message:
        _check(self.dev_type == NVR)
        self._check_channel(request.ChannelNo)
        _check(request.IpcamDevID != "")
        bindings = self._view().nvr_bindings
        bound = bindings.get(request.ChannelNo)
        _check(bound is None or bound.IpcamDevID == request.IpcamDevID)
        _check(all(b.IpcamDevID != request.IpcamDevID for ch, b in bindings.items() if ch != request.ChannelNo))
        self._edit().nvr_bindings[request.ChannelNo] = self._binding(request)
        return self._ok(request)

    @staticmethod
    def _binding(request: NvrLinkIpcamRequest | NvrModifyIpcamRequest) -> NvrBinding:
        return NvrBinding(
            IpcamDevID=request.IpcamDevID,
            IpcamLocalIP=request.IpcamLocalIP,
            OnvifPort=request.OnvifPort,
            OnvifAccount=request.OnvifAccount,
            OnvifPassword=request.OnvifPassword,
        )

    @_answers(NvrModifyIpcamRequest)
    def _nvr_modify(self, request: NvrModifyIpcamRequest) -> Message:
        _check(self.dev_type == NVR)
        for channel, bound in self._view().nvr_bindings.items():
            if bound.IpcamDevID == request.IpcamDevID:
                self._edit().nvr_bindings[channel] = self._binding(request)
                break
        return self._ok(request)

    @_answers(NvrDelIpcamRequest)
    def _nvr_del(self, request: NvrDelIpcamRequest) -> Message:
        _check(self.dev_type == NVR)
        self._check_channel(request.ChannelNo)
        if request.ChannelNo in self._view().nvr_bindings:
            settings = self._edit()
            del settings.nvr_bindings[request.ChannelNo]
            settings.record_policies.pop(request.ChannelNo, None)
        return self._ok(request)

    @_answers(NvrQueryIpcamRequest)
    def _nvr_query(self, request: NvrQueryIpcamRequest) -> Message:
        _check(self.dev_type == NVR)
        bindings = sorted(self._view().nvr_bindings.items())
        return self._ok(
            request, Channel=[IpcamChannel(ChannelNo=ch, IpcamDevID=b.IpcamDevID) for ch, b in bindings]
        )

    # §7.5.22 recording search

    @_answers(FileQueryRequest)
    def _file_query(self, request: FileQueryRequest) -> FileQueryResponse:
        self._check_channel(request.ChannelNo)
        _check(self.local_store == 1)
        try:
            start = _minutes(request.StartTime)
            end = _minutes(request.EndTime)
        except ValueError:
            raise _Refused() from None
        _check(start <= end)
        first = -(-start // SEGMENT_MINUTES) * SEGMENT_MINUTES
        total = max(0, -(-(end - first) // SEGMENT_MINUTES))
        skip = (request.PageNo - 1) * PAGE_SIZE
        page = range(skip, min(total, skip + PAGE_SIZE))
        files = [self._recording(request.ChannelNo, first + index * SEGMENT_MINUTES) for index in page]
        return FileQueryResponse(Result=OK, DevID=self.dev_id, TotalRecordNum=total, File=tuple(files))

    def _recording(self, channel: int, minute: int) -> RecordFile:
        began = _EPOCH + minute * _MINUTE
        ended = began + SEGMENT_MINUTES * _MINUTE
        name = f"{self.dev_id}_{channel}_{began:%Y%m%d%H%M%S}.mp4"
        full = _BITRATES[self.channel_params(channel, 1).BitRate] * 1000 // 8 * SEGMENT_MINUTES * 60
        size = full - zlib.crc32(name.encode()) % (full // 20)  # a little under the nominal rate
        return RecordFile(FileName=name, FileSize=size, StartTime=f"{began:%Y%m%d%H%M}", EndTime=f"{ended:%Y%m%d%H%M}")

    # §7.5.24–§7.5.26 picture policies

    @_answers(AddPicturePolicyRequest)
    def _add_picture_policy(self, request: AddPicturePolicyRequest) -> Message:
        self._check_channel(request.ChannelNo)
        _check(request.StoreType in (0, 1))
        _check(request.StoreType == 0 or self.capabilities.EStoreFlag == 1)
        for policy in request.DayPolicy:
            _check_times(policy.StartTime, policy.EndTime, equal_ok=True)
        if request.DayPolicy:
            key = (request.ChannelNo, request.StoreType)
            current = list(self._view().picture_policies.get(key, ()))
            added = [attrs.evolve(policy, PolicyID=self._next_policy_id()) for policy in request.DayPolicy]
            self._edit().picture_policies[key] = current + added
        return self._ok(request)

    @_answers(QueryPicturePolicyRequest)
    def _query_picture_policy(self, request: QueryPicturePolicyRequest) -> QueryPicturePolicyResponse:
        self._check_channel(request.ChannelNo)
        _check(request.StoreType in (0, 1))
        policies = self._view().picture_policies.get((request.ChannelNo, request.StoreType), ())
        return QueryPicturePolicyResponse(Result=OK, DevID=self.dev_id, DayPolicy=tuple(policies))

    @_answers(DelPicturePolicyRequest)
    def _del_picture_policy(self, request: DelPicturePolicyRequest) -> Message:
        self._check_channel(request.ChannelNo)
        for (channel, store_type), policies in self._view().picture_policies.items():
            kept = [policy for policy in policies if policy.PolicyID != request.PolicyID]
            if channel == request.ChannelNo and len(kept) < len(policies):
                self._edit().picture_policies[(channel, store_type)] = kept
                return self._ok(request)
        raise _Refused()

    # §7.5.28–§7.5.31 full-day and loop recording

    @_answers(SetRecordFullRequest)
    def _set_record_full(self, request: SetRecordFullRequest) -> Message:
        self._check_channel(request.ChannelNo)
        _check(request.StorageFlag in (0, 1, 2) and request.RecordFull in (0, 1))
        self._edit().record_full[(request.ChannelNo, request.StorageFlag)] = request.RecordFull
        return self._ok(request)

    @_answers(GetRecordFullRequest)
    def _get_record_full(self, request: GetRecordFullRequest) -> GetRecordFullResponse:
        self._check_channel(request.ChannelNo)
        _check(request.StorageFlag in (0, 1, 2))
        full = self._view().record_full.get((request.ChannelNo, request.StorageFlag), 0)
        return GetRecordFullResponse(Result=OK, DevID=self.dev_id, RecordFull=full)

    @_answers(SetRecordLoopRequest)
    def _set_record_loop(self, request: SetRecordLoopRequest) -> Message:
        _check(request.StorageFlag in (0, 1, 2) and request.RecordLoop in (0, 1))
        self._edit().record_loop[request.StorageFlag] = request.RecordLoop
        return self._ok(request)

    @_answers(GetRecordLoopRequest)
    def _get_record_loop(self, request: GetRecordLoopRequest) -> GetRecordLoopResponse:
        _check(request.StorageFlag in (0, 1, 2))
        loop = self._view().record_loop.get(request.StorageFlag, 1)
        return GetRecordLoopResponse(Result=OK, DevID=self.dev_id, RecordLoop=loop)

    # §7.5.32–§7.5.33 alarm switches

    def _check_alarm(self, channel: int, alarm_type: int, dido_no: int | None) -> None:
        self._check_channel(channel)
        _check(self.capabilities.has_alarm(alarm_type))
        if alarm_type == 4:
            _check(dido_no is not None and 0 <= dido_no <= self.capabilities.DIDONum)

    @_answers(SetAlarmRequest)
    def _set_alarm(self, request: SetAlarmRequest) -> Message:
        self._check_alarm(request.ChannelNo, request.AlarmType, request.DIDONo)
        _check(request.AlarmFlag in (0, 1))
        key = self._alarm_key(request.ChannelNo, request.AlarmType, request.DIDONo)
        self._edit().alarms[key] = request.AlarmFlag
        return self._ok(request)

    @_answers(GetAlarmRequest)
    def _get_alarm(self, request: GetAlarmRequest) -> GetAlarmResponse:
        self._check_alarm(request.ChannelNo, request.AlarmType, request.DIDONo)
        flag = self.alarm_flag(request.ChannelNo, request.AlarmType, request.DIDONo)
        return GetAlarmResponse(Result=OK, DevID=self.dev_id, AlarmFlag=flag)

    # §7.5.36–§7.5.37 local storage

    @_answers(StoreQueryRequest)
    def _store_query(self, request: StoreQueryRequest) -> StoreQueryResponse:
        sizes: dict[str, int] = {}
        if self.local_store == 1:
            sizes = {"TotalSize": self.total_size, "FreeSize": self.free_size}
        elif self.local_store == 2:
            sizes = {"TotalSize": self.total_size, "FreeSize": 0}
        return StoreQueryResponse(Result=self.local_store, DevID=self.dev_id, **sizes)

    @_answers(StoreFormatRequest)
    def _store_format(self, request: StoreFormatRequest) -> StoreFormatResponse:
        _check(self.local_store != 0, 1)  # no medium
        _check(self.local_store != 3, 2)  # format failed
        self.set_local_store(1, free_size=self.total_size)
        return StoreFormatResponse(Result=OK, DevID=self.dev_id, TotalSize=self.total_size, FreeSize=self.free_size)


def _minutes(stamp: str) -> int:
    """Minutes since 2000-01-01 of a ``YYYYMMDDHHMM`` (or ``…SS``) local time."""
    when = wiretime.parse_time(stamp, DEFAULT_TIMEZONE).replace(tzinfo=None)
    return (when - _EPOCH) // _MINUTE
