"""The ``[group_role]`` listener: ``POST /redirect`` (§5), ``POST /cms`` (§6), ``/group`` (§9, SOAP).

``/redirect``: a device's REDIRECT_REQ; 200 with REDIRECT_RES Result 0, the
claiming province's DevUrl as LcmsUrl and the STUN servers (``[group_role]
stun_address``, ``backup_stun_address``), or 401 with a REDIRECT_RES saying
why (§6.6 step 3; the table: :mod:`.results`).

``/cms``: a province's ADDRESS_REPORT_REQ, USER_OPEN_REQ, USER_CHANGE_REQ,
USER_CANCEL_REQ or DEVICE_USE_REQ (the root element says which); each
checked for its ProvinceNo, CmsNo and CmsPassword first and answered 200
with its ``*_RES`` and Result.

Bad input, on either path, never reaches the core and gets a plain-text
HTTP error: not POST 405, another path 404, a body over 64 KiB 413 (before
it is read, :mod:`kandian.web`), a body that is not one of the path's
documents — malformed, a DOCTYPE or entity (no XXE), another encoding, a
field missing or out of range — 400.  Each is logged once (peer strings
truncated) and counted (:class:`GroupRoleStats`, ``/metrics``).
"""

from __future__ import annotations

import collections

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server

from ..core import errors
from ..core.errors import DomainError, log_failure
from ..group import messages as m
from ..logs import peer_text
from . import results

log = Logger()

CONTENT_TYPE = b"text/xml;charset=UTF-8"


class GroupRoleStats:
    """Counters for ``/metrics``: answers by request root and Result, bad input by reason."""

    def __init__(self):
        self.answers: collections.Counter = collections.Counter()  # (ROOT, Result) → count
        self.bad_input: collections.Counter = collections.Counter()  # reason → count


def _peer(request) -> str:
    return getattr(request.getClientAddress(), "host", None) or "?"


class _XmlPost(resource.Resource):
    """A leaf taking one XML document by POST; subclasses handle the decoded message."""

    isLeaf = True
    accepts: tuple[type, ...] = ()
    path = ""

    def __init__(self, role, stats: GroupRoleStats):
        super().__init__()
        self.role = role
        self.stats = stats

    def render(self, request):
        if request.postpath not in ([], [b""]):
            return self._refuse(request, 404, "path", "not found: POST %s" % self.path)
        if request.method != b"POST":
            request.setHeader(b"allow", b"POST")
            return self._refuse(request, 405, "method", "method not allowed: POST %s" % self.path)
        try:
            message = m.decode(request.content.read(), self.accepts)
        except ValueError as e:  # the codec's only error, whatever the bytes
            return self._refuse(request, 400, "malformed", "bad request: %s" % (e,))
        d = defer.maybeDeferred(self.handle, request, message)
        d.addErrback(self._failed, request)
        return server.NOT_DONE_YET

    def _refuse(self, request, code: int, reason: str, text: str) -> bytes:
        self.stats.bad_input[reason] += 1
        log.info("group role: {path} from {peer} refused ({code}): {why}", path=self.path, peer=_peer(request),
                 code=code, why=peer_text(text, 200))
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return (peer_text(text, 300) + "\n").encode("utf-8")

    def _failed(self, failure, request):
        log_failure(log, "group role: {path} failed", failure, path=self.path)
        self._write(request, 500, b"internal error\n", b"text/plain; charset=utf-8")

    @staticmethod
    def _write(request, code: int, body: bytes, content_type: bytes = CONTENT_TYPE) -> None:
        if request.finished or request._disconnected:
            return
        request.setResponseCode(code)
        request.setHeader(b"content-type", content_type)
        request.write(body)
        request.finish()

    def handle(self, request, message):  # pragma: no cover - every subclass has its own
        raise NotImplementedError


class Redirect(_XmlPost):
    """§5 REDIRECT_REQ → REDIRECT_RES."""

    accepts = (m.RedirectRequest,)
    path = "/redirect"

    def __init__(self, role, stats: GroupRoleStats, stun=None, backup_stun=None):
        """*stun*, *backup_stun*: (host, port) of the STUN servers, or None."""
        super().__init__(role, stats)
        self.stun = stun
        self.backup_stun = backup_stun or stun

    @defer.inlineCallbacks
    def handle(self, request, asked: m.RedirectRequest):
        error = url = None
        try:
            url = yield self.role.redirect(asked.DevID, asked.DevKey, asked.Mode, asked.DevType)
        except (DomainError, errors.DatabaseUnavailable) as e:
            error = e
        code, result = results.redirect_answer(error)
        self.stats.answers[(asked.ROOT, result)] += 1
        if error is not None and not isinstance(error, errors.DatabaseUnavailable):
            # a device no province claimed yet is the normal first contact (§6.6 step 3)
            (log.debug if isinstance(error, errors.DeviceUnclaimed) else log.info)(
                "group role: REDIRECT_REQ of {dev_id} from {peer}: {code}, Result {result} ({why})",
                dev_id=peer_text(asked.DevID), peer=_peer(request), code=code, result=result,
                why=peer_text(str(error), 120))
        stun, backup = (self.stun, self.backup_stun) if error is None else (None, None)
        answer = m.RedirectResponse(
            Result=result, DevID=asked.DevID, LcmsUrl=url,
            StunIP=stun[0] if stun else None, StunPort=stun[1] if stun else None,
            BackupStunIP=backup[0] if backup else None, BackupStunPort=backup[1] if backup else None)
        self._write(request, code, answer.to_xml())


class Cms(_XmlPost):
    """§6.1–§6.5 from province platforms."""

    accepts = tuple(m.CMS_REQUESTS.values())
    path = "/cms"

    @defer.inlineCallbacks
    def handle(self, request, asked: m.ProvinceRequest):
        answer_class = m.RESPONSE_OF[type(asked)]
        fields: dict = {}
        try:
            province = yield self.role.authenticate(asked.ProvinceNo, asked.CmsNo, asked.CmsPassword,
                                                    _peer(request))
            fields = yield self._do(province, asked)
            result = results.OK
        except (DomainError, errors.DatabaseUnavailable) as e:
            result = results.result_for(type(asked), e)
            if not isinstance(e, (*results.QUIET, errors.DatabaseUnavailable)):
                log.info("group role: {root} of {p}/{c} from {peer}: Result {result} ({why})", root=asked.ROOT,
                         p=peer_text(asked.ProvinceNo, 8), c=peer_text(asked.CmsNo, 8), peer=_peer(request),
                         result=result, why=peer_text(str(e), 160))
        self.stats.answers[(asked.ROOT, result)] += 1
        self._write(request, 200, answer_class(Result=result, **fields).to_xml())

    @defer.inlineCallbacks
    def _do(self, province, asked):
        role = self.role
        if isinstance(asked, m.AddressReportRequest):
            releases = yield role.address_report(province, asked.CmsVer, asked.McuUrl, asked.DevUrl)
            log.info("group role: province {p}/{c} reported McuUrl {mcu}, DevUrl {dev}", p=province.province_no,
                     c=province.cms_no, mcu=peer_text(asked.McuUrl, 120), dev=peer_text(asked.DevUrl, 120))
            return _release_fields(releases)
        if isinstance(asked, m.UserOpenRequest):
            yield role.user_open(province, asked.MobileTel, asked.IpcamNum)
        elif isinstance(asked, m.UserChangeRequest):
            yield role.user_change(province, asked.MobileTel, asked.IpcamNum)
        elif isinstance(asked, m.UserCancelRequest):
            yield role.user_cancel(province, asked.MobileTel)
        else:
            yield role.device_use(province, asked.DevID, asked.DevKey)
        return {}


def _release_fields(releases) -> dict:
    fields: dict = {}
    for prefix, release in (("McuAndroid", releases.android), ("McuIos", releases.ios), ("McuWin", releases.windows)):
        if release is not None:
            fields[prefix + "Url"], fields[prefix + "Ver"] = release.url, release.version
    return fields


def root(role, stats: GroupRoleStats, soap=None, stun=None, backup_stun=None) -> resource.Resource:
    """The listener's tree: ``/redirect``, ``/cms`` and (*soap*) ``/group``; anything else 404."""
    top = resource.Resource()
    top.putChild(b"redirect", Redirect(role, stats, stun, backup_stun))
    top.putChild(b"cms", Cms(role, stats))
    if soap is not None:
        top.putChild(b"group", soap)
    return top
