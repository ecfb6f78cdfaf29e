"""spec/000's StatusCode and Description: the one table of this interface.

The file's codes (its ``MS_ERR_…`` list) with its descriptions; which domain
error answers which (PRODUCT.md "Compatibility APIs"): 2 a request that
cannot be read or a wrong DeviceUser/DevicePass, 3 the device is not
reachable, 4 no such device (or channel) for that account, 5 the device
refused, 7 no such play session (never opened, stopped, ended, expired), 8
a stream that cannot do that (a live stream has no position; the camera
refused a speed or a position), 100003 busy (too many sessions or streams,
too many failed logins from that address, the database down), 100015 no
recording in that time.  Anything else is 1 and logged with its traceback.

A success's Description is the file's for that action — word for word,
including its "暂停播放成功" for resumeplay and queryrecordfile.
"""

from __future__ import annotations

from ..core import errors as e

OK = 0
UNKNOWN = 1
PARAMS_INVALID = 2
CONNECT_FAIL = 3
DEVICE_NOT_REGISTER = 4
CALL_FAIL = 5
REQUEST_CANCELLED = 6
CALL_NOT_EXIST = 7
INVALID_STATE = 8
TASK_EXCEPTION = 100001
MEM_EXCEPTION = 100002
SERVICE_BUSY = 100003
NO_RECORD_DATA = 100015

DESCRIPTIONS = {
    UNKNOWN: "未知原因失败",
    PARAMS_INVALID: "参数不正确",
    CONNECT_FAIL: "通讯失败",
    DEVICE_NOT_REGISTER: "设备未注册",
    CALL_FAIL: "建立呼叫失败",
    REQUEST_CANCELLED: "请求取消",
    CALL_NOT_EXIST: "呼叫不存在",
    INVALID_STATE: "状态不对",
    TASK_EXCEPTION: "任务执行异常",
    MEM_EXCEPTION: "内存异常",
    SERVICE_BUSY: "服务器忙",
    NO_RECORD_DATA: "没有录像数据",
}

SUCCESS = {
    "play": "请求成功",
    "stopplay": "请求成功",
    "changespeed": "请求成功",
    "changeplayposition": "改变播放位置成功",
    "pauseplay": "暂停播放成功",
    "resumeplay": "暂停播放成功",
    "queryrecordfile": "暂停播放成功",
}

TABLE: dict[type, int] = {
    e.BadValue: PARAMS_INVALID,
    e.NoSuchAccount: PARAMS_INVALID,
    e.WrongPassword: PARAMS_INVALID,
    e.Forbidden: PARAMS_INVALID,
    e.TooManyFailures: SERVICE_BUSY,
    e.NoSuchDevice: DEVICE_NOT_REGISTER,
    e.NotBound: DEVICE_NOT_REGISTER,
    e.NoSuchChannel: DEVICE_NOT_REGISTER,
    e.DeviceOffline: CONNECT_FAIL,
    e.NoRoute: CONNECT_FAIL,
    e.DeviceRefused: CALL_FAIL,
    e.StreamClosed: CALL_FAIL,
    e.TooManyStreams: SERVICE_BUSY,
    e.DatabaseUnavailable: SERVICE_BUSY,
    e.NoSuchPlaySession: CALL_NOT_EXIST,
    e.WrongPlayState: INVALID_STATE,
    e.NoRecording: NO_RECORD_DATA,
}


def status_for(error: BaseException) -> int | None:
    """The StatusCode of *error*; None for one that is not a refusal (a bug: 1, logged)."""
    return e.lookup(TABLE, error)
