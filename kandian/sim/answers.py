"""How a simulated device answers the platform's commands (spec §7.5.6–§7.5.39).

:func:`answer` takes a platform request of CMD 0x60–0x82 (any class of
:mod:`kandian.device.messages` the platform sends) and returns the device's
response, changing the :class:`~kandian.sim.state.DeviceState` so that a set
followed by a get round-trips. The simulated link (:mod:`kandian.sim.link`)
calls it for every platform request.

Pure: no I/O, no Twisted.

Readings of the spec
--------------------
* Result: 0 success; :data:`~kandian.sim.state.FAILED` (1) for every refusal
  (unknown channel, a value outside the ranges the tables give, a capability
  the device lacks, a DevID that is not this device's), since the tables only
  say "other: error". STORE_QUERY's Result is the medium's state and
  STORE_FORMAT's has its own codes (§7.5.36–§7.5.37).
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
* NVR_LINK_IPCAM on a channel bound to another IPC, or of an IPC bound to
  another channel, is refused; NVR_MODIFY_IPCAM of an IPC bound nowhere is
  "ignored" (§7.5.19) and answered with Result 0; NVR_DEL_IPCAM also deletes
  the channel's recording policies (§7.5.20) and succeeds on an unbound
  channel. An IPC or DVR refuses the binding commands.
* RecordLoop is a device setting per StorageFlag (§7.5.30), on by default;
  RecordFull is per channel and StorageFlag, off by default.
* FILE_QUERY: the medium holds one 15-minute recording (§7.5.13: "SD 卡存储
  15 分钟一个") starting at every quarter hour; the files whose start lies in
  [StartTime, EndTime) are listed 10 a page, named
  ``DevID_ChannelNo_YYYYMMDDHHMMSS.mp4`` (§7.5.22), sized from the main
  stream's BitRate. Refused when the medium is not ready.
* RESET_DEFAULT drops every setting (recordings and the medium stay, as
  §7.5.39 says); REBOOT, UPGRADE and LOG_UPLOAD change nothing and are only
  recorded in :attr:`DeviceState.maintenance_log
  <kandian.sim.state.DeviceState.maintenance_log>` (the download, reboot and
  upload that follow an accepted UPGRADE or LOG_UPLOAD are
  :mod:`kandian.sim.ftp`'s); a device told to refuse upgrades
  (``upgrade_failure="refuse"``) answers UPGRADE with Result 1.
* Formatting an unformatted medium changes LocalStoreFlag, and a new
  FrameSize on channel 0 changes the Video list: both make the device report
  its abilities again (§7.5.2), see :meth:`DeviceState.take_ability_change
  <kandian.sim.state.DeviceState.take_ability_change>`.
"""

from __future__ import annotations

import datetime
import re
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from kandian import wiretime
from kandian.device.messages import (
    AddPicturePolicyRequest,
    AddRecordPolicyRequest,
    DelPicturePolicyRequest,
    DelRecordPolicyRequest,
    EStoreActivateRequest,
    FileQueryRequest,
    FileQueryResponse,
    GetAlarmRequest,
    GetAlarmResponse,
    GetChannelRequest,
    GetEStoreRequest,
    GetRecordFullRequest,
    GetRecordFullResponse,
    GetRecordLoopRequest,
    GetRecordLoopResponse,
    GetWifiRequest,
    IpcamChannel,
    LogUploadRequest,
    Message,
    NvrDelIpcamRequest,
    NvrLinkIpcamRequest,
    NvrModifyIpcamRequest,
    NvrQueryIpcamRequest,
    PtzRequest,
    QueryPicturePolicyRequest,
    QueryPicturePolicyResponse,
    QueryRecordPolicyRequest,
    RebootRequest,
    RecordFile,
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
    WifiSSID,
    message_class,
)
from kandian.sim.state import (
    DEFAULT_CHANNEL_PARAMS,
    DEFAULT_TIMEZONE,
    FAILED,
    NVR,
    OK,
    ChannelParams,
    DeviceState,
    EStoreAccount,
    NvrBinding,
    UnsupportedRequest,
    alarm_key,
)

__all__ = ["PAGE_SIZE", "SEGMENT_MINUTES", "answer", "answered_classes"]

PAGE_SIZE = 10  # §7.5.22
SEGMENT_MINUTES = 15  # §7.5.13: SD card recordings are 15 minutes long
MAX_POLICIES_A_DAY = 4  # §7.5.13

# §7.5.6 BitRate codes in kbit/s.
_BITRATES = (0, 96, 128, 196, 256, 384, 512, 768, 1024, 1536, 2048, 2560, 3072, 4096)
_HHMM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")
_MINUTE = datetime.timedelta(minutes=1)
_EPOCH = datetime.datetime(2000, 1, 1)

_Handler = TypeVar("_Handler", bound=Callable[..., Message])
_HANDLERS: dict[type[Message], Callable[[DeviceState, Any], Message]] = {}


class _Refused(Exception):
    def __init__(self, result: int = FAILED) -> None:
        self.result = result


def answer(state: DeviceState, request: Message) -> Message:
    """The response of *state* to a platform request of CMD 0x60–0x82.

    Never raises for a request of a supported class: refusals are responses
    with a non-zero Result. Raises :class:`UnsupportedRequest` for anything else.
    """
    handler = _HANDLERS.get(type(request))
    if handler is None:
        raise UnsupportedRequest(f"a device does not answer {type(request).__name__}")
    try:
        _check(getattr(request, "DevID", None) == state.dev_id)
        return handler(state, request)
    except _Refused as refusal:
        return message_class(request.CMD, True)(Result=refusal.result, DevID=state.dev_id)


def answered_classes() -> frozenset[type[Message]]:
    """The request classes :func:`answer` knows."""
    return frozenset(_HANDLERS)


def _answers(cls: type[Message]) -> Callable[[_Handler], _Handler]:
    """Decorator: the function answers requests of class *cls*."""

    def enter(handler: _Handler) -> _Handler:
        _HANDLERS[cls] = handler
        return handler

    return enter


def _check(condition: bool, result: int = FAILED) -> None:
    if not condition:
        raise _Refused(result)


def _check_channel(state: DeviceState, channel: int) -> None:
    _check(0 <= channel < state.channel_num)


def _check_times(start: str, end: str, *, equal_ok: bool = False) -> None:
    _check(_HHMM.fullmatch(start) is not None and _HHMM.fullmatch(end) is not None)
    _check(start < end or equal_ok and start == end)


def _ok(state: DeviceState, request: Message, **fields: Any) -> Message:
    return message_class(request.CMD, True)(Result=OK, DevID=state.dev_id, **fields)


def _next_policy_id(state: DeviceState) -> str:
    settings = state.edit_settings()
    settings.last_policy_id += 1
    return str(settings.last_policy_id)


# -- §7.5.6–§7.5.7 video parameters ---------------------------------------------------


@_answers(SetChannelRequest)
def _set_channel(state: DeviceState, request: SetChannelRequest) -> Message:
    _check_channel(state, request.ChannelNo)
    _check(request.StreamType in DEFAULT_CHANNEL_PARAMS)
    changes = {name: getattr(request, name) for name in ChannelParams.VALID if getattr(request, name) is not None}
    _check(all(ChannelParams.VALID[name](value) for name, value in changes.items()))
    key = (request.ChannelNo, request.StreamType)
    current = state.channel_params(*key)
    params = attrs.evolve(current, **changes)
    if params != current:
        state.edit_settings().channel_params[key] = params
        if request.ChannelNo == 0 and params.FrameSize != current.FrameSize:
            state.note_ability_change()
    return _ok(state, request)


@_answers(GetChannelRequest)
def _get_channel(state: DeviceState, request: GetChannelRequest) -> Message:
    _check_channel(state, request.ChannelNo)
    _check(request.StreamType in DEFAULT_CHANNEL_PARAMS)
    return _ok(state, request, **attrs.asdict(state.channel_params(request.ChannelNo, request.StreamType)))


# -- §7.5.8–§7.5.9 Wi-Fi, §7.5.10 PTZ -------------------------------------------------


@_answers(GetWifiRequest)
def _get_wifi(state: DeviceState, request: GetWifiRequest) -> Message:
    return _ok(state, request, WifiSSID=state.wifi_networks())


@_answers(SetWifiRequest)
def _set_wifi(state: DeviceState, request: SetWifiRequest) -> Message:
    _check(0 <= request.Security <= 5 and request.SSID != "")
    settings = state.edit_settings()
    if settings.wifi_networks is None:
        settings.wifi_networks = state.scanned_networks()
    if all(network.SSID != request.SSID for network in settings.wifi_networks):
        # Configured by hand before the device saw it: list it as in range.
        settings.wifi_networks.append(WifiSSID(SSID=request.SSID, Signal=60, Security=request.Security, InUse=0))
    settings.wifi_in_use = request.SSID
    settings.wifi_password = request.Password
    return _ok(state, request)


@_answers(PtzRequest)
def _ptz(state: DeviceState, request: PtzRequest) -> Message:
    _check_channel(state, request.ChannelNo)
    _check(state.capabilities.PTZFlag == 1 and 0 <= request.PtzDirection <= 4)
    state.edit_settings().ptz[request.ChannelNo] = request.PtzDirection
    return _ok(state, request)


# -- §7.5.11–§7.5.12, §7.5.38 天翼云 -----------------------------------------------------


@_answers(SetEStoreRequest)
def _set_estore(state: DeviceState, request: SetEStoreRequest) -> Message:
    _check(state.capabilities.EStoreFlag == 1)
    state.edit_settings().estore = EStoreAccount(
        URL=request.URL,
        Account=request.Account,
        Password=request.Password,
        StorageSpace=request.StorageSpace,
        ERecordBucket=request.ERecordBucket,
        EPictureBucket=request.EPictureBucket,
    )
    return _ok(state, request)


@_answers(GetEStoreRequest)
def _get_estore(state: DeviceState, request: GetEStoreRequest) -> Message:
    _check(state.capabilities.EStoreFlag == 1)
    account = state.estore_account
    return _ok(state, request, **({} if account is None else attrs.asdict(account)))


@_answers(EStoreActivateRequest)
def _estore_activate(state: DeviceState, request: EStoreActivateRequest) -> Message:
    _check(state.capabilities.EStoreFlag == 1 and request.Flag in (0, 1))
    if request.Flag != state.estore_active:
        state.edit_settings().estore_active = request.Flag
    return _ok(state, request)


# -- §7.5.13–§7.5.15 recording policies, §7.5.22 recording search -----------------------


@_answers(AddRecordPolicyRequest)
def _add_record_policy(state: DeviceState, request: AddRecordPolicyRequest) -> Message:
    _check_channel(state, request.ChannelNo)
    current = state.record_policies(request.ChannelNo)
    for policy in request.WeekPolicy:
        _check(policy.StoreType in (0, 1) and policy.StreamType in (1, 2))
        _check(policy.StoreType == 0 or state.capabilities.EStoreFlag == 1)
        _check_times(policy.StartTime, policy.EndTime)
    for week in {policy.Week for policy in request.WeekPolicy}:
        slots = [policy for policy in (*current, *request.WeekPolicy) if policy.Week == week]
        _check(len(slots) <= MAX_POLICIES_A_DAY)
    if request.WeekPolicy:
        added = [attrs.evolve(policy, PolicyID=_next_policy_id(state)) for policy in request.WeekPolicy]
        state.edit_settings().record_policies[request.ChannelNo] = current + added
    return _ok(state, request)


@_answers(QueryRecordPolicyRequest)
def _query_record_policy(state: DeviceState, request: QueryRecordPolicyRequest) -> Message:
    _check_channel(state, request.ChannelNo)
    return _ok(state, request, WeekPolicy=state.record_policies(request.ChannelNo))


@_answers(DelRecordPolicyRequest)
def _del_record_policy(state: DeviceState, request: DelRecordPolicyRequest) -> Message:
    _check_channel(state, request.ChannelNo)
    current = state.record_policies(request.ChannelNo)
    kept = [policy for policy in current if policy.PolicyID != request.PolicyID]
    _check(len(kept) < len(current))
    state.edit_settings().record_policies[request.ChannelNo] = kept
    return _ok(state, request)


@_answers(FileQueryRequest)
def _file_query(state: DeviceState, request: FileQueryRequest) -> FileQueryResponse:
    _check_channel(state, request.ChannelNo)
    _check(state.local_store == 1)
    try:
        start = _minutes(request.StartTime)
        end = _minutes(request.EndTime)
    except ValueError:
        raise _Refused() from None
    _check(start <= end)
    first = -(-start // SEGMENT_MINUTES) * SEGMENT_MINUTES  # the first quarter hour at or after start
    total = max(0, -(-(end - first) // SEGMENT_MINUTES))
    skip = (request.PageNo - 1) * PAGE_SIZE
    page = range(skip, min(total, skip + PAGE_SIZE))
    files = tuple(_recording(state, request.ChannelNo, first + index * SEGMENT_MINUTES) for index in page)
    return FileQueryResponse(Result=OK, DevID=state.dev_id, TotalRecordNum=total, File=files)


def _minutes(stamp: str) -> int:
    """Minutes since 2000-01-01 of a ``YYYYMMDDHHMM`` (or ``…SS``) local time."""
    when = wiretime.parse_time(stamp, DEFAULT_TIMEZONE).replace(tzinfo=None)
    return (when - _EPOCH) // _MINUTE


def _recording(state: DeviceState, channel: int, minute: int) -> RecordFile:
    began = _EPOCH + minute * _MINUTE
    ended = began + SEGMENT_MINUTES * _MINUTE
    name = f"{state.dev_id}_{channel}_{began:%Y%m%d%H%M%S}.mp4"
    full = _BITRATES[state.channel_params(channel, 1).BitRate] * 1000 // 8 * SEGMENT_MINUTES * 60
    size = full - zlib.crc32(name.encode()) % (full // 20)  # a little under the nominal rate
    return RecordFile(FileName=name, FileSize=size, StartTime=f"{began:%Y%m%d%H%M}", EndTime=f"{ended:%Y%m%d%H%M}")


# -- §7.5.24–§7.5.26 picture policies -------------------------------------------------


@_answers(AddPicturePolicyRequest)
def _add_picture_policy(state: DeviceState, request: AddPicturePolicyRequest) -> Message:
    _check_channel(state, request.ChannelNo)
    _check(request.StoreType in (0, 1))
    _check(request.StoreType == 0 or state.capabilities.EStoreFlag == 1)
    for policy in request.DayPolicy:
        _check_times(policy.StartTime, policy.EndTime, equal_ok=True)
    if request.DayPolicy:
        key = (request.ChannelNo, request.StoreType)
        current = list(state.settings.picture_policies.get(key, ()))
        added = [attrs.evolve(policy, PolicyID=_next_policy_id(state)) for policy in request.DayPolicy]
        state.edit_settings().picture_policies[key] = current + added
    return _ok(state, request)


@_answers(QueryPicturePolicyRequest)
def _query_picture_policy(state: DeviceState, request: QueryPicturePolicyRequest) -> QueryPicturePolicyResponse:
    _check_channel(state, request.ChannelNo)
    _check(request.StoreType in (0, 1))
    policies = state.settings.picture_policies.get((request.ChannelNo, request.StoreType), ())
    return QueryPicturePolicyResponse(Result=OK, DevID=state.dev_id, DayPolicy=tuple(policies))


@_answers(DelPicturePolicyRequest)
def _del_picture_policy(state: DeviceState, request: DelPicturePolicyRequest) -> Message:
    _check_channel(state, request.ChannelNo)
    for (channel, store_type), policies in state.settings.picture_policies.items():
        kept = [policy for policy in policies if policy.PolicyID != request.PolicyID]
        if channel == request.ChannelNo and len(kept) < len(policies):
            state.edit_settings().picture_policies[(channel, store_type)] = kept
            return _ok(state, request)
    raise _Refused()


# -- §7.5.28–§7.5.31 full-day and loop recording --------------------------------------


@_answers(SetRecordFullRequest)
def _set_record_full(state: DeviceState, request: SetRecordFullRequest) -> Message:
    _check_channel(state, request.ChannelNo)
    _check(request.StorageFlag in (0, 1, 2) and request.RecordFull in (0, 1))
    state.edit_settings().record_full[(request.ChannelNo, request.StorageFlag)] = request.RecordFull
    return _ok(state, request)


@_answers(GetRecordFullRequest)
def _get_record_full(state: DeviceState, request: GetRecordFullRequest) -> GetRecordFullResponse:
    _check_channel(state, request.ChannelNo)
    _check(request.StorageFlag in (0, 1, 2))
    full = state.settings.record_full.get((request.ChannelNo, request.StorageFlag), 0)
    return GetRecordFullResponse(Result=OK, DevID=state.dev_id, RecordFull=full)


@_answers(SetRecordLoopRequest)
def _set_record_loop(state: DeviceState, request: SetRecordLoopRequest) -> Message:
    _check(request.StorageFlag in (0, 1, 2) and request.RecordLoop in (0, 1))
    state.edit_settings().record_loop[request.StorageFlag] = request.RecordLoop
    return _ok(state, request)


@_answers(GetRecordLoopRequest)
def _get_record_loop(state: DeviceState, request: GetRecordLoopRequest) -> GetRecordLoopResponse:
    _check(request.StorageFlag in (0, 1, 2))
    loop = state.settings.record_loop.get(request.StorageFlag, 1)
    return GetRecordLoopResponse(Result=OK, DevID=state.dev_id, RecordLoop=loop)


# -- §7.5.32–§7.5.33 alarm switches ---------------------------------------------------


def _check_alarm(state: DeviceState, channel: int, alarm_type: int, dido_no: int | None) -> None:
    _check_channel(state, channel)
    _check(state.capabilities.has_alarm(alarm_type))
    if alarm_type == 4:
        _check(dido_no is not None and 0 <= dido_no <= state.capabilities.DIDONum)


@_answers(SetAlarmRequest)
def _set_alarm(state: DeviceState, request: SetAlarmRequest) -> Message:
    _check_alarm(state, request.ChannelNo, request.AlarmType, request.DIDONo)
    _check(request.AlarmFlag in (0, 1))
    key = alarm_key(request.ChannelNo, request.AlarmType, request.DIDONo)
    state.edit_settings().alarms[key] = request.AlarmFlag
    return _ok(state, request)


@_answers(GetAlarmRequest)
def _get_alarm(state: DeviceState, request: GetAlarmRequest) -> GetAlarmResponse:
    _check_alarm(state, request.ChannelNo, request.AlarmType, request.DIDONo)
    flag = state.alarm_flag(request.ChannelNo, request.AlarmType, request.DIDONo)
    return GetAlarmResponse(Result=OK, DevID=state.dev_id, AlarmFlag=flag)


# -- §7.5.16–§7.5.17, §7.5.35, §7.5.39 maintenance ------------------------------------


@_answers(RebootRequest)
def _reboot(state: DeviceState, request: RebootRequest) -> Message:
    state.record_maintenance(request)
    return _ok(state, request)


@_answers(UpgradeRequest)
def _upgrade(state: DeviceState, request: UpgradeRequest) -> Message:
    # §7.5.17: the device only checks the parameters before answering.
    _check(request.FtpIP != "" and request.FtpPort > 0 and request.FtpFileName != "")
    _check(state.upgrade_failure != "refuse")
    state.record_maintenance(request)
    return _ok(state, request)


@_answers(LogUploadRequest)
def _log_upload(state: DeviceState, request: LogUploadRequest) -> Message:
    _check(request.FtpIP != "" and request.FtpPort > 0)
    state.record_maintenance(request)
    return _ok(state, request)


@_answers(ResetDefaultRequest)
def _reset_default(state: DeviceState, request: ResetDefaultRequest) -> Message:
    reported = state.ability_request()
    state.reset_settings()
    if state.ability_request() != reported:
        state.note_ability_change()
    state.record_maintenance(request)
    return _ok(state, request)


# -- §7.5.18–§7.5.21 NVR bindings -----------------------------------------------------


def _binding(request: NvrLinkIpcamRequest | NvrModifyIpcamRequest) -> NvrBinding:
    return NvrBinding(
        IpcamDevID=request.IpcamDevID,
        IpcamLocalIP=request.IpcamLocalIP,
        OnvifPort=request.OnvifPort,
        OnvifAccount=request.OnvifAccount,
        OnvifPassword=request.OnvifPassword,
    )


@_answers(NvrLinkIpcamRequest)
def _nvr_link(state: DeviceState, request: NvrLinkIpcamRequest) -> Message:
    _check(state.dev_type == NVR)
    _check_channel(state, request.ChannelNo)
    _check(request.IpcamDevID != "")
    bindings = state.settings.nvr_bindings
    bound = bindings.get(request.ChannelNo)
    _check(bound is None or bound.IpcamDevID == request.IpcamDevID)
    _check(all(b.IpcamDevID != request.IpcamDevID for ch, b in bindings.items() if ch != request.ChannelNo))
    state.edit_settings().nvr_bindings[request.ChannelNo] = _binding(request)
    return _ok(state, request)


@_answers(NvrModifyIpcamRequest)
def _nvr_modify(state: DeviceState, request: NvrModifyIpcamRequest) -> Message:
    _check(state.dev_type == NVR)
    for channel, bound in state.settings.nvr_bindings.items():
        if bound.IpcamDevID == request.IpcamDevID:
            state.edit_settings().nvr_bindings[channel] = _binding(request)
            break
    return _ok(state, request)


@_answers(NvrDelIpcamRequest)
def _nvr_del(state: DeviceState, request: NvrDelIpcamRequest) -> Message:
    _check(state.dev_type == NVR)
    _check_channel(state, request.ChannelNo)
    if request.ChannelNo in state.settings.nvr_bindings:
        settings = state.edit_settings()
        del settings.nvr_bindings[request.ChannelNo]
        settings.record_policies.pop(request.ChannelNo, None)
    return _ok(state, request)


@_answers(NvrQueryIpcamRequest)
def _nvr_query(state: DeviceState, request: NvrQueryIpcamRequest) -> Message:
    _check(state.dev_type == NVR)
    bindings = sorted(state.settings.nvr_bindings.items())
    channels = [IpcamChannel(ChannelNo=channel, IpcamDevID=bound.IpcamDevID) for channel, bound in bindings]
    return _ok(state, request, Channel=channels)


# -- §7.5.36–§7.5.37 local storage ----------------------------------------------------


@_answers(StoreQueryRequest)
def _store_query(state: DeviceState, request: StoreQueryRequest) -> StoreQueryResponse:
    sizes: dict[str, int] = {}
    if state.local_store == 1:
        sizes = {"TotalSize": state.total_size, "FreeSize": state.free_size}
    elif state.local_store == 2:
        sizes = {"TotalSize": state.total_size, "FreeSize": 0}
    return StoreQueryResponse(Result=state.local_store, DevID=state.dev_id, **sizes)


@_answers(StoreFormatRequest)
def _store_format(state: DeviceState, request: StoreFormatRequest) -> StoreFormatResponse:
    _check(state.local_store != 0, 1)  # no medium
    _check(state.local_store != 3, 2)  # format failed
    state.set_local_store(1, free_size=state.total_size)
    return StoreFormatResponse(Result=OK, DevID=state.dev_id, TotalSize=state.total_size, FreeSize=state.free_size)
