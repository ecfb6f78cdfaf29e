"""spec/001 §17 alarms over real HTTP: alarms a simulated camera raised on its link, one with the picture it
uploaded; the list with its filters and picture links, messages read on query, status updates, counts, days,
deletion, and a device key's reach."""

import hashlib
import os

from twisted.internet import defer

from kandian.core.files import format_picture_name

from .onenet_helpers import OnenetTestCase

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(5000) + b"\xff\xd9"
DAY = {"product_id": "1", "start_time": "2026-11-18", "end_time": "2026-11-18"}


class AlarmTests(OnenetTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.settings = dict(self.settings, files="root = %s\n" % self.root)
        yield super().setUp()
        self.dev_id = yield self.create(auth_info="key-1")
        self.other = yield self.create("other", auth_info="key-2")
        self.link = yield self.camera(self.dev_id, "key-1", channels=2)
        self.link2 = yield self.camera(self.other, "key-2")
        # a motion alarm on channel 0 with its picture, a PIR alarm on channel 1, one on the other camera
        yield self.link.send_alarm(0, 1, desc="motion")
        yield self.picture(self.dev_id, 0)
        self.clock.advance(61)
        self.sim_clock.advance(61)
        yield self.link.send_alarm(1, 2, desc="person")
        yield self.link2.send_alarm(0, 1, desc="door")
        rows = yield self.db.runQuery("SELECT alarm_id FROM alarm ORDER BY alarm_id")
        self.ids = [str(r[0]) for r in rows]

    @defer.inlineCallbacks
    def picture(self, dev_id, channel):
        files = self.core.files
        name = format_picture_name(dev_id, channel, self.clock.seconds(), self.service.config.platform.timezone)
        path = files.layout.picture(dev_id, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(JPEG)
        yield files.stored(dev_id, "pictures", name, len(JPEG), hashlib.sha256(JPEG).hexdigest())

    @defer.inlineCallbacks
    def test_list(self):
        a, b, c = self.ids
        answer = yield self.get("/ipc/video/alarm/list", DAY)
        self.assertSucc(answer)
        data = answer.payload
        self.assertEqual((data["total_count"], data["per_page"], data["page"]), (3, 30, 1))
        self.assertEqual([i["alarm_id"] for i in data["item"]], [c, b, a])
        first = data["item"][2]
        self.assertEqual({k: first[k] for k in ("device_id", "create_time", "alarm_type", "alarm_way",
                                                "alarm_status", "comment", "play_address")},
                         {"device_id": int(self.dev_id), "create_time": "2026-11-18 19:06:40", "alarm_type": 1,
                          "alarm_way": 2, "alarm_status": 1, "comment": "motion", "play_address": ""})
        self.assertEqual(first["picture"], first["thumbnail"])
        # the picture link is fetched without a key
        fetched = yield self.get(first["picture"].split(str(self.port("onenet")), 1)[1], auth=False)
        self.assertEqual((fetched.code, fetched.header(b"content-type"), fetched.data), (200, "image/jpeg", JPEG))
        self.assertEqual(data["item"][1]["picture"], "")
        # filters of the file
        for query, expected in (({"device_id": self.dev_id}, [b, a]), ({"device_id": self.dev_id, "channel_id": 2},
                                                                        [b]),
                                ({"alarm_type": 2}, [b]), ({"alarm_way": 2}, [a]), ({"alarm_way": 1}, []),
                                ({"alarm_status": 2}, []), ({"per_page": 1, "page": 2}, [b]),
                                ({"start_time": "2026-11-18 19:07:00", "end_time": "2026-11-19 00:00:00"}, [c, b])):
            answer = yield self.get("/ipc/video/alarm/list", {**DAY, **query})
            self.assertEqual([i["alarm_id"] for i in answer.payload["item"]], expected, query)
        # the span is at most 31 days, and product_id is required
        for bad in ({"end_time": "2026-12-20"}, {"start_time": "2026-11-19", "end_time": "2026-11-17"},
                    {"start_time": "yesterday"}, {"product_id": ""}, {"alarm_way": 4}):
            self.assertErrno((yield self.get("/ipc/video/alarm/list", {**DAY, **bad})), 400)
        self.assertErrno((yield self.get("/ipc/video/alarm/list", {**DAY, "product_id": "9"})), 404)

    @defer.inlineCallbacks
    def test_messages_are_read_once_listed(self):
        a, b, c = self.ids
        answer = yield self.get("/ipc/video/alarm/info", {**DAY, "device_id": self.dev_id})
        self.assertSucc(answer)
        self.assertEqual([(i["alarm_id"], i["alarm_status"], i["comment"]) for i in answer.payload["item"]],
                         [(b, 1, "person")])
        answer = yield self.get("/ipc/video/alarm/info", {**DAY, "device_id": self.dev_id})
        self.assertEqual([i["alarm_status"] for i in answer.payload["item"]], [2])
        answer = yield self.get("/ipc/video/alarm/list", {**DAY, "alarm_status": 1})
        self.assertEqual([i["alarm_id"] for i in answer.payload["item"]], [c, a])

    @defer.inlineCallbacks
    def test_status_counts_days_delete(self):
        a, b, c = self.ids
        answer = yield self.get("/ipc/video/alarm/count", {"product_id": "1"})
        self.assertSucc(answer)
        self.assertEqual(answer.payload["item"], [
            {"prodcut_id": 1, "product_id": 1, "device_id": int(self.dev_id), "alarm_way": 2, "channel_id": 1,
             "count": 1},
            {"prodcut_id": 1, "product_id": 1, "device_id": int(self.dev_id), "alarm_way": 3, "channel_id": 2,
             "count": 1},
            {"prodcut_id": 1, "product_id": 1, "device_id": int(self.other), "alarm_way": 3, "channel_id": 1,
             "count": 1}])
        # §17.3's body; ids that are no alarm's are no harm
        answer = yield self.post("/ipc/video/alarm/update_status", {"product_id": "1"},
                                 {"alarm_id": [a, "dkjfkdjf", "121313ssf"]})
        self.assertSucc(answer)
        answer = yield self.get("/ipc/video/alarm/count", {"product_id": "1", "device_id": self.dev_id})
        self.assertEqual([(i["channel_id"], i["count"]) for i in answer.payload["item"]], [(2, 1)])
        answer = yield self.get("/ipc/video/alarm/day", DAY)
        self.assertEqual(answer.payload, {"item": [{"day": "2026-11-18", "number": 2}]})
        answer = yield self.get("/ipc/video/alarm/day_count", DAY)
        self.assertEqual(answer.payload, {"item": [{"day": "2026-11-18", "number": 3}]})
        self.assertSucc((yield self.post("/ipc/video/alarm/delete", {"product_id": "1"}, {"alarm_id": [a, b]})))
        answer = yield self.get("/ipc/video/alarm/list", DAY)
        self.assertEqual([i["alarm_id"] for i in answer.payload["item"]], [c])
        for body in ({"alarm_id": "x"}, {}, {"alarm_id": [{"id": 1}]}):
            self.assertErrno((yield self.post("/ipc/video/alarm/delete", {"product_id": "1"}, body)), 400)

    @defer.inlineCallbacks
    def test_a_device_key_sees_its_device_s_alarms(self):
        a, b, c = self.ids
        key = yield self.device_key(self.other)
        answer = yield self.get("/ipc/video/alarm/list", DAY, key=key)
        self.assertEqual([i["alarm_id"] for i in answer.payload["item"]], [c])
        self.assertErrno((yield self.get("/ipc/video/alarm/list", {**DAY, "device_id": self.dev_id}, key=key)), 403)
        yield self.post("/ipc/video/alarm/delete", {"product_id": "1"}, {"alarm_id": [a, b, c]}, key=key)
        answer = yield self.get("/ipc/video/alarm/list", DAY)
        self.assertEqual([i["alarm_id"] for i in answer.payload["item"]], [b, a])
