"""spec/002's err_code and err_msg: the one table of this interface.

The file's codes: 0 OK; for ``access_token`` 1001 a unionid that is no key's
shape, 1002 no such key, 1003 a revoked key, 1004 the token could not be
made; everywhere else 1004 no token, 1006 a token that is not one this
platform made, 1007 an expired token (or one whose key was revoked since:
the client fetches a new one and is told why), 1008 no name, 1010 no id or
an id of nothing, 1011 a start time that is not HH:MM:SS (or a day not
0–6), 1012 a course overlapping another, 1013 a course past midnight.
A record still being recorded cannot be deleted or played (1009).
kandian adds two the file lacks: 1009 a parameter out of its range or
form, 1005 the platform could not do it now (the database, a device that
did not answer) — logged.  An unexpected failure is 1005 too, logged with
its traceback.  Answers are HTTP 200 (the file's clients read err_code);
an unknown endpoint is 404 and a method other than GET 405, with 1009.
"""

from __future__ import annotations

from ..core import errors as e

OK = (0, "OK")
NO_UNIONID = (1001, "无效的 unionid")
NO_ACCOUNT = (1002, "没有找到 unionid 指定的帐号")
NO_PERMISSION = (1003, "unionid 对应的帐号没有接口访问权限")
TOKEN_NOT_MADE = (1004, "生成 token 过程中发生错误")
NO_TOKEN = (1004, "没有凭证, 请确认参数")
UNAVAILABLE = (1005, "服务暂时不可用, 请稍后再试")
BAD_TOKEN = (1006, "解析 token 失败")
EXPIRED = (1007, "凭证已过期, 请重新获取")
NO_NAME = (1008, "没有名称, 请确认参数")
BAD_PARAMETER = (1009, "参数格式不正确")
NO_ID = (1010, "没有编号, 请确认参数")
BAD_TIME = (1011, "输入日期格式不正确")
OVERLAP = (1012, "输入时间与已有时间发生重叠")
CROSS_DAY = (1013, "不支持跨天任务")
NO_ENDPOINT = (1009, "没有这个接口")

TABLE: dict[type, tuple[int, str]] = {
    e.BadAccessToken: BAD_TOKEN,
    e.AccessTokenExpired: EXPIRED,
    e.ApiKeyRevoked: EXPIRED,
    e.NoSuchApiKey: EXPIRED,
    e.NotAuthenticated: NO_TOKEN,
    e.BadValue: BAD_PARAMETER,
    e.NoSuchDevice: NO_ID,
    e.NoSuchChannel: NO_ID,
    e.NotBound: NO_ID,
    e.NoPicture: NO_ID,
    e.NoSuchRecording: NO_ID,
    e.NoSuchSchedule: NO_ID,
    e.ScheduleOverlap: OVERLAP,
    e.CrossesMidnight: CROSS_DAY,
    e.RecordingInProgress: BAD_PARAMETER,
    e.RecordingUnavailable: UNAVAILABLE,
    e.DeviceExists: BAD_PARAMETER,
    e.DatabaseUnavailable: UNAVAILABLE,
    e.DeviceOffline: UNAVAILABLE,
    e.DeviceRefused: UNAVAILABLE,
    e.Forbidden: NO_PERMISSION,
}

# access_token (§3.2): the key itself is checked
ACCESS_TOKEN: dict[type, tuple[int, str]] = {
    e.BadValue: NO_UNIONID,
    e.NoSuchApiKey: NO_ACCOUNT,
    e.ApiKeyRevoked: NO_PERMISSION,
    e.DatabaseUnavailable: TOKEN_NOT_MADE,
}

# a refusal that is the platform's trouble, not the caller's: logged as a warning
TROUBLE = {UNAVAILABLE[0], TOKEN_NOT_MADE[0]}


def code_for(error: BaseException, override: dict | None = None) -> tuple[int, str] | None:
    found = e.lookup(override, error) if override else None
    return found if found is not None else e.lookup(TABLE, error)


class Refusal(Exception):
    """A refusal of the interface itself (a parameter missing or malformed): its (err_code, err_msg)."""

    def __init__(self, code: tuple[int, str], why: str):
        super().__init__(why)
        self.code = code
