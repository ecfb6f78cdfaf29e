"""The signed alarm page the alarm SMS links to (§7.5.34; PRODUCT.md "SMS").

``GET /alarm/{alarm_id}?exp=E&sig=S`` answers an HTML page naming the
camera, the alarm type and time, with the alarm's picture from
``/alarm/{alarm_id}/picture.jpg?exp=E&sig=S`` — or "picture not yet
received" (the page refreshes itself) until the camera's FTP upload is
linked to the alarm.  Both check the link's signature and expiry through
the core (:class:`kandian.core.notify.AlarmLinks`); the link is the only
credential, so the page sends no referrer and is never cached.

Answers: 200; 400 a malformed link; 403 a signature that is not the
platform's; 410 an expired link; 404 no such alarm (or no picture yet, for
the picture); 503 the database is unavailable.  Each refusal is counted in
``stats`` (by reason) and logged at most once a minute per reason.  The
picture is served by ``twisted.web.static.File`` (a producer reading 64 KiB
at a time, with Range and conditional requests); its size is bounded by the
FTP server's per-file cap.
"""

from __future__ import annotations

import collections
import datetime
import html
import os
import re

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server, static

from ..core import errors
from ..core.notify import alarm_type_words
from ..limits import RateLimitedLog
from ..logs import peer_text

log = Logger()

_ID = re.compile(rb"^[1-9][0-9]{0,17}$")
_EXPIRES = re.compile(rb"^[0-9]{1,12}$")
_SIGNATURE = re.compile(rb"^[A-Za-z0-9_=-]{1,64}$")

# refusal → HTTP status: the one table of this interface
STATUS = {
    errors.LinkExpired: 410,
    errors.LinkRefused: 403,
    errors.BadValue: 400,
    errors.NoSuchAlarm: 404,
    errors.DatabaseUnavailable: 503,
}
MESSAGES = {
    400: "链接格式错误 (malformed link)",
    403: "链接无效 (invalid link)",
    404: "没有这条告警 (no such alarm)",
    410: "链接已过期 (link expired)",
    503: "服务暂不可用，请稍后再试 (temporarily unavailable)",
}
PICTURE_PENDING = "图片尚未收到 (picture not yet received)"
REFRESH_SECONDS = 10

_HEADERS = {
    b"cache-control": b"no-store",
    b"referrer-policy": b"no-referrer",
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
}
_PAGE_CSP = b"default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


class AlarmPageStats:
    def __init__(self):
        self.answers: collections.Counter = collections.Counter()  # (what, status) → count


class AlarmPages(resource.Resource):
    """``/alarm``: one child per alarm id.  *alarms*: the core's alarms
    (``get(alarm_id)``); *links*: its AlarmLinks; *picture(alarm_id)*: a
    Deferred of the alarm's picture (a row with ``.path``) or None."""

    def __init__(self, alarms, links, picture, clock, timezone):
        super().__init__()
        self.alarms = alarms
        self.links = links
        self.picture = picture
        self.clock = clock
        self.timezone = timezone
        self.stats = AlarmPageStats()
        self._log = RateLimitedLog(clock)

    def getChild(self, path, request):
        return AlarmPage(self, path)

    def render_GET(self, request):
        return self.refuse(request, "page", errors.BadValue("no alarm id"))

    # -- shared by the page and its picture

    def checked(self, request, raw_id: bytes) -> int:
        """The alarm id of a request whose link is valid; raises BadValue,
        LinkRefused, LinkExpired."""
        expires = (request.args.get(b"exp") or [b""])[0]
        signature = (request.args.get(b"sig") or [b""])[0]
        if not (_ID.match(raw_id) and _EXPIRES.match(expires) and _SIGNATURE.match(signature)):
            raise errors.BadValue("malformed alarm link")
        alarm_id = int(raw_id)
        self.links.check(alarm_id, int(expires), signature.decode("ascii"))
        return alarm_id

    def refuse(self, request, what: str, error: BaseException, failure=None) -> bytes:
        code = errors.lookup(STATUS, error)
        if code is None:
            log.failure("alarm {what}: unexpected error", failure, what=what)
            code = 500
        self.stats.answers[what, code] += 1
        held = self._log.due((what, code))
        if held is not None and code != 500 and not isinstance(error, errors.DatabaseUnavailable):
            log.info("alarm {what} refused {code} to {peer}: {why} ({held} more since the last line)", what=what,
                     code=code, peer=request.getClientAddress().host if request.getClientAddress() else "?",
                     why=peer_text(str(error)), held=held)
        request.setResponseCode(code)
        _secure(request)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"content-security-policy", b"default-src 'none'")
        return _document(MESSAGES.get(code, "服务器错误 (server error)"),
                         "<p>%s</p>" % html.escape(MESSAGES.get(code, "服务器错误 (server error)")))

    def when(self, alarm_time) -> str:
        if isinstance(alarm_time, datetime.datetime):
            return alarm_time.astimezone(self.timezone).strftime("%Y-%m-%d %H:%M:%S")
        return str(alarm_time)


class AlarmPage(resource.Resource):
    def __init__(self, pages: AlarmPages, raw_id: bytes):
        super().__init__()
        self.pages = pages
        self.raw_id = raw_id

    def getChild(self, path, request):
        if path == b"picture.jpg" and not request.postpath:
            return AlarmPicture(self.pages, self.raw_id)
        return Refusal(self.pages, "page", errors.NoSuchAlarm("no such resource"))

    def render_GET(self, request):
        try:
            alarm_id = self.pages.checked(request, self.raw_id)
        except errors.DomainError as e:
            return self.pages.refuse(request, "page", e)
        _answer(request, self._page(request, alarm_id), self.pages, "page")
        return server.NOT_DONE_YET

    @defer.inlineCallbacks
    def _page(self, request, alarm_id: int):
        alarm = yield self.pages.alarms.get(alarm_id)
        if alarm is None:
            raise errors.NoSuchAlarm("alarm %d" % (alarm_id,))
        picture = yield self.pages.picture(alarm_id)
        query = request.uri.split(b"?", 1)[1].decode("ascii")
        rows = [("摄像机", alarm.camera), ("告警类型", alarm_type_words(alarm.alarm_type, alarm.dido_no)),
                ("时间", self.pages.when(alarm.alarm_time))]
        body = "<h1>告警</h1><dl>%s</dl>" % "".join(
            "<dt>%s</dt><dd>%s</dd>" % (html.escape(k), html.escape(v)) for k, v in rows)
        refresh = ""
        if picture is not None:
            body += '<p><img src="%d/picture.jpg?%s" alt="告警图片" style="max-width:100%%"></p>' % (
                alarm_id, html.escape(query))
        else:
            body += "<p>%s</p>" % (html.escape(PICTURE_PENDING),)
            refresh = '<meta http-equiv="refresh" content="%d">' % (REFRESH_SECONDS,)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"content-security-policy", _PAGE_CSP)
        return _document("告警 %s" % alarm.camera, body, refresh)


class AlarmPicture(resource.Resource):
    isLeaf = True

    def __init__(self, pages: AlarmPages, raw_id: bytes):
        super().__init__()
        self.pages = pages
        self.raw_id = raw_id

    def render_GET(self, request):
        try:
            alarm_id = self.pages.checked(request, self.raw_id)
        except errors.DomainError as e:
            return self.pages.refuse(request, "picture", e)
        _answer(request, self._picture(request, alarm_id), self.pages, "picture")
        return server.NOT_DONE_YET

    @defer.inlineCallbacks
    def _picture(self, request, alarm_id: int):
        picture = yield self.pages.picture(alarm_id)
        if picture is None or not os.path.isfile(picture.path):
            raise errors.NoSuchAlarm("no picture of alarm %d yet" % (alarm_id,))
        return static.File(picture.path, defaultType="image/jpeg")


class Refusal(resource.Resource):
    isLeaf = True

    def __init__(self, pages: AlarmPages, what: str, error: BaseException):
        super().__init__()
        self.pages = pages
        self.what = what
        self.error = error

    def render(self, request):
        return self.pages.refuse(request, self.what, self.error)


def _answer(request, work: defer.Deferred, pages: AlarmPages, what: str) -> None:
    gone = []
    request.notifyFinish().addErrback(lambda f: gone.append(True))

    def done(result):
        if gone:
            return
        _secure(request)
        if isinstance(result, static.File):
            result.type, result.encoding = "image/jpeg", None
            pages.stats.answers[what, 200] += 1
            body = result.render_GET(request)
            if body is not server.NOT_DONE_YET:
                request.write(body)
                request.finish()
            return
        pages.stats.answers[what, 200] += 1
        request.write(result)
        request.finish()

    def failed(failure):
        if gone:
            return
        body = pages.refuse(request, what, failure.value, failure)
        request.write(body)
        request.finish()

    work.addCallbacks(done, failed)


def _secure(request) -> None:
    for name, value in _HEADERS.items():
        request.setHeader(name, value)


def _document(title: str, body: str, head: str = "") -> bytes:
    return ("<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">%s<title>%s</title>"
            "</head><body>%s</body></html>" % (head, html.escape(title), body)).encode("utf-8")
