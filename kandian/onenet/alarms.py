"""spec/001 §17 alarms — over :mod:`kandian.core.alarmbox` and the alarms' pictures (§7.5.27).

``alarm_way`` 2 is an alarm with its picture, 3 one without (§17.2's
messages), 1 a video alarm (kandian makes none: an empty list).  A picture's
``picture`` and ``thumbnail`` are one signed URL of this listener, valid for
``[onenet] url_ttl`` seconds (``protocol=1`` asks for https when the listener
has it); ``play_address`` is empty (no clip is recorded for an alarm).
``device_id`` 0, ``channel_id`` 0, ``alarm_type`` 0 and ``alarm_status`` 0
mean "any", as the file says.
"""

from __future__ import annotations

from twisted.internet import defer

from ..core import errors
from . import views
from .api import FileBody, Reply, Route
from .signing import Signer

PICTURE_PATH = "/ipc/video/alarm/picture/"


class AlarmHandlers:
    def __init__(self, core, times: views.Times, signer: Signer, product):
        """*product(query)*: checks ``product_id`` (:meth:`kandian.onenet.devices.DeviceHandlers.product`)."""
        self.core = core
        self.times = times
        self.signer = signer
        self.product = product

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/ipc/video/alarm/list", self.list),
            Route("GET", "/ipc/video/alarm/info", self.info),
            Route("POST", "/ipc/video/alarm/update_status", self.update_status, body="json"),
            Route("GET", "/ipc/video/alarm/count", self.count),
            Route("POST", "/ipc/video/alarm/delete", self.delete, body="json"),
            Route("GET", "/ipc/video/alarm/day", self.unread_days),
            Route("GET", "/ipc/video/alarm/day_count", self.days),
            Route("GET", PICTURE_PATH + "{alarm_id}", self.picture, auth=False),
        ]

    def _filter(self, q: dict) -> dict:
        self.product(q)
        dev_id = views.device_id(q, required_=False)
        channel = views.integer(q, "channel_id", 0, low=0, high=256)
        since = self.times.parse(views.required(q, "start_time"), "start_time")
        until = self.times.parse(views.required(q, "end_time"), "end_time", end=True)
        return dict(dev_id=None if dev_id in (None, "0") else dev_id, channel_no=channel - 1 if channel else None,
                    since=since, until=until)

    def _status(self, q: dict):
        status = views.integer(q, "alarm_status", 0, low=0, high=2)
        return None if status == 0 else status == 2

    def _page(self, q: dict) -> tuple[int, int]:
        return views.integer(q, "page", 1), views.integer(q, "per_page", 30)

    @defer.inlineCallbacks
    def list(self, call):
        q = call.query
        f = self._filter(q)
        alarm_type = views.integer(q, "alarm_type", 0, low=0, high=10_000)
        way = views.integer(q, "alarm_way", 0, low=0, high=3)
        https = views.integer(q, "protocol", 0, low=0, high=1) == 1
        page, per_page = self._page(q)
        total, items = yield self.core.alarm_box.page(
            call.grant, alarm_type=alarm_type or None, way=way or None, read=self._status(q), page=page,
            per_page=per_page, **f)
        out = []
        for a in items:
            item = self._item(a)
            url = self.signer.url(PICTURE_PATH + str(a.alarm_id), https=https) if a.picture else ""
            item.update(alarm_type=a.alarm_type, alarm_way=2 if a.picture else 3, picture=url, thumbnail=url,
                        play_address="")
            out.append(item)
        return Reply({"data": {"total_count": total, "per_page": per_page, "page": page, "item": out}})

    def _item(self, a) -> dict:
        return {"device_id": views.dev_number(a.dev_id), "channel_id": views.channel_id(a.channel_no),
                "create_time": self.times.out(a.at), "alarm_id": str(a.alarm_id),
                "alarm_status": 2 if a.read else 1, "comment": a.desc}

    @defer.inlineCallbacks
    def info(self, call):
        q = call.query
        page, per_page = self._page(q)
        total, items = yield self.core.alarm_box.page(
            call.grant, alarm_type=None, way=3, read=self._status(q), page=page, per_page=per_page,
            mark_read=True, **self._filter(q))
        return Reply({"data": {"total_count": total, "per_page": per_page, "page": page,
                               "item": [self._item(a) for a in items]}})

    def _ids(self, call) -> list:
        self.product(call.query)
        if not isinstance(call.body, dict) or "alarm_id" not in call.body:
            raise errors.BadValue("the body is {\"alarm_id\": [...]}")
        return call.body["alarm_id"]

    @defer.inlineCallbacks
    def update_status(self, call):
        yield self.core.alarm_box.mark_read(call.grant, self._ids(call))
        return Reply()

    @defer.inlineCallbacks
    def delete(self, call):
        yield self.core.alarm_box.delete(call.grant, self._ids(call))
        return Reply()

    @defer.inlineCallbacks
    def count(self, call):
        q = call.query
        self.product(q)
        dev_id = views.device_id(q, required_=False)
        channel = views.integer(q, "channel_id", 0, low=0, high=256)
        rows = yield self.core.alarm_box.unread(call.grant, None if dev_id in (None, "0") else dev_id,
                                                channel - 1 if channel else None)
        product = views.dev_number(q["product_id"].strip())
        return Reply({"data": {"item": [
            {"prodcut_id": product, "product_id": product, "device_id": views.dev_number(d),
             "alarm_way": way, "channel_id": views.channel_id(c), "count": n} for d, c, way, n in rows]}})

    @defer.inlineCallbacks
    def _days(self, call, unread_only: bool):
        f = self._filter(call.query)
        rows = yield self.core.alarm_box.per_day(call.grant, f["dev_id"], f["since"], f["until"], unread_only)
        return Reply({"data": {"item": [{"day": day, "number": n} for day, n in rows]}})

    def unread_days(self, call):
        return self._days(call, True)

    def days(self, call):
        return self._days(call, False)

    @defer.inlineCallbacks
    def picture(self, call):
        """An alarm's picture, by the signed URL §17.1 handed out."""
        alarm_id = call.params["alarm_id"]
        self.signer.check(PICTURE_PATH + alarm_id, call.query)
        picture = yield self.core.alarms.picture(int(alarm_id))
        if picture is None:
            raise errors.NoPicture("alarm %s has no picture" % (alarm_id,))
        return FileBody(picture.path, picture.size, b"image/jpeg", b'"%s"' % picture.sha256.encode("ascii")[:64])
