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
* How the device answers the platform's requests of CMD 0x60–0x82, changing
  this state, is :func:`kandian.sim.answers.answer` (which imports this
  module, never the other way round).

Pure: no I/O, no Twisted, no clock. Times come in as arguments (POSIX
seconds, as ``IReactorTime.seconds()`` gives them).

Memory: 50,000 idle devices must fit in one process. Identity, addresses,
capabilities and storage are a handful of slots, the addresses and
capabilities shared between devices until one changes; everything the
platform can set lives in a separate settings object created by the first
command that changes something (a get is answered from the defaults without
creating it), and dropped again by RESET_DEFAULT.

Defaults: a camera whose UPnP mapping failed (UpnpIP 0.0.0.0, §7.5.1) on a
wired LAN; an IPC has every capability and a 32 GB SD card, a DVR or NVR no
天翼云 (§7.5.11 is for IPCs) and a 1 TB disk; the main stream is 720P 25 fps
CBR 1024 kbit/s, the sub stream CIF 15 fps VBR 256 kbit/s; Wi-Fi lists four
hotspots, none in use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import attrs

from kandian import wiretime
from kandian.device.messages import (
    AbilityUpRequest,
    AlarmNotifyRequest,
    DayPolicy,
    ExceptionNotifyRequest,
    HeartbeatRequest,
    LoginRequest,
    LoginResponse,
    Message,
    MessageError,
    NotifyPictureRequest,
    Onvif,
    RecordPlayRequest,
    Video,
    VideoPlayRequest,
    WeekPolicy,
    WifiSSID,
)

__all__ = [
    "OK",
    "FAILED",
    "IPC",
    "DVR",
    "NVR",
    "DEFAULT_DEV_VER",
    "DEFAULT_TIMEZONE",
    "DEFAULT_CHANNEL_PARAMS",
    "Capabilities",
    "Addresses",
    "ChannelParams",
    "EStoreAccount",
    "NvrBinding",
    "Settings",
    "UnsupportedRequest",
    "DeviceState",
    "alarm_key",
]

OK = 0
FAILED = 1

IPC, DVR, NVR = 1, 2, 3  # DevType (§7.2.1)

DEFAULT_DEV_VER = "V1.5_20131210"  # the §7.5.1 example
DEFAULT_TIMEZONE = ZoneInfo("Asia/Shanghai")

_MODELS = {IPC: "SIM-IPC", DVR: "SIM-DVR", NVR: "SIM-NVR"}
# requests a device sends again unchanged: their last body is kept (DeviceState.encode)
_KEPT_BODIES = frozenset({LoginRequest.CMD, AbilityUpRequest.CMD, HeartbeatRequest.CMD})


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


DEFAULT_CHANNEL_PARAMS = {  # per StreamType
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
    """:func:`kandian.sim.answers.answer` was given something that is not a platform request."""


class Settings:
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
# DeviceState.edit_settings() creates settings, so this one is never written.
_FACTORY = Settings()


def alarm_key(channel: int, alarm_type: int, dido_no: int | None) -> tuple[int, int, int | None]:
    """Which switch an alarm type names: DIDONo only counts for type 4 (§7.5.32)."""
    return (channel, alarm_type, dido_no if alarm_type == 4 else None)


# How a device told to fail an upgrade fails (§7.5.17): "refuse" answers
# UPGRADE_REQ with Result 1; "corrupt" downloads an image whose sha256 does
# not match and reports EXCEPTION_NOTIFY_REQ type 11; "silent" downloads and
# never reboots (the platform's timeout decides).
UPGRADE_FAILURES = ("refuse", "corrupt", "silent")


class FtpServer(NamedTuple):
    """Where and as whom the device reaches FTP (REGISTER_RES Ftp*, UPGRADE_REQ, LOG_UPLOAD_REQ)."""
    host: str
    port: int
    account: str
    password: str


class DeviceState:
    """One simulated device; see the module docstring."""

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
        "upgrade_failure",
        "ftp_server",
        "_reports",
        "_settings",
        "_log",
        "_ability_changed",
        "_encoded",
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
        upgrade_failure: str | None = None,
        ftp_server: FtpServer | None = None,
    ) -> None:
        if upgrade_failure not in (None, *UPGRADE_FAILURES):
            raise ValueError(f"upgrade_failure must be one of {UPGRADE_FAILURES}, got {upgrade_failure!r}")
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
        self.upgrade_failure = upgrade_failure
        self.ftp_server = ftp_server  # where pictures go (REGISTER_RES, or given)
        self._reports: list[Message] | None = None
        self._settings: Settings | None = None
        self._log: list[tuple[str, Message]] | None = None
        self._ability_changed = False
        self._encoded: dict[int, tuple[Message, bytes]] | None = None

    def encode(self, message: Message) -> bytes:
        """*message*'s body; the last LOGIN_REQ, ABILITYUP_REQ and HEARTBEAT_REQ bodies are kept, since a
        device sends the same ones again and again (writing them was a sixth of a simulated login's CPU)."""
        if message.CMD not in _KEPT_BODIES:
            return message.to_xml()
        if self._encoded is None:
            self._encoded = {}
        kept = self._encoded.get(message.CMD)
        if kept is not None and kept[0] == message:
            return kept[1]
        data = message.to_xml()
        self._encoded[message.CMD] = (message, data)
        return data

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

    @property
    def settings(self) -> Settings:
        """The platform's settings, to read only: the factory's while none was changed."""
        return _FACTORY if self._settings is None else self._settings

    def edit_settings(self) -> Settings:
        """The settings, to change: created on the first change."""
        if self._settings is None:
            self._settings = Settings()
        return self._settings

    def reset_settings(self) -> None:
        """Back to the factory settings (RESET_DEFAULT, §7.5.39)."""
        self._settings = None

    def record_maintenance(self, request: Message) -> None:
        if self._log is None:
            self._log = []
        self._log.append((request.ROOT, request))

    def note_ability_change(self) -> None:
        self._ability_changed = True

    def take_ability_change(self) -> bool:
        """True once after something the ability report carries has changed (§7.5.2)."""
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

    def apply_register(self, response: Any) -> None:
        """Keep the FTP server a successful REGISTER_RES hands over (§7.2): pictures go there."""
        if response.FtpIP and response.FtpPort and response.FtpAccount:
            self.ftp_server = FtpServer(response.FtpIP, response.FtpPort, response.FtpAccount,
                                        response.FtpPassword or "")

    def queue_report(self, request: Message) -> None:
        """A report to send once logged in again (an upgrade's outcome across its reboot, §7.5.17)."""
        if self._reports is None:
            self._reports = []
        self._reports.append(request)

    def take_reports(self) -> list[Message]:
        reports, self._reports = self._reports or [], None
        return reports

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
        if self.settings.estore != account:
            self.edit_settings().estore = account

    def channel_params(self, channel: int, stream_type: int) -> ChannelParams:
        return self.settings.channel_params.get((channel, stream_type), DEFAULT_CHANNEL_PARAMS[stream_type])

    def wifi_networks(self) -> list[WifiSSID]:
        """The hotspots the device sees, strongest first, at most ten (§7.5.8)."""
        settings = self.settings
        networks = settings.wifi_networks
        if networks is None:
            networks = self.scanned_networks()
        in_use = settings.wifi_in_use
        listed = [attrs.evolve(network, InUse=int(network.SSID == in_use)) for network in networks]
        listed.sort(key=lambda network: -(network.Signal or 0))
        return listed[:10]

    def scanned_networks(self) -> list[WifiSSID]:
        """The hotspots a factory-fresh device sees (derived from the DevID, so not stored)."""
        tail = self.dev_id[-4:]
        return [
            WifiSSID(SSID=f"ChinaNet-{tail}", Signal=86, Security=3, InUse=0),
            WifiSSID(SSID=f"Shop-{tail}", Signal=71, Security=4, InUse=0),
            WifiSSID(SSID="CMCC-WEB", Signal=48, Security=0, InUse=0),
            WifiSSID(SSID=f"TP-LINK_{tail}", Signal=23, Security=2, InUse=0),
        ]

    @property
    def wifi_in_use(self) -> str | None:
        return self.settings.wifi_in_use

    @property
    def estore_account(self) -> EStoreAccount | None:
        return self.settings.estore

    @property
    def estore_active(self) -> int:
        return self.settings.estore_active

    def ptz_direction(self, channel: int) -> int | None:
        """The last PtzDirection sent to *channel* (§7.5.10), or None."""
        return self.settings.ptz.get(channel)

    def alarm_flag(self, channel: int, alarm_type: int, dido_no: int | None = None) -> int:
        """AlarmFlag of a switch (§7.5.32): 0 disarmed (the default), 1 armed."""
        return self.settings.alarms.get(alarm_key(channel, alarm_type, dido_no), 0)

    def nvr_bindings(self) -> dict[int, NvrBinding]:
        return dict(self.settings.nvr_bindings)

    def record_policies(self, channel: int) -> list[WeekPolicy]:
        return list(self.settings.record_policies.get(channel, ()))

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

    def log_name(self, when: float, tz: ZoneInfo = DEFAULT_TIMEZONE) -> str:
        """``DevID_YYYYMMDDHHMMSS.log``: the log a LOG_UPLOAD_REQ makes it upload (§7.5.35)."""
        return f"{self.dev_id}_{wiretime.format_time(when, tz)}.log"

    def log_text(self) -> bytes:
        """The device's log (§7.5.35: vendor-defined, under 1 MB)."""
        return (f"{self.dev_id} device log\nDevVer {self.dev_ver}\nmodel {self.model}, "
                f"{self.channel_num} channel(s)\n").encode()

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
