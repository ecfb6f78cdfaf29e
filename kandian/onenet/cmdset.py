"""spec/001 §3.2, the generic command set, on kandian's typed device calls (§7.5.6–§7.5.39).

:func:`parse` reads a command (``{"cmdId": N, "channel_id": C, "cmd": {…}}``;
``channel_id`` counts from 1) and :func:`execute` carries it out through
*run(name, values)* — :meth:`kandian.core.commands.Commands.run` for one
device — answering the device's response as the file writes it
(:class:`Outcome`).  What maps onto what:

====  ======================  ===================================================
cmd   file                    kandian
====  ======================  ===================================================
7     PTZ                     ``ptz`` (§7.5.10): 11–14 up, down, left, right; stop
10    local video query       ``file_query`` (§7.5.22), pages of 10 regrouped
26/27 recording status/set    ``query/add/del_record_policy`` (§7.5.13–15),
                              ``get/set_record_loop`` (§7.5.30–31, SD card)
30/31 TF card status/format   ``store_query`` / ``store_format`` (§7.5.36–37)
11    upgrade                 a campaign of one (§7.5.17) to the catalogued image of that version
32    snapshot                the platform's frame grab of the live stream
33/34 AV settings             ``get/set_channel`` (§7.5.6–7), main stream
39/40 camera on/off           the platform opening or closing the channel's streams
41/42 Wi-Fi list/password     ``get_wifi`` / ``set_wifi`` (§7.5.8–9)
80/81 motion detection        ``get/set_alarm`` AlarmType 1 (§7.5.32–33)
91/92 other alarm             ``get/set_alarm`` AlarmType 2 (human infrared)
====  ======================  ===================================================

Anything else — key frames (5), OSD (20/21), the
clock (28/29), mount/umount (31), covers (43), occlusion (82/83) and sound
alarms (84/85), settings §7.5 has no element for — is :class:`Unsupported`:
no device of this platform can be asked it.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import NamedTuple

from twisted.internet import defer

from ..core import errors

FRAME_SIZES = {1: "1280*720", 2: "640*480", 3: "704*576", 4: "352*288", 5: "320*240"}  # §7.5.6
_SIZE_ALIASES = {"720*576": 3}
BIT_RATES = (0, 96, 128, 196, 256, 384, 512, 768, 1024, 1536, 2048, 2560, 3072, 4096)  # §7.5.6 codes → kbit/s
PTZ = {11: 1, 12: 2, 13: 3, 14: 4}  # §3.2 cmd → §7.5.10 PtzDirection
SD_CARD = 1  # StorageFlag of §7.5.28–31
DEVICE_PAGE = 10  # §7.5.22
MAX_PER_PAGE = 100
ALARM_TYPES = {80: 1, 81: 1, 91: 2, 92: 2}
WITHOUT_CHANNEL = (11, 30, 31, 41, 42)
_VERSION_TEXT = re.compile(r"^[\x21-\x7e]{1,64}$")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])$")
_MOMENT = "%Y-%m-%d %H:%M:%S"
DEFAULT_FROM, DEFAULT_TO = "200001010000", "209912312359"


class Unsupported(Exception):
    """A command no device of this platform can carry (answered as §3.1's cmd_status 3)."""


class Outcome(NamedTuple):
    resp_code: int  # 0, or the device's non-zero Result
    resp: dict  # the device's response, as the file writes it


class Command(NamedTuple):
    cmd_id: int
    channel_no: int | None
    cmd: object


class Extras(NamedTuple):
    """What some commands need besides the device: the channel's streams (39/40) and a snapshot (32)."""
    camera: Callable  # camera(channel_no) → Deferred[bool on]
    set_camera: Callable  # set_camera(channel_no, on) → Deferred
    snapshot: Callable | None = None  # snapshot(channel_no, width, height, quality) → Deferred[name]
    upgrade: Callable | None = None  # upgrade(ver) → Deferred (Unsupported when no such image is catalogued)


def parse(body) -> Command:
    """The command of a §3.1 body; BadValue for one that is not."""
    if not isinstance(body, dict):
        raise errors.BadValue("the command is a JSON object")
    body = {str(k).strip(): v for k, v in body.items()}  # §3.2's own example writes "channel_id "
    cmd_id = body.get("cmdId")
    if isinstance(cmd_id, bool) or not isinstance(cmd_id, int):
        raise errors.BadValue("cmdId is a number")
    channel = body.get("channel_id")
    channel_no = None
    if channel is not None:
        if isinstance(channel, bool) or not isinstance(channel, int) or not 1 <= channel <= 256:
            raise errors.BadValue("channel_id is 1 to 256")
        channel_no = channel - 1
    elif cmd_id not in WITHOUT_CHANNEL and cmd_id in HANDLERS:
        raise errors.BadValue("channel_id is required")
    return Command(cmd_id, channel_no, body.get("cmd"))


def execute(command: Command, run, extras: Extras) -> defer.Deferred:
    """The Outcome of *command*; Unsupported, BadValue, or the device's errors (DeviceOffline,
    DeviceTimeout, DeviceRefused without a Result)."""
    handler = HANDLERS.get(command.cmd_id)
    if handler is None:
        return defer.fail(Unsupported("cmdId %d: no device of this platform can do this" % command.cmd_id))
    d = defer.maybeDeferred(handler, command, run, extras)

    def refused(failure):
        failure.trap(errors.DeviceRefused)
        result = failure.value.result
        if result is None or isinstance(failure.value, errors.DeviceTimeout):
            return failure
        return Outcome(result, _result(command, 0))
    return d.addErrback(refused)


def _base(command: Command) -> dict:
    out: dict = {"cmdId": command.cmd_id}
    if command.channel_no is not None:
        out["channel_id"] = command.channel_no + 1
    return out


def _result(command: Command, result: int) -> dict:
    return {**_base(command), "result": result}


def _done(command: Command) -> Outcome:
    return Outcome(0, _result(command, 1))


def _cmd(command: Command, required: bool = True) -> dict:
    cmd = command.cmd
    if cmd is None and not required:
        return {}
    if not isinstance(cmd, dict):
        raise errors.BadValue("cmd is an object")
    return {str(k).strip(): v for k, v in cmd.items()}


def _int(cmd: dict, name: str, low: int, high: int, default: int | None = None) -> int:
    value = cmd.get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise errors.BadValue("cmd.%s is %d to %d" % (name, low, high))
    return value


HANDLERS: dict[int, Callable] = {}


def handles(*cmd_ids: int):
    def register(f):
        for cmd_id in cmd_ids:
            HANDLERS[cmd_id] = f
        return f
    return register


# -- 7 PTZ


@handles(7)
@defer.inlineCallbacks
def _ptz(command, run, extras):
    cmd = _cmd(command)
    stop = _int(cmd, "stop", 0, 2, 0)
    direction = cmd.get("cmd")
    if stop == 1:
        yield run("ptz", {"ChannelNo": command.channel_no, "PtzDirection": 0})
        return _done(command)
    if isinstance(direction, bool) or direction not in PTZ:
        raise Unsupported("PTZ cmd %r: a §7.5.10 head turns up, down, left and right only" % (direction,))
    yield run("ptz", {"ChannelNo": command.channel_no, "PtzDirection": PTZ[direction]})
    if stop == 2:  # one step: start, then stop
        yield run("ptz", {"ChannelNo": command.channel_no, "PtzDirection": 0})
    return _done(command)


# -- 10 local video query


def _wire_minute(text, name: str, default: str) -> str:
    if text is None:
        return default
    try:
        return datetime.datetime.strptime(str(text).strip(), _MOMENT).strftime("%Y%m%d%H%M")
    except ValueError:
        raise errors.BadValue("cmd.%s is YYYY-MM-DD HH:MM:SS" % name) from None


def _file_time(text) -> str | None:
    try:
        return datetime.datetime.strptime(text or "", "%Y%m%d%H%M").strftime(_MOMENT)
    except ValueError:
        return text or None


@handles(10)
@defer.inlineCallbacks
def _videos(command, run, extras):
    cmd = _cmd(command)
    page = _int(cmd, "page", 1, 10_000, 1)
    per_page = _int(cmd, "per_page", 1, MAX_PER_PAGE, 20)
    start = _wire_minute(cmd.get("start_time"), "start_time", DEFAULT_FROM)
    end = _wire_minute(cmd.get("end_time"), "end_time", DEFAULT_TO)
    warn_type = _int(cmd, "warn_type", 0, 10_000, 0)
    out = {**_base(command), "all_count": 0, "cur_count": 0, "rvods": []}
    if warn_type:  # §7.5.22 recordings are not alarm recordings
        return Outcome(0, out)
    first = (page - 1) * per_page
    files, total = [], 0
    device_page = first // DEVICE_PAGE + 1
    while len(files) < (first % DEVICE_PAGE) + per_page:
        answer = yield run("file_query", {"ChannelNo": command.channel_no, "StartTime": start, "EndTime": end,
                                          "PageNo": device_page})
        total = answer.TotalRecordNum or 0
        files.extend(answer.File)
        if len(answer.File) < DEVICE_PAGE or (device_page * DEVICE_PAGE) >= total:
            break
        device_page += 1
    chosen = files[first % DEVICE_PAGE:first % DEVICE_PAGE + per_page]
    out.update(all_count=total, cur_count=len(chosen), rvods=[
        {"warn_type": 0, "video_desc": f.FileName, "size": f.FileSize, "start_time": _file_time(f.StartTime),
         "end_time": _file_time(f.EndTime)} for f in chosen])
    return Outcome(0, out)


# -- 11 upgrade


@handles(11)
@defer.inlineCallbacks
def _upgrade(command, run, extras):
    cmd = _cmd(command)
    version = cmd.get("ver")
    if not isinstance(version, str) or not _VERSION_TEXT.match(version):
        raise errors.BadValue("cmd.ver is the firmware's version (its DevVer)")
    if extras.upgrade is None:
        raise Unsupported("no firmware catalogue here")
    # the camera fetches the image from the platform's FTP server (§7.5.17): url and md5 are not used
    yield extras.upgrade(version)
    return _done(command)


# -- 26/27 recording


def _hhmm(text, name: str, end: bool) -> str:
    match = _CLOCK.match(str(text or ""))
    if match is None:
        raise errors.BadValue("%s is HH:MM:SS" % name)
    hours, minutes, seconds = (int(x) for x in match.groups())
    total = hours * 60 + minutes + (1 if end and seconds else 0)  # an end inside a minute keeps that minute
    return "%02d:%02d" % divmod(total, 60)


def _clock(hhmm: str) -> str:
    return "23:59:59" if hhmm == "24:00" else hhmm + ":00"


def _week(weekday) -> int:
    if isinstance(weekday, bool) or weekday not in range(7):
        raise errors.BadValue("weekday is 0 (Sunday) to 6")
    return weekday or 7  # §7.5.13 Week 1 Monday … 7 Sunday


@handles(26)
@defer.inlineCallbacks
def _record_status(command, run, extras):
    policies = yield run("query_record_policy", {"ChannelNo": command.channel_no})
    loop = yield run("get_record_loop", {"StorageFlag": SD_CARD})
    cmd: dict = {"mode": 1 if policies.WeekPolicy else 0, "recycle": 1 if loop.RecordLoop else 0}
    if policies.WeekPolicy:
        cmd["time"] = [{"weekday": p.Week % 7, "start_time": _clock(p.StartTime), "end_time": _clock(p.EndTime)}
                       for p in policies.WeekPolicy]
    return Outcome(0, {**_base(command), "cmd": cmd})


@handles(27)
@defer.inlineCallbacks
def _record_set(command, run, extras):
    cmd = _cmd(command)
    mode = _int(cmd, "mode", 0, 1)
    windows = []
    if mode == 1:
        times = cmd.get("time")
        if not isinstance(times, list) or not times:
            raise errors.BadValue("cmd.time lists the windows when mode is 1")
        for item in times:
            if not isinstance(item, dict):
                raise errors.BadValue("cmd.time holds objects")
            windows.append({"StoreType": 0, "StreamType": 1, "Week": _week(item.get("weekday")),
                            "StartTime": _hhmm(item.get("start_time"), "start_time", False),
                            "EndTime": _hhmm(item.get("end_time"), "end_time", True)})
    recycle = _int(cmd, "recycle", 0, 1) if "recycle" in cmd else None
    held = yield run("query_record_policy", {"ChannelNo": command.channel_no})
    for policy in held.WeekPolicy:
        if policy.PolicyID:
            yield run("del_record_policy", {"ChannelNo": command.channel_no, "PolicyID": policy.PolicyID})
    if windows:
        yield run("add_record_policy", {"ChannelNo": command.channel_no, "WeekPolicy": windows})
    if recycle is not None:
        yield run("set_record_loop", {"RecordLoop": recycle, "StorageFlag": SD_CARD})
    return _done(command)


# -- 30/31 TF card


@handles(30)
@defer.inlineCallbacks
def _card(command, run, extras):
    answer = yield run("store_query", {})
    state = answer.Result  # §7.5.36: 1 ready, 0 no medium, 2 unformatted, 3 faulty
    total, free = (answer.TotalSize or 0) * 1024, (answer.FreeSize or 0) * 1024
    onenet = {0: 0, 1: 1, 2: 2, 3: 2}.get(state, 2)
    if onenet == 1 and total and not free:
        onenet = 3  # full
    return Outcome(0, {**_base(command), "cmd": {"state": onenet, "blocks": total, "available": free,
                                                 "mode": 2 if state == 1 else 0}})


@handles(31)
@defer.inlineCallbacks
def _card_operation(command, run, extras):
    opt = _cmd(command).get("opt")
    if opt != "format":
        raise Unsupported("TF card %r: §7.5.37 formats; it does not mount or unmount" % (opt,))
    yield run("store_format", {})
    return _done(command)


# -- 32 snapshot


@handles(32)
@defer.inlineCallbacks
def _snapshot(command, run, extras):
    if extras.snapshot is None:
        raise Unsupported("no snapshot without the media service")
    cmd = _cmd(command, required=False)
    width = _int(cmd, "width", 16, 8192) if "width" in cmd else None
    height = _int(cmd, "height", 16, 8192) if "height" in cmd else None
    quality = _int(cmd, "quality", 1, 100, 100)
    name = yield extras.snapshot(command.channel_no, width, height, quality)
    return Outcome(0, {**_result(command, 1), "cmd": {"name": name}})


# -- 33/34 AV settings


def _frame_size(text) -> int:
    value = re.sub(r"\s+", "", str(text)).lower().replace("x", "*")
    for code, size in FRAME_SIZES.items():
        if size == value:
            return code
    if value in _SIZE_ALIASES:
        return _SIZE_ALIASES[value]
    raise errors.BadValue("resolution is one of %s" % ", ".join(FRAME_SIZES.values()))


@handles(33)
@defer.inlineCallbacks
def _av(command, run, extras):
    answer = yield run("get_channel", {"ChannelNo": command.channel_no, "StreamType": 1})
    cmd: dict = {}
    if answer.BitRate in range(1, len(BIT_RATES)):
        cmd["bitRate"] = BIT_RATES[answer.BitRate]
    if answer.FrameRate is not None:
        cmd["frameRate"] = str(answer.FrameRate)
    if answer.FrameSize in FRAME_SIZES:
        cmd["resolution"] = FRAME_SIZES[answer.FrameSize]
    if answer.AudioInput in (0, 1):
        cmd["audio"] = "on" if answer.AudioInput else "off"
    return Outcome(0, {**_base(command), "cmd": cmd})


@handles(34)
@defer.inlineCallbacks
def _av_set(command, run, extras):
    cmd = _cmd(command)
    values: dict = {"ChannelNo": command.channel_no, "StreamType": 1}
    codec = cmd.get("codec")
    if codec is not None and str(codec).lower() != "h264":
        raise Unsupported("codec %r: §7.5.6 sets no codec" % (codec,))
    if cmd.get("bitRate") is not None:
        rate = cmd["bitRate"]
        if isinstance(rate, bool) or rate not in BIT_RATES[1:]:
            raise errors.BadValue("bitRate is one of %s kbit/s" % ", ".join(map(str, BIT_RATES[1:])))
        values["BitRate"] = BIT_RATES.index(rate)
    if cmd.get("frameRate") is not None:
        values["FrameRate"] = _int(cmd, "frameRate", 1, 60)
    if cmd.get("resolution") is not None:
        values["FrameSize"] = _frame_size(cmd["resolution"])
    if cmd.get("audio") is not None:
        if cmd["audio"] not in ("on", "off"):
            raise errors.BadValue("audio is on or off")
        values["AudioInput"] = 1 if cmd["audio"] == "on" else 0
    yield run("set_channel", values)
    return _done(command)


# -- 39/40 camera on/off


@handles(39)
@defer.inlineCallbacks
def _camera(command, run, extras):
    on = yield extras.camera(command.channel_no)
    return Outcome(0, {**_base(command), "cmd": {"status": "on" if on else "off"}})


@handles(40)
@defer.inlineCallbacks
def _camera_set(command, run, extras):
    status = _cmd(command).get("status")
    if status not in ("on", "off"):
        raise errors.BadValue("cmd.status is on or off")
    yield extras.set_camera(command.channel_no, status == "on")
    return _done(command)


# -- 41/42 Wi-Fi


@handles(41)
@defer.inlineCallbacks
def _wifi(command, run, extras):
    answer = yield run("get_wifi", {})
    return Outcome(0, {**_base(command), "cmd": {"list": [w.SSID for w in answer.WifiSSID]}})


@handles(42)
@defer.inlineCallbacks
def _wifi_set(command, run, extras):
    cmd = _cmd(command)
    ssid, password = cmd.get("wifi_id"), cmd.get("wifi_pw")
    if not isinstance(ssid, str) or not ssid:
        raise errors.BadValue("cmd.wifi_id is the network's name")
    if password is not None and not isinstance(password, str):
        raise errors.BadValue("cmd.wifi_pw is a string")
    seen = yield run("get_wifi", {})
    security = next((w.Security for w in seen.WifiSSID if w.SSID == ssid and w.Security is not None),
                    3 if password else 0)  # unseen: WPA/WPA2-PSK with a password, open without
    values = {"SSID": ssid, "Security": security}
    if password:
        values["Password"] = password
    yield run("set_wifi", values)
    return _done(command)


# -- 80/81, 91/92 alarm switches


@handles(80, 91)
@defer.inlineCallbacks
def _alarm(command, run, extras):
    answer = yield run("get_alarm", {"ChannelNo": command.channel_no, "AlarmType": ALARM_TYPES[command.cmd_id]})
    return Outcome(0, {**_base(command), "cmd": {"state": 1 if answer.AlarmFlag == 1 else 0}})


@handles(81, 92)
@defer.inlineCallbacks
def _alarm_set(command, run, extras):
    cmd = _cmd(command)
    name = "enable" if "enable" in cmd else "state"
    flag = _int(cmd, name, 0, 1)
    yield run("set_alarm", {"ChannelNo": command.channel_no, "AlarmType": ALARM_TYPES[command.cmd_id],
                            "AlarmFlag": flag})
    return _done(command)
