"""The REST API's operations: each reads its call, asks the core, shapes the answer (PRODUCT.md "Portal and REST API").

Authorization is the core's (:mod:`kandian.core.access`): a handler passes
the principal along and never decides who may do what.  The routes and
their handlers are listed in :meth:`Handlers.routes`; the OpenAPI document
(:mod:`.openapi`) describes the same list.
"""

from __future__ import annotations

import collections
import shutil
import tempfile

from twisted.internet import defer, threads

from ..core import errors
from ..core.commands import CATALOGUE, answer_fields, request_fields
from ..core.fleet import DeviceFilter
from . import csvimport, results, upload, views
from .api import CSRF_COOKIE, TOKEN_COOKIE, ApiError, FileBody, Reply, Upload, etag_of
from .recordings import RecordingHandlers
from .router import Route

PAGES_KEPT = 64  # device list bodies kept (Handlers.devices)


def _login_errors(handler):
    handler.errors = results.LOGIN
    return handler


def _dict(body, what="the body") -> dict:
    if not isinstance(body, dict):
        raise ApiError(results.BAD_REQUEST, "%s is a JSON object" % what)
    return body


def _cookie(name: bytes, value: str, max_age: int, secure: bool, http_only: bool) -> bytes:
    parts = [b"%s=%s" % (name, value.encode("ascii")), b"Path=/", b"SameSite=Strict", b"Max-Age=%d" % max_age]
    if http_only:
        parts.append(b"HttpOnly")
    if secure:
        parts.append(b"Secure")
    return b"; ".join(parts)


class Handlers:
    def __init__(self, core, zone, *, token_ttl: int):
        self.core = core
        self.times = views.Times(zone)
        # an IANA name (kandian.config: a ZoneInfo): PostgreSQL formats times in it
        self.zone_name = getattr(zone, "key", None) or "UTC"
        self.token_ttl = token_ttl
        # the device list's bodies and ETags by what they are made of (page, per_page, total, the items with their
        # online): a page polled from the list cache is joined and hashed once, not once a request
        self._pages: collections.OrderedDict = collections.OrderedDict()

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/login", self.login, auth=False, lists=False),
            Route("POST", "/logout", self.logout, lists=False),
            Route("GET", "/me", self.me),
            Route("POST", "/me/password", self.change_password, lists=False),
            Route("GET", "/devices", self.devices),
            Route("POST", "/devices", self.add_device),
            Route("POST", "/devices/import", self.import_devices),
            Route("GET", "/devices/{DevID}", self.device),
            Route("PATCH", "/devices/{DevID}", self.edit_device),
            Route("DELETE", "/devices/{DevID}", self.delete_device),
            Route("GET", "/devices/{DevID}/exceptions", self.device_exceptions),
            Route("GET", "/devices/{DevID}/shares", self.shares),
            Route("POST", "/devices/{DevID}/shares", self.share),
            Route("DELETE", "/devices/{DevID}/shares/{mobile}", self.unshare),
            Route("POST", "/devices/{DevID}/commands/{name}", self.command, lists=False),
            Route("GET", "/commands", self.commands),
            Route("GET", "/alarms", self.alarms),
            Route("GET", "/alarms/{id}", self.alarm),
            Route("GET", "/alarms/{id}/picture", self.alarm_picture),
            Route("GET", "/exceptions", self.exceptions),
            Route("GET", "/users", self.users),
            Route("POST", "/users", self.add_user),
            Route("GET", "/users/{mobile}", self.user),
            Route("PATCH", "/users/{mobile}", self.edit_user),
            Route("DELETE", "/users/{mobile}", self.delete_user),
            Route("POST", "/users/{mobile}/password", self.reset_password, lists=False),
            Route("GET", "/manufacturers", self.manufacturers),
            Route("POST", "/manufacturers", self.add_manufacturer),
            Route("GET", "/stats/summary", self.stats_summary),
            *RecordingHandlers(self.core, self.times).routes(),
            Route("GET", "/devices/{DevID}/live", self.live_url),
            Route("GET", "/proxies", self.proxies),
            Route("POST", "/proxies", self.add_proxy, lists=False),
            Route("GET", "/firmware", self.firmware),
            Route("POST", "/firmware", self.add_firmware, lists=False),
            Route("GET", "/upgrades", self.campaigns),
            Route("POST", "/upgrades", self.start_campaign, lists=False),
            Route("GET", "/upgrades/{id}", self.campaign),
            Route("POST", "/upgrades/{id}/pause", self.pause_campaign, lists=False),
            Route("POST", "/upgrades/{id}/resume", self.resume_campaign, lists=False),
            Route("POST", "/upgrades/{id}/cancel", self.cancel_campaign, lists=False),
            Route("GET", "/devices/{DevID}/logs", self.device_logs),
            Route("POST", "/devices/{DevID}/logs/request", self.request_logs, lists=False),
            Route("POST", "/devices/{DevID}/send-key", self.send_key, lists=False),
        ]

    # -- login

    @_login_errors
    @defer.inlineCallbacks
    def login(self, call):
        body = _dict(call.body)
        done = yield self.core.api_auth.login(body.get("account"), body.get("password"), call.source)
        p = done.principal
        cookies = [_cookie(TOKEN_COOKIE, done.token, self.token_ttl, call.secure, True),
                   _cookie(CSRF_COOKIE, done.csrf, self.token_ttl, call.secure, False)]
        return Reply(200, {"token": done.token, "role": p.kind, "operator_role": p.role if p.operator else None,
                           "account": p.name, "csrf": done.csrf, "expires_at": self.times.out(done.expires_at)},
                     headers={b"set-cookie": cookies})

    @defer.inlineCallbacks
    def logout(self, call):
        yield self.core.api_auth.logout(call.token)
        gone = [_cookie(TOKEN_COOKIE, "", 0, call.secure, True), _cookie(CSRF_COOKIE, "", 0, call.secure, False)]
        return Reply(204, None, headers={b"set-cookie": gone})

    def me(self, call):
        p = call.principal
        return defer.succeed(Reply(200, {"account": p.name, "role": p.kind,
                                         "operator_role": p.role if p.operator else None}))

    @defer.inlineCallbacks
    def change_password(self, call):
        body = _dict(call.body)
        yield self.core.user_admin.change_password(call.principal, body.get("old_password"), body.get("new_password"))
        return Reply(204, None)

    # -- devices

    def _summary(self, s) -> dict:
        share = None
        if s.share_flag is not None:
            share = "own" if s.share_flag == 0 else ("control" if s.can_control else "view")
        return {"dev_id": s.dev_id, "name": s.name, "dev_type": s.dev_type, "model": s.model,
                "manufacturer_no": s.manufacturer_no, "manufacturer": s.manufacturer, "dev_ver": s.dev_ver,
                "online": s.online, "channels": s.channels, "last_seen_at": self.times.out(s.last_seen_at),
                "created_at": self.times.out(s.created_at), "owner": s.owner, "access": share}

    @defer.inlineCallbacks
    def devices(self, call):
        q = call.query
        f = DeviceFilter(online=views.boolean(q, "online"), q=views.text(q, "q"),
                         manufacturer_no=views.text(q, "manufacturer"), model=views.text(q, "model"),
                         dev_ver=views.text(q, "firmware"))
        page, per_page = views.integer(q, "page", 1), views.integer(q, "per_page", 50)
        total, rows = yield self.core.fleet.page_json(call.principal, f, views.text(q, "sort") or "dev_id", page,
                                                      per_page, self.zone_name)
        key = (page, per_page, total, tuple(rows))  # the items' texts hash once (str caches its hash)
        made = self._pages.get(key)
        if made is None:
            # the items' JSON comes whole from the store: only "online" (the router's) is added here
            items = ",".join(('{"online":true,' if online else '{"online":false,') + item[1:] for online, item in rows)
            body = ('{"items":[%s],"page":%d,"per_page":%d,"total":%d}' % (items, page, per_page, total)).encode()
            made = self._pages[key] = (body, etag_of(body))
            if len(self._pages) > PAGES_KEPT:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(key)
        return Reply(200, made[0], headers={b"etag": made[1]})

    @defer.inlineCallbacks
    def device(self, call):
        detail, _ = yield self.core.fleet.detail(call.principal, call.params["DevID"])
        s = detail.summary
        addresses = dict(detail.addresses)
        addresses["upnp_checked_at"] = self.times.out(addresses.get("upnp_checked_at"))
        current, newest = yield self.core.firmware.version(s.manufacturer_no, s.model, s.dev_ver)
        body = self._summary(s)
        body.update(
            provisioned_by=detail.provisioned_by, addresses=addresses, abilities=detail.abilities,
            channels=[{"channel_no": c.channel_no, "name": c.name} for c in detail.channels],
            videos=[{"StreamType": t, "FrameSize": f} for t, f in detail.videos],
            didos=[{"DIDONo": n, "name": name} for n, name in detail.didos],
            shares=[{"mobile": m, "control": c} for m, c in detail.shares],
            registered_at=self.times.out(detail.registered_at), last_login_at=self.times.out(detail.last_login_at),
            firmware={"current": current or None, "newest": newest if newest and newest != current else None})
        return Reply(200, body)

    @defer.inlineCallbacks
    def add_device(self, call):
        body = _dict(call.body)
        yield self.core.fleet.add(call.principal, body.get("dev_id"), body.get("dev_key"),
                                  dev_type=body.get("dev_type", 1), model=body.get("model", ""),
                                  channels=body.get("channels", 1), source=call.source)
        return Reply(201, {"dev_id": body.get("dev_id")})

    @defer.inlineCallbacks
    def import_devices(self, call):
        if not isinstance(call.body, bytes):
            raise ApiError(results.BAD_REQUEST, "send the CSV as text/csv")
        try:
            rows = csvimport.parse(call.body)
        except csvimport.CsvError as e:
            raise errors.BadValue(str(e)) from None
        done = yield self.core.fleet.import_rows(call.principal, rows)
        counts = {outcome: sum(1 for r in done if r.outcome == outcome) for outcome in ("added", "exists", "invalid")}
        return Reply(200, {**counts, "rows": [r._asdict() for r in done if r.outcome != "added"]})

    @defer.inlineCallbacks
    def edit_device(self, call):
        yield self.core.fleet.update(call.principal, call.params["DevID"], dict(_dict(call.body)))
        return (yield self.device(call))

    @defer.inlineCallbacks
    def delete_device(self, call):
        yield self.core.fleet.delete(call.principal, call.params["DevID"])
        return Reply(204, None)

    def _exception(self, e) -> dict:
        return {"id": e.exception_id, "dev_id": e.dev_id, "channel_no": e.channel_no,
                "exception_type": e.exception_type, "desc": e.desc, "at": self.times.out(e.at)}

    @defer.inlineCallbacks
    def device_exceptions(self, call):
        p = yield self.core.fleet.exceptions(call.principal, call.params["DevID"],
                                             views.integer(call.query, "page", 1),
                                             views.integer(call.query, "per_page", 50))
        return Reply(200, views.page(p, [self._exception(e) for e in p.items]))

    @defer.inlineCallbacks
    def exceptions(self, call):
        p = yield self.core.fleet.exceptions(call.principal, None, views.integer(call.query, "page", 1),
                                             views.integer(call.query, "per_page", 50))
        return Reply(200, views.page(p, [self._exception(e) for e in p.items]))

    # -- sharing

    @defer.inlineCallbacks
    def shares(self, call):
        rows = yield self.core.user_admin.shares(call.principal, call.params["DevID"])
        return Reply(200, {"items": [{"mobile": s.mobile, "control": s.can_control,
                                      "since": self.times.out(s.created_at)} for s in rows]})

    @defer.inlineCallbacks
    def share(self, call):
        body = _dict(call.body)
        yield self.core.user_admin.share(call.principal, call.params["DevID"], body.get("mobile"),
                                         body.get("control", False))
        return Reply(201, {"mobile": body.get("mobile"), "control": body.get("control", False)})

    @defer.inlineCallbacks
    def unshare(self, call):
        yield self.core.user_admin.unshare(call.principal, call.params["DevID"], call.params["mobile"])
        return Reply(204, None)

    # -- commands (§7.5.6–§7.5.39)

    @defer.inlineCallbacks
    def command(self, call):
        answer = yield self.core.commands.run(call.principal, call.params["DevID"], call.params["name"],
                                              call.body if call.body is not None else {})
        return Reply(200, views.answer(answer))

    def commands(self, call):
        def fields(fs):
            return [{"name": f.name, "type": f.type, "optional": f.optional,
                     **({"fields": fields(f.items)} if f.items else {})} for f in fs]
        return defer.succeed(Reply(200, {"items": [
            {"name": c.name, "cmd": "0x%02X" % c.request.CMD, "element": c.request.ROOT, "level": c.level,
             "request": fields(request_fields(c)), "answer": fields(answer_fields(c))}
            for c in CATALOGUE.values()]}))

    # -- alarms (§7.5.34)

    def _alarm(self, a) -> dict:
        return {"id": a.alarm_id, "dev_id": a.dev_id, "name": a.name, "channel_no": a.channel_no,
                "alarm_type": a.alarm_type, "desc": a.desc, "dido_no": a.dido_no, "at": self.times.out(a.at)}

    @defer.inlineCallbacks
    def alarms(self, call):
        q = call.query
        since = self.times.parse(q["from"], "from") if q.get("from") else None
        until = self.times.parse(q["to"], "to") if q.get("to") else None
        p = yield self.core.fleet.alarms(call.principal, views.text(q, "devid"), since, until,
                                         views.integer(q, "page", 1), views.integer(q, "per_page", 50))
        return Reply(200, views.page(p, [self._alarm(a) for a in p.items]))

    @defer.inlineCallbacks
    def alarm(self, call):
        alarm_id = _id(call.params["id"])
        row = yield self.core.fleet.alarm(call.principal, alarm_id)
        return Reply(200, self._alarm(row))

    @defer.inlineCallbacks
    def alarm_picture(self, call):
        picture = yield self.core.fleet.alarm_picture(call.principal, _id(call.params["id"]))
        etag = b'"%s"' % picture.sha256.encode("ascii")[:64] if getattr(picture, "sha256", None) else None
        return Reply(200, FileBody(picture.path, picture.size, etag), b"image/jpeg")

    # -- users

    def _account(self, a) -> dict:
        return {"mobile": a.mobile, "max_devices": a.max_devices, "status": a.status, "devices": a.devices,
                "created_at": self.times.out(a.created_at)}

    @defer.inlineCallbacks
    def users(self, call):
        q = call.query
        p = yield self.core.user_admin.page(call.principal, views.text(q, "q"), views.text(q, "status"),
                                            views.text(q, "sort") or "mobile", views.integer(q, "page", 1),
                                            views.integer(q, "per_page", 50))
        return Reply(200, views.page(p, [self._account(a) for a in p.items]))

    @defer.inlineCallbacks
    def add_user(self, call):
        body = _dict(call.body)
        yield self.core.user_admin.add(call.principal, body.get("mobile"), body.get("password"),
                                       body.get("max_devices", 4))
        view = yield self.core.user_admin.get(call.principal, body.get("mobile"))
        return Reply(201, self._account(view.account))

    @defer.inlineCallbacks
    def user(self, call):
        view = yield self.core.user_admin.get(call.principal, call.params["mobile"])
        body = self._account(view.account)
        body["bindings"] = [{"dev_id": b.dev_id, "name": b.name, "online": b.online,
                             "access": "own" if b.share_flag == 0 else ("control" if b.can_control else "view")}
                            for b in view.bindings]
        return Reply(200, body)

    @defer.inlineCallbacks
    def edit_user(self, call):
        yield self.core.user_admin.change(call.principal, call.params["mobile"], _dict(call.body))
        return (yield self.user(call))

    @defer.inlineCallbacks
    def delete_user(self, call):
        yield self.core.user_admin.delete(call.principal, call.params["mobile"])
        return Reply(204, None)

    @defer.inlineCallbacks
    def reset_password(self, call):
        body = _dict(call.body)
        made = yield self.core.user_admin.reset_password(call.principal, call.params["mobile"], body.get("password"))
        return Reply(200, {"password": made} if made else {})

    # -- manufacturers, statistics

    @defer.inlineCallbacks
    def manufacturers(self, call):
        rows = yield self.core.fleet.manufacturers(call.principal)
        return Reply(200, {"items": [{"manufacturer_no": no, "name": name, "devices": n} for no, name, n in rows]})

    @defer.inlineCallbacks
    def add_manufacturer(self, call):
        body = _dict(call.body)
        new = yield self.core.fleet.add_manufacturer(call.principal, body.get("manufacturer_no"), body.get("name"))
        return Reply(201 if new else 200, {"manufacturer_no": body["manufacturer_no"], "name": body["name"].strip()})

    @defer.inlineCallbacks
    def stats_summary(self, call):
        s = yield self.core.statistics.summary(call.principal, views.integer(call.query, "days", 30))
        return Reply(200, {
            "devices": s.totals.devices, "online": s.totals.online, "online_here": s.online_now,
            "users": s.totals.users,
            "samples": [{"at": self.times.out(x.at), "devices": x.devices, "online": x.online} for x in s.samples],
            "days": [d._asdict() for d in s.days]})


    # -- media (docs/media.md)

    @defer.inlineCallbacks
    def live_url(self, call):
        q = call.query
        url = yield self.core.media.live_url(call.principal, call.params["DevID"], views.integer(q, "channel", 0),
                                             views.integer(q, "stream", 1), views.integer(q, "ttl", 3600))
        return Reply(200, {"url": url})

    @defer.inlineCallbacks
    def proxies(self, call):
        found = yield self.core.proxies.list(call.principal)
        return Reply(200, {"items": [{"dev_id": p.dev_id, "name": p.name, "url": p.url, "online": p.online}
                                     for p in found]})

    @defer.inlineCallbacks
    def add_proxy(self, call):
        body = _dict(call.body)
        dev_id = yield self.core.proxies.add(body.get("url"), body.get("name"), call.principal)
        return Reply(201, {"dev_id": dev_id})

    # -- firmware and upgrade campaigns (§7.5.17), device logs (§7.5.35), DevKey by SMS (§4.17)

    def _firmware(self, f) -> dict:
        return {"id": f.firmware_id, "manufacturer_no": f.manufacturer_no, "model": f.model, "version": f.dev_ver,
                "file_name": f.file_name, "size": f.file_size, "sha256": f.sha256,
                "released_at": self.times.at(f.released_at)}

    @defer.inlineCallbacks
    def firmware(self, call):
        rows = yield self.core.firmware_admin.firmware(call.principal)
        return Reply(200, {"items": [self._firmware(f) for f in rows]})

    @defer.inlineCallbacks
    def add_firmware(self, call):
        admin = self.core.firmware_admin
        admin.may_upload(call.principal)  # before a byte is copied
        if not isinstance(call.body, Upload):
            raise ApiError(results.BAD_REQUEST, "send the image as application/octet-stream (manufacturer, model,"
                                                " version, file_name in the query) or as multipart/form-data")
        directory = tempfile.mkdtemp(prefix="kandian-upload-")
        try:
            fields, path = yield threads.deferToThread(upload.save, call.body, call.query, directory)
            row = yield admin.add_firmware(call.principal, path, fields.get("manufacturer"), fields.get("model"),
                                           fields.get("version"))
        finally:
            yield threads.deferToThread(shutil.rmtree, directory, True)
        return Reply(201, self._firmware(row))

    def _campaign(self, c, tally) -> dict:
        return {"id": c.campaign_id, "firmware_id": c.firmware_id, "state": c.state, "batch": c.batch_size,
                "max_failures": c.max_failures, "reason": c.reason, "origin": c.origin,
                "created_at": self.times.at(c.created_at), "finished_at": self.times.at(c.finished_at),
                "devices": {name: getattr(tally, name) for name in ("pending", "sent", "downloaded", "done",
                                                                     "failed")}}

    @defer.inlineCallbacks
    def campaigns(self, call):
        rows = yield self.core.firmware_admin.campaigns(call.principal)
        items = [self._campaign(c, t) for c, t in reversed(rows)]
        state = views.text(call.query, "state")
        if state:
            items = [i for i in items if i["state"] == state]
        return Reply(200, {"items": items})

    @defer.inlineCallbacks
    def start_campaign(self, call):
        body = _dict(call.body)
        unknown = sorted(set(body) - {"firmware", "devices", "model", "batch", "max_failures"})
        if unknown:
            raise errors.BadValue("unknown field %s" % ", ".join(unknown))
        started = yield self.core.firmware_admin.start(
            call.principal, body.get("firmware"), dev_ids=body.get("devices"), model=body.get("model"),
            batch=body.get("batch"), max_failures=body.get("max_failures"))
        return Reply(201, {"id": started.campaign_id, "devices": started.devices,
                           "skipped": [{"dev_id": d, "campaign": c} for d, c in sorted(started.skipped.items())]})

    @defer.inlineCallbacks
    def campaign(self, call):
        s = yield self.core.firmware_admin.campaign(call.principal, _campaign_id(call.params["id"]))
        body = self._campaign(s.campaign, s.tally)
        body["firmware"] = self._firmware(s.firmware)
        body["targets"] = [{"dev_id": t.dev_id, "state": t.state, "reason": t.reason, "from_version": t.from_ver,
                            "sent_at": self.times.at(t.sent_at), "downloaded_at": self.times.at(t.downloaded_at),
                            "finished_at": self.times.at(t.finished_at)} for t in s.targets]
        return Reply(200, body)

    @defer.inlineCallbacks
    def _steer(self, call, action):
        campaign_id = _campaign_id(call.params["id"])
        yield self.core.firmware_admin.steer(call.principal, campaign_id, action)
        call = call._replace(params={"id": str(campaign_id)})
        return (yield self.campaign(call))

    def pause_campaign(self, call):
        return self._steer(call, "pause")

    def resume_campaign(self, call):
        return self._steer(call, "resume")

    def cancel_campaign(self, call):
        return self._steer(call, "cancel")

    @defer.inlineCallbacks
    def device_logs(self, call):
        rows = yield self.core.firmware_admin.logs(call.principal, call.params["DevID"])
        return Reply(200, {"items": [{"file_name": f.file_name, "size": f.size, "sha256": f.sha256,
                                      "received_at": self.times.at(f.received_at)} for f in rows]})

    @defer.inlineCallbacks
    def request_logs(self, call):
        request_id = yield self.core.firmware_admin.request_logs(call.principal, call.params["DevID"])
        return Reply(202, {"request_id": request_id, "state": "pending"})

    @defer.inlineCallbacks
    def send_key(self, call):
        mobile = yield self.core.firmware_admin.send_key(call.principal, call.params["DevID"])
        return Reply(202, {"mobile": mobile[:3] + "****" + mobile[-4:] if len(mobile) > 7 else mobile})


def _campaign_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise errors.NoSuchCampaign("no campaign %r" % (text[:20],))
    return int(text)


def _id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise errors.NoSuchAlarm("no alarm %r" % (text[:20],))
    return int(text)
