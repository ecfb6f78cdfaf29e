"""spec/001 §1 devices, §2 channels, §7 encryption, §8 status, §9 messages, §10 boot address, §11 access address,
§12 pass-through, §15 camera on/off, §19 version — over :mod:`kandian.core.profiles`."""

from __future__ import annotations

import base64
import json

from twisted.internet import defer

from ..core import errors
from ..core.profiles import MAX_IDS, ProfileFilter
from . import results, views
from .api import Reply, Route


def _dict(body) -> dict:
    if not isinstance(body, dict):
        raise errors.BadValue("the body is a JSON object")
    return body


class DeviceHandlers:
    def __init__(self, core, times: views.Times, *, product_id: str, endpoints):
        """*endpoints*: :class:`kandian.onenet.Endpoints` (where devices register and log in)."""
        self.core = core
        self.times = times
        self.product_id = product_id
        self.endpoints = endpoints

    def routes(self) -> list[Route]:
        j = dict(body="json")
        return [
            Route("POST", "/devices", self.create, **j),
            Route("POST", "/register_de", self.register, auth=False, **j),
            Route("PUT", "/devices/{device_id}", self.update, **j),
            Route("GET", "/devices/{device_id}", self.get),
            Route("GET", "/devices", self.page),
            Route("DELETE", "/devices/{device_id}", self.delete),
            Route("GET", "/ipc/video/device/QryChannel", self.channels),
            Route("DELETE", "/ipc/video/device/DelChannel", self.delete_channel, errors=results.CHANNELS),
            Route("POST", "/ipc/video/device/AddChannel", self.add_channel, errors=results.CHANNELS),
            Route("POST", "/ipc/video/device/ModifyChannel", self.modify_channel, errors=results.CHANNELS),
            Route("PUT", "/ipc/video/trans_encrypt", self.set_encryption, **j),
            Route("GET", "/ipc/video/trans_encrypt", self.encryption),
            Route("GET", "/ipc/video/device/QryDevStatus", self.status),
            Route("GET", "/ipc/video/device/QryDevMsg", self.messages),
            Route("GET", "/ipc/video/boot_address", self.boot_address, auth=False),
            Route("GET", "/ipc/video/device/acc_service", self.access_service),
            Route("POST", "/ipc/video/dev_active", self.pass_through, body="raw", max_body=128),
            Route("PUT", "/ipc/video/access_control/closecamera", self.close_camera, **j),
            Route("GET", "/ipc/video/device/version", self.version),
        ]

    def product(self, query: dict, name: str = "product_id") -> None:
        """The product: this platform is one, ``[onenet] product_id``."""
        value = views.required(query, name).strip()
        if value != self.product_id:
            raise errors.NoSuchDevice("no product %s" % (value[:32],))

    # -- §1

    @defer.inlineCallbacks
    def create(self, call):
        dev_id, key = yield self.core.profiles.create(call.grant, _dict(call.body))
        return Reply({"data": {"device_id": dev_id}})

    @defer.inlineCallbacks
    def register(self, call):
        code = views.required(call.query, "register_code")
        dev_id, key = yield self.core.profiles.register(code, _dict(call.body), call.source)
        return Reply({"data": {"key": key, "device_id": views.dev_number(dev_id)}})

    @defer.inlineCallbacks
    def update(self, call):
        yield self.core.profiles.update(call.grant, call.params["device_id"], _dict(call.body))
        return Reply()

    def _device(self, p) -> dict:
        return {"id": p.dev_id, "title": p.title, "desc": p.description, "private": p.private,
                "protocol": p.protocol, "online": p.online, "tags": p.tags,
                "location": p.location, "create_time": self.times.out(p.created_at),
                "auth_info": p.auth_info if p.auth_info is not None else p.dev_key,
                "area": p.area, "other": p.other, "url": p.url,
                "channel_count": p.channel_count, "last_login": self.times.out(p.last_login_at)}

    @defer.inlineCallbacks
    def get(self, call):
        profile, keys = yield self.core.profiles.get(call.grant, call.params["device_id"])
        data = self._device(profile)
        data["keys"] = [{"title": title, "key": key} for title, key in keys]
        return Reply({"data": data})

    @defer.inlineCallbacks
    def page(self, call):
        q = call.query
        ids = views.text(q, "device_id", 100 * 33)
        dev_ids = tuple(i.strip() for i in ids.split(",") if i.strip()) if ids else None
        if dev_ids is not None and len(dev_ids) > MAX_IDS:
            raise errors.BadValue("at most %d device ids" % MAX_IDS)
        auth_info = views.text(q, "auth_info", 1024)
        if auth_info is not None:
            try:
                auth_info = json.loads(auth_info)
            except ValueError:
                pass  # a bare string
        begin, end = views.text(q, "begin", 32), views.text(q, "end", 32)
        f = ProfileFilter(
            key_words=views.text(q, "key_words", 64), tag=views.text(q, "tag", 64), online=views.boolean(q, "online"),
            private=views.boolean(q, "private"), dev_ids=dev_ids, auth_info=auth_info,
            begin=self.times.parse(begin, "begin") if begin else None,
            end=self.times.parse(end, "end", end=True) if end else None, title=views.text(q, "title", 64))
        page, per_page = views.integer(q, "page", 1), views.integer(q, "per_page", 30)
        total, rows = yield self.core.profiles.page(call.grant, f, page, per_page)
        return Reply({"data": {"total_count": total, "per_page": per_page, "page": page,
                               "devices": [self._device(p) for p in rows]}})

    @defer.inlineCallbacks
    def delete(self, call):
        dev_id = call.params["device_id"]
        if getattr(self.core, "api_videos", None) is not None:
            yield self.core.profiles.channels(call.grant, dev_id)  # the key's reach, the device's existence
            yield self.core.api_videos.delete_device(call.grant, dev_id)  # §1.6: its videos go too
        yield self.core.profiles.delete(call.grant, dev_id)
        return Reply()

    # -- §2

    @defer.inlineCallbacks
    def channels(self, call):
        rows = yield self.core.profiles.channels(call.grant, views.device_id(call.query))
        return Reply({"result": [{"channel_id": views.channel_id(c.channel_no), "title": c.name,
                                  "desc": c.description} for c in rows]})

    @defer.inlineCallbacks
    def delete_channel(self, call):
        yield self.core.profiles.delete_channel(call.grant, views.device_id(call.query),
                                                views.channel_no(call.query))
        return Reply()

    @defer.inlineCallbacks
    def add_channel(self, call):
        q = call.query
        dev_id, title = views.device_id(q), views.required(q, "title")
        count = views.integer(q, "channel_num", None)
        if count is not None:
            if not 1 <= count <= 256:
                raise errors.BadValue("channel_num is 1 to 256")
            numbers = list(range(count))  # §2.3: channels 1 to channel_num
        else:
            numbers = [views.channel_no(q)]
        yield self.core.profiles.add_channels(call.grant, dev_id, numbers, title, q.get("desc", ""))
        return Reply()

    @defer.inlineCallbacks
    def modify_channel(self, call):
        q = call.query
        yield self.core.profiles.modify_channel(call.grant, views.device_id(q), views.channel_no(q),
                                                views.required(q, "title"), q.get("desc"))
        return Reply()

    # -- §7: kandian's streams are not encrypted; turning encryption on is refused

    def set_encryption(self, call):
        self.product(call.query)
        call.grant.require_master()
        body = _dict(call.body)
        kind = body.get("type")
        if kind not in (0, 1) or isinstance(kind, bool):
            raise errors.BadValue("type is 0 or 1")
        if kind == 1:
            raise errors.NotAvailable("this platform does not encrypt streams")
        return defer.succeed(Reply())

    def encryption(self, call):
        self.product(call.query)
        call.grant.require_master()
        return defer.succeed(Reply({"trans_enc": 0}, error=None))

    # -- §8, §9

    @defer.inlineCallbacks
    def status(self, call):
        raw = views.required(call.query, "devIds")
        ids = [i.strip() for i in raw.split(",") if i.strip()]
        if len(raw) > 500 or len(ids) > 30:
            raise errors.BadValue("devIds is at most 30 ids and 500 characters")
        online = yield self.core.profiles.online(call.grant, ids)
        devices = [{"id": i, "online": online[i]} for i in dict.fromkeys(ids) if i in online]
        return Reply({"result": {"total_count": len(devices), "devices": devices}})

    @defer.inlineCallbacks
    def messages(self, call):
        q = call.query
        dev_id = views.device_id(q)
        since = self.times.parse(views.required(q, "begin_time"), "begin_time")
        until = self.times.parse(views.required(q, "end_time"), "end_time", end=True)
        page, per_page = views.integer(q, "page", 1), views.integer(q, "page_size", 50)
        total, rows = yield self.core.profiles.messages(call.grant, dev_id, since, until, page, per_page)
        return Reply({"page_info": views.page_info(total, page, per_page), "result": [
            {"create_time": self.times.out(r.at), "msg_id": r.exception_id,
             "msg": base64.b64encode(json.dumps(
                 {"exception_type": r.exception_type, "channel_id": None if r.channel_no is None
                  else views.channel_id(r.channel_no), "desc": r.desc},
                 ensure_ascii=False, separators=(",", ":")).encode("utf-8")).decode("ascii")}
            for r in rows]})

    # -- §10, §11, §12

    def boot_address(self, call):
        address = self.endpoints.register()
        if address is None:
            raise errors.NotAvailable("no registration listener")
        return defer.succeed(Reply({"data": {"boot_address": address[0], "boot_port": address[1]}}))

    @defer.inlineCallbacks
    def access_service(self, call):
        q = call.query
        self.product(q)
        dev_id = views.device_id(q)
        if not q.get("net") and not q.get("device_addr"):
            raise errors.BadValue("net or device_addr is required")
        dev_key = yield self.core.profiles.dev_key(call.grant, dev_id)
        address = self.endpoints.device_link()
        if address is None:
            raise errors.NotAvailable("no device listener")
        return Reply({"data": {"addr": "%s:%d" % address, "token": dev_key, "access": dev_id}})

    def pass_through(self, call):
        dev_id = views.device_id(call.query)
        call.grant.device(dev_id)
        raise errors.NotAvailable("a §7 device link carries no pass-through data")

    # -- §15

    @defer.inlineCallbacks
    def close_camera(self, call):
        q = call.query
        self.product(q)
        body = _dict(call.body)
        kind = body.get("type")
        if kind not in (0, 1) or isinstance(kind, bool):
            raise errors.BadValue("type is 1 (off) or 0 (on)")
        channel = views.channel_no(q, "id")
        yield self.core.profiles.set_camera(call.grant, views.device_id(q), channel, kind == 0)
        return Reply()

    # -- §19

    @defer.inlineCallbacks
    def version(self, call):
        q = call.query
        self.product(q)
        version = yield self.core.profiles.version(call.grant, views.device_id(q, required_=False))
        return Reply({"data": {"ver": version}})
