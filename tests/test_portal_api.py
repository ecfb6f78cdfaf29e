"""The REST API over real HTTP against the running platform: login, tokens, cookies and CSRF, the error shape,
devices, users, alarms, statistics (real PostgreSQL; the shipped simulator as camera)."""

from twisted.internet import defer

from kandian.sim.state import DeviceState

from .portal_helpers import PASSWORD, PortalTestCase
from .test_device_integration import eventually

A, B = "13800000001", "13800000002"
CAM, CAM2, CAM3 = "81100000001", "81200000002", "81100000003"


class LoginTests(PortalTestCase):
    @defer.inlineCallbacks
    def test_operator_and_user_log_in_with_a_token_and_a_cookie(self):
        yield self.core.operators.add("ops", PASSWORD, "viewer")
        answer = yield self.post("/api/v1/login", {"account": "ops", "password": PASSWORD})
        self.assertEqual(answer.code, 200, answer)
        body = answer.json
        self.assertEqual((body["role"], body["operator_role"], body["account"]), ("operator", "viewer", "ops"))
        cookies = answer.headers.getRawHeaders(b"set-cookie")
        token_cookie = [c for c in cookies if c.startswith(b"kandian_token=")][0]
        self.assertIn(b"HttpOnly", token_cookie)
        self.assertIn(b"SameSite=Strict", token_cookie)
        self.assertIn(body["token"].encode(), token_cookie)
        csrf_cookie = [c for c in cookies if c.startswith(b"kandian_csrf=")][0]
        self.assertNotIn(b"HttpOnly", csrf_cookie)
        me = yield self.get("/api/v1/me", body["token"])
        self.assertEqual(me.json, {"account": "ops", "role": "operator", "operator_role": "viewer"})
        # only a hash of the token is stored
        rows = yield self.db.runQuery("SELECT token_hash FROM api_token")
        self.assertNotIn(body["token"], rows[0][0])
        yield self.core.accounts.add(A, PASSWORD)
        answer = yield self.post("/api/v1/login", {"account": A, "password": PASSWORD})
        self.assertEqual((answer.json["role"], answer.json["operator_role"]), ("user", None))

    @defer.inlineCallbacks
    def test_wrong_password_and_unknown_account_look_alike_and_are_throttled(self):
        yield self.core.accounts.add(A, PASSWORD)
        wrong = yield self.post("/api/v1/login", {"account": A, "password": "nope"})
        unknown = yield self.post("/api/v1/login", {"account": "13899999999", "password": "nope"})
        for answer in (wrong, unknown):
            self.assertEqual((answer.code, answer.json["error"]), (401, "bad_credentials"))
            self.assertEqual(set(answer.json), {"error", "message"})
        for _ in range(5):
            yield self.post("/api/v1/login", {"account": A, "password": "nope"})
        stopped = yield self.post("/api/v1/login", {"account": A, "password": PASSWORD})
        self.assertEqual((stopped.code, stopped.json["error"]), (429, "too_many_failures"))
        self.assertTrue(int(stopped.header(b"retry-after")) > 0)
        missing = yield self.post("/api/v1/login", {"account": A})
        self.assertEqual((missing.code, missing.json["error"]), (422, "invalid"))

    @defer.inlineCallbacks
    def test_logout_revokes_and_the_token_expires(self):
        token = yield self.operator()
        answer = yield self.post("/api/v1/logout", token=token)
        self.assertEqual(answer.code, 204)
        answer = yield self.get("/api/v1/me", token)
        self.assertEqual((answer.code, answer.json["error"]), (401, "unauthenticated"))
        token = yield self.login("ops")
        self.clock.advance(self.service.config.portal.token_ttl + 1)
        answer = yield self.get("/api/v1/devices", token)
        self.assertEqual((answer.code, answer.json["error"]), (401, "unauthenticated"))
        for headers in ({}, {b"authorization": [b"Basic eDp5"]}, {b"authorization": [b"Bearer nonsense"]}):
            answer = yield self.get("/api/v1/devices", headers=headers)
            self.assertEqual(answer.code, 401)

    @defer.inlineCallbacks
    def test_cookie_writes_need_the_csrf_token(self):
        yield self.core.operators.add("ops", PASSWORD)
        login = yield self.post("/api/v1/login", {"account": "ops", "password": PASSWORD})
        cookie = {b"cookie": [b"kandian_token=" + login.json["token"].encode()]}
        read = yield self.get("/api/v1/devices", headers=cookie)
        self.assertEqual(read.code, 200)
        body = {"dev_id": CAM, "dev_key": "k"}
        refused = yield self.post("/api/v1/devices", body, headers=cookie)
        self.assertEqual((refused.code, refused.json["error"]), (403, "csrf"))
        refused = yield self.post("/api/v1/devices", body, headers={**cookie, b"x-csrf-token": [b"forged"]})
        self.assertEqual(refused.code, 403)
        done = yield self.post("/api/v1/devices", body,
                               headers={**cookie, b"x-csrf-token": [login.json["csrf"].encode()]})
        self.assertEqual(done.code, 201, done)
        # a form post (what another site could make a browser send) is not read at all
        form = yield self.call("POST", "/api/v1/devices", raw=b"dev_id=81100000002&dev_key=k",
                               content_type="application/x-www-form-urlencoded", token=login.json["token"])
        self.assertEqual((form.code, form.json["error"]), (400, "bad_request"))


class ErrorShapeTests(PortalTestCase):
    @defer.inlineCallbacks
    def test_every_refusal_is_json_with_security_headers(self):
        token = yield self.operator()
        for method, path, raw, expected in [
            ("GET", "/api/v1/nothing", None, (404, "not_found")),
            ("DELETE", "/api/v1/devices", None, (405, "method_not_allowed")),
            ("POST", "/api/v1/devices", b"{not json", (400, "bad_request")),
            ("POST", "/api/v1/devices", b"[1, 2]", (400, "bad_request")),
            ("GET", "/api/v1/devices/81100009999", None, (404, "not_found")),
            ("GET", "/api/v1/devices?page=0", None, (422, "invalid")),
            ("GET", "/api/v1/devices?per_page=1000", None, (422, "invalid")),
            ("GET", "/api/v1/devices?sort=dev_key", None, (422, "invalid")),
            ("GET", "/api/v1/devices?online=maybe", None, (422, "invalid")),
            ("GET", "/api/v1/alarms?from=yesterday", None, (422, "invalid")),
            ("GET", "/api/v1/alarms/abc", None, (404, "not_found")),
            ("GET", "/api/v1/devices/%FF", None, (400, "bad_request")),
        ]:
            answer = yield self.call(method, path, raw=raw, token=token)
            self.assertEqual((answer.code, answer.json["error"]), expected, (method, path, answer))
            self.assertIsInstance(answer.json["message"], str)
            self.assertEqual(answer.header(b"content-type"), "application/json; charset=utf-8")
            self.assertEqual(answer.header(b"x-frame-options"), "DENY")
            self.assertIn("frame-ancestors 'none'", answer.header(b"content-security-policy"))
        self.assertEqual(self.service.platform.portal_stats.errors["not_found"], 3)

    @defer.inlineCallbacks
    def test_the_portal_page_is_served_with_its_headers(self):
        for path in ("/", "/index.html", "/app.js", "/app.css", "/some/deep/link"):
            answer = yield self.get(path)
            self.assertEqual(answer.code, 200, path)
            self.assertEqual(answer.header(b"x-frame-options"), "DENY")
        page = yield self.get("/")
        self.assertIn("看店", page.data.decode())
        self.assertNotIn("<script>", page.data.decode())  # no inline script: the CSP forbids it


class DeviceTests(PortalTestCase):
    @defer.inlineCallbacks
    def test_list_filters_pages_sorts_and_etags(self):
        token = yield self.operator()
        yield self.camera(CAM, channels=2)
        yield self.camera(CAM2, online=False)
        yield self.camera(CAM3, online=False)
        yield self.db.runOperation("UPDATE device SET model = 'DS-2CD' WHERE dev_id = %s", (CAM3,))
        answer = yield self.get("/api/v1/devices", token)
        body = answer.json
        self.assertEqual((body["total"], body["page"], body["per_page"]), (3, 1, 50))
        self.assertEqual([d["dev_id"] for d in body["items"]], [CAM, CAM3, CAM2])
        first = body["items"][0]
        self.assertEqual((first["online"], first["channels"], first["manufacturer"]), (True, 2, "海康"))
        self.assertEqual(first["dev_ver"], DeviceState(CAM, "k").dev_ver)
        self.assertTrue(first["last_seen_at"].endswith("+08:00"))
        for query, expected in [
            ("online=true", [CAM]), ("online=false", [CAM3, CAM2]), ("q=0003", [CAM3]), ("model=DS-2CD", [CAM3]),
            ("manufacturer=812", [CAM2]), ("sort=-dev_id", [CAM2, CAM3, CAM]), ("per_page=1&page=2", [CAM3]),
            ("firmware=" + first["dev_ver"], [CAM]),
        ]:
            answer = yield self.get("/api/v1/devices?" + query, token)
            self.assertEqual([d["dev_id"] for d in answer.json["items"]], expected, query)
        etag = answer.header(b"etag")
        again = yield self.get("/api/v1/devices?firmware=" + first["dev_ver"], token,
                               headers={b"if-none-match": [etag.encode()]})
        self.assertEqual((again.code, again.data), (304, b""))

    @defer.inlineCallbacks
    def test_detail_edit_delete_and_import(self):
        token = yield self.operator()
        link = yield self.camera(CAM, channels=2, owner=None)
        yield self.core.accounts.add(A, PASSWORD)
        yield self.bind(A, CAM)
        yield link.send_exception(12, desc="UPNP mapping failed")
        answer = yield self.get("/api/v1/devices/" + CAM, token)
        d = answer.json
        self.assertEqual(answer.code, 200, answer)
        self.assertEqual([c["channel_no"] for c in d["channels"]], [0, 1])
        self.assertEqual(d["owner"], A)
        self.assertTrue(d["abilities"]["ptz_flag"])
        self.assertEqual(d["addresses"]["public_ip"], "127.0.0.1")
        self.assertIn("upnp_reachable", d["addresses"])
        self.assertTrue(d["videos"])
        exceptions = yield self.get("/api/v1/devices/%s/exceptions" % CAM, token)
        self.assertEqual([e["exception_type"] for e in exceptions.json["items"]], [12])
        answer = yield self.call("PATCH", "/api/v1/devices/" + CAM, {"name": "收银台", "model": "X9"}, token)
        self.assertEqual((answer.code, answer.json["name"], answer.json["model"]), (200, "收银台", "X9"))
        answer = yield self.call("PATCH", "/api/v1/devices/" + CAM, {"online": False}, token)
        self.assertEqual(answer.code, 422)
        csv = ("dev_id,dev_key,dev_type,model,channels\n"
               "81100000010,k10,1,DS-A,1\n"
               "81100000011,k11,3,NVR-8,8\n"
               "%s,dup,1,,1\n"
               "12345,bad\n"
               "81100000012,k12,x\n") % CAM
        answer = yield self.call("POST", "/api/v1/devices/import", raw=csv.encode(), content_type="text/csv",
                                 token=token)
        self.assertEqual(answer.code, 200, answer)
        self.assertEqual((answer.json["added"], answer.json["exists"], answer.json["invalid"]), (2, 1, 2))
        self.assertEqual([(r["line"], r["outcome"]) for r in answer.json["rows"]],
                         [(4, "exists"), (5, "invalid"), (6, "invalid")])
        nvr = yield self.get("/api/v1/devices/81100000011", token)
        self.assertEqual((nvr.json["dev_type"], len(nvr.json["channels"]), nvr.json["model"]), (3, 8, "NVR-8"))
        answer = yield self.call("DELETE", "/api/v1/devices/81100000011", token=token)
        self.assertEqual(answer.code, 204)
        answer = yield self.get("/api/v1/devices/81100000011", token)
        self.assertEqual(answer.code, 404)

    @defer.inlineCallbacks
    def test_a_viewer_only_looks(self):
        admin = yield self.operator("boss")
        viewer = yield self.operator("watcher", "viewer")
        yield self.camera(CAM)
        for method, path, body in [
            ("POST", "/api/v1/devices", {"dev_id": CAM2, "dev_key": "k"}),
            ("PATCH", "/api/v1/devices/" + CAM, {"name": "x"}),
            ("DELETE", "/api/v1/devices/" + CAM, None),
            ("POST", "/api/v1/devices/%s/commands/ptz" % CAM, {"ChannelNo": 0, "PtzDirection": 1}),
            ("POST", "/api/v1/users", {"mobile": A, "password": "pw-123456"}),
            ("POST", "/api/v1/manufacturers", {"manufacturer_no": "901", "name": "x"}),
        ]:
            answer = yield self.call(method, path, body, viewer)
            self.assertEqual((answer.code, answer.json["error"]), (403, "forbidden"), (method, path))
        answer = yield self.post("/api/v1/devices/%s/commands/get_channel" % CAM, {"ChannelNo": 0, "StreamType": 1},
                                 viewer)
        self.assertEqual(answer.code, 200, answer)
        answer = yield self.post("/api/v1/devices/%s/commands/ptz" % CAM, {"ChannelNo": 0, "PtzDirection": 1}, admin)
        self.assertEqual(answer.code, 200, answer)


class UserTests(PortalTestCase):
    @defer.inlineCallbacks
    def test_add_suspend_resume_max_reset_delete(self):
        token = yield self.operator()
        answer = yield self.post("/api/v1/users", {"mobile": A, "password": "first-pass", "max_devices": 2}, token)
        self.assertEqual((answer.code, answer.json["max_devices"]), (201, 2))
        answer = yield self.post("/api/v1/users", {"mobile": A, "password": "again"}, token)
        self.assertEqual((answer.code, answer.json["error"]), (409, "exists"))
        user = yield self.login(A, "first-pass")
        answer = yield self.call("PATCH", "/api/v1/users/" + A, {"status": "suspended"}, token)
        self.assertEqual((answer.code, answer.json["status"]), (200, "suspended"))
        answer = yield self.get("/api/v1/me", user)
        self.assertEqual(answer.code, 401)  # the suspended user's token is gone
        answer = yield self.post("/api/v1/login", {"account": A, "password": "first-pass"})
        self.assertEqual(answer.code, 401)
        listed = yield self.get("/api/v1/users?status=suspended", token)
        self.assertEqual([u["mobile"] for u in listed.json["items"]], [A])
        yield self.call("PATCH", "/api/v1/users/" + A, {"status": "active", "max_devices": 7}, token)
        reset = yield self.post("/api/v1/users/%s/password" % A, {}, token)
        made = reset.json["password"]
        self.assertEqual(len(made), 8)
        user = yield self.login(A, made)
        me = yield self.get("/api/v1/users/" + A, user)
        self.assertEqual((me.json["max_devices"], me.json["status"]), (7, "active"))
        other = yield self.get("/api/v1/users/" + B, user)
        self.assertEqual(other.code, 404)
        listing = yield self.get("/api/v1/users", user)
        self.assertEqual(listing.code, 403)
        changed = yield self.post("/api/v1/me/password", {"old_password": "wrong", "new_password": "n3w-pass"}, user)
        self.assertEqual((changed.code, changed.json["error"]), (422, "wrong_password"))
        changed = yield self.post("/api/v1/me/password", {"old_password": made, "new_password": "n3w-pass"}, user)
        self.assertEqual(changed.code, 204)
        yield self.login(A, "n3w-pass")
        answer = yield self.call("DELETE", "/api/v1/users/" + A, token=token)
        self.assertEqual(answer.code, 204)
        answer = yield self.get("/api/v1/me", user)
        self.assertEqual(answer.code, 401)
        answer = yield self.get("/api/v1/users/" + A, token)
        self.assertEqual(answer.code, 404)


class UserDeviceTests(PortalTestCase):
    @defer.inlineCallbacks
    def test_a_user_binds_with_the_key_renames_shares_and_removes(self):
        yield self.camera(CAM, key="the-key")
        owner = yield self.user(A)
        friend = yield self.user(B)
        answer = yield self.post("/api/v1/devices", {"dev_id": CAM, "dev_key": "wrong"}, owner)
        self.assertEqual((answer.code, answer.json["error"]), (422, "wrong_dev_key"))
        answer = yield self.post("/api/v1/devices", {"dev_id": CAM, "dev_key": "the-key"}, owner)
        self.assertEqual(answer.code, 201, answer)
        answer = yield self.post("/api/v1/devices", {"dev_id": CAM, "dev_key": "the-key"}, friend)
        self.assertEqual((answer.code, answer.json["error"]), (409, "already_bound"))
        listed = yield self.get("/api/v1/devices", owner)
        self.assertEqual([(d["dev_id"], d["access"]) for d in listed.json["items"]], [(CAM, "own")])
        answer = yield self.call("PATCH", "/api/v1/devices/" + CAM, {"name": "门口"}, owner)
        self.assertEqual(answer.json["name"], "门口")
        answer = yield self.call("PATCH", "/api/v1/devices/" + CAM, {"model": "X"}, owner)
        self.assertEqual(answer.code, 422)
        # share read-only: the friend sees it, may look but not steer
        answer = yield self.post("/api/v1/devices/%s/shares" % CAM, {"mobile": B, "control": False}, owner)
        self.assertEqual(answer.code, 201, answer)
        listed = yield self.get("/api/v1/devices", friend)
        self.assertEqual([(d["dev_id"], d["access"]) for d in listed.json["items"]], [(CAM, "view")])
        answer = yield self.post("/api/v1/devices/%s/commands/ptz" % CAM, {"ChannelNo": 0, "PtzDirection": 3}, friend)
        self.assertEqual((answer.code, answer.json["error"]), (403, "forbidden"))
        answer = yield self.post("/api/v1/devices/%s/commands/get_channel" % CAM, {"ChannelNo": 0, "StreamType": 2},
                                 friend)
        self.assertEqual(answer.code, 200, answer)
        answer = yield self.post("/api/v1/devices/%s/shares" % CAM, {"mobile": A, "control": True}, friend)
        self.assertEqual(answer.code, 403)  # only the owner shares
        detail = yield self.get("/api/v1/devices/" + CAM, friend)
        self.assertEqual((detail.json["access"], detail.json["shares"]), ("view", []))
        # with control: the friend steers
        yield self.call("DELETE", "/api/v1/devices/%s/shares/%s" % (CAM, B), token=owner)
        yield self.post("/api/v1/devices/%s/shares" % CAM, {"mobile": B, "control": True}, owner)
        answer = yield self.post("/api/v1/devices/%s/commands/ptz" % CAM, {"ChannelNo": 0, "PtzDirection": 3}, friend)
        self.assertEqual(answer.code, 200, answer)
        shares = yield self.get("/api/v1/devices/%s/shares" % CAM, owner)
        self.assertEqual([(s["mobile"], s["control"]) for s in shares.json["items"]], [(B, True)])
        # the friend leaves; the owner removes it (§8.6: shares go too)
        answer = yield self.call("DELETE", "/api/v1/devices/" + CAM, token=friend)
        self.assertEqual(answer.code, 204)
        yield self.post("/api/v1/devices/%s/shares" % CAM, {"mobile": B, "control": False}, owner)
        answer = yield self.call("DELETE", "/api/v1/devices/" + CAM, token=owner)
        self.assertEqual(answer.code, 204)
        for token in (owner, friend):
            listed = yield self.get("/api/v1/devices", token)
            self.assertEqual(listed.json["total"], 0)
        rows = yield self.db.runQuery("SELECT count(*) FROM device WHERE dev_id = %s", (CAM,))
        self.assertEqual(rows, [(1,)])  # the device stays provisioned


class AlarmAndStatsTests(PortalTestCase):
    @defer.inlineCallbacks
    def test_alarms_are_seen_by_their_owner_and_operators_only(self):
        operator = yield self.operator()
        owner = yield self.user(A)
        stranger = yield self.user(B)
        link = yield self.camera(CAM, owner=A)
        yield link.send_alarm(0, 1, desc="motion")
        self.clock.advance(61)
        yield link.send_alarm(0, 4, dido_no=1, desc="door")
        mine = yield self.get("/api/v1/alarms", owner)
        self.assertEqual([(a["alarm_type"], a["desc"]) for a in mine.json["items"]], [(4, "door"), (1, "motion")])
        alarm_id = mine.json["items"][0]["id"]
        theirs = yield self.get("/api/v1/alarms", stranger)
        self.assertEqual(theirs.json["total"], 0)
        answer = yield self.get("/api/v1/alarms/%d" % alarm_id, stranger)
        self.assertEqual(answer.code, 404)
        answer = yield self.get("/api/v1/alarms?devid=" + CAM, stranger)
        self.assertEqual(answer.code, 404)
        answer = yield self.get("/api/v1/alarms/%d" % alarm_id, owner)
        self.assertEqual((answer.code, answer.json["dido_no"]), (200, 1))
        everything = yield self.get("/api/v1/alarms?devid=%s&page=1&per_page=1" % CAM, operator)
        self.assertEqual((everything.json["total"], len(everything.json["items"])), (2, 1))
        at = mine.json["items"][1]["at"]
        window = yield self.get("/api/v1/alarms?to=" + at.replace("+", "%2B"), owner)
        self.assertEqual([a["desc"] for a in window.json["items"]], ["motion"])

    @defer.inlineCallbacks
    def test_statistics_are_kept_by_the_periodic_job(self):
        operator = yield self.operator()
        user = yield self.user(A)
        link = yield self.camera(CAM, owner=A)
        yield link.send_alarm(0, 1)
        job = self.service.platform.stats_job
        before = job.recorded
        self.clock.advance(self.service.config.portal.stats_interval)
        yield eventually(lambda: job.recorded > before, "a sample")
        answer = yield self.get("/api/v1/stats/summary?days=7", operator)
        body = answer.json
        self.assertEqual((body["devices"], body["online"], body["users"]), (1, 1, 1))
        self.assertTrue(body["samples"])
        self.assertEqual(body["samples"][-1]["online"], 1)
        today = body["days"][-1]
        self.assertEqual((today["alarms"], today["logins"]), (1, 2))
        rows = yield self.db.runQuery("SELECT count(*) FROM stats_sample")
        self.assertGreaterEqual(rows[0][0], 2)
        answer = yield self.get("/api/v1/stats/summary", user)
        self.assertEqual(answer.code, 403)


class MetricsTests(PortalTestCase):
    @defer.inlineCallbacks
    def test_requests_refusals_and_logins_are_counted(self):
        from prometheus_client.parser import text_string_to_metric_families

        token = yield self.operator()
        yield self.post("/api/v1/login", {"account": "ops", "password": "wrong"})
        yield self.get("/api/v1/devices/81100009999", token)
        answer = yield self.agent.request(b"GET", b"http://127.0.0.1:%d/metrics" % self.port("admin"))
        from twisted.web.client import readBody
        text = (yield readBody(answer)).decode()
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(text) for s in family.samples}
        self.assertEqual(samples[("kandian_portal_requests_total", ())], 3)
        self.assertEqual(samples[("kandian_portal_errors_total", (("error", "not_found"),))], 1)
        self.assertEqual(samples[("kandian_portal_errors_total", (("error", "bad_credentials"),))], 1)
        self.assertEqual(samples[("kandian_portal_logins_total", (("outcome", "ok"),))], 1)
        self.assertEqual(samples[("kandian_portal_logins_total", (("outcome", "failed"),))], 1)


class PictureTests(PortalTestCase):
    """``GET /api/v1/alarms/{id}/picture`` over the FTP slice's contract, ``core.alarms.picture(alarm_id)``."""

    @defer.inlineCallbacks
    def test_the_picture_of_an_alarm_is_its_owners(self):
        import hashlib
        import os

        owner = yield self.user(A)
        stranger = yield self.user(B)
        link = yield self.camera(CAM, owner=A)
        yield link.send_alarm(0, 1)
        rows = yield self.db.runQuery("SELECT alarm_id FROM alarm")
        alarm_id = rows[0][0]
        answer = yield self.get("/api/v1/alarms/%d/picture" % alarm_id, owner)
        self.assertEqual((answer.code, answer.json["error"]), (404, "no_picture"))
        jpeg = b"\xff\xd8\xff\xe0" + os.urandom(40_000) + b"\xff\xd9"
        path = os.path.abspath(self.mktemp())
        with open(path, "wb") as f:
            f.write(jpeg)

        class Picture:
            def __init__(self):
                self.path, self.size, self.sha256, self.taken_at = path, len(jpeg), hashlib.sha256(jpeg).hexdigest(), 0

        class Pictures:  # the FTP slice's core.alarms.picture, until it lands
            def picture(self, wanted):
                return defer.succeed(Picture() if wanted == alarm_id else None)

        self.core.fleet.alarms_core = Pictures()
        answer = yield self.get("/api/v1/alarms/%d/picture" % alarm_id, owner)
        self.assertEqual((answer.code, answer.header(b"content-type"), answer.data), (200, "image/jpeg", jpeg))
        etag = answer.header(b"etag")
        again = yield self.get("/api/v1/alarms/%d/picture" % alarm_id, owner, headers={b"if-none-match": [etag.encode()]})
        self.assertEqual(again.code, 304)
        answer = yield self.get("/api/v1/alarms/%d/picture" % alarm_id, stranger)
        self.assertEqual((answer.code, answer.json["error"]), (404, "not_found"))
        os.remove(path)
        answer = yield self.get("/api/v1/alarms/%d/picture" % alarm_id, owner)
        self.assertEqual((answer.code, answer.json["error"]), (404, "no_picture"))


class ReadOnlyShareOverSoapTests(PortalTestCase):
    """A share made read-only in the portal is read-only for the phone app too (SOAP, checked in the core)."""

    @defer.inlineCallbacks
    def test_the_app_cannot_steer_a_read_only_share(self):
        from .mcu_helpers import Soap

        owner = yield self.user(A)
        yield self.core.accounts.add(B, PASSWORD)
        link = yield self.camera(CAM, owner=A)
        yield self.post("/api/v1/devices/%s/shares" % CAM, {"mobile": B, "control": False}, owner)
        soap = yield Soap.connect(self.port("mcu"))
        login = yield soap.McuLogin(Account=B, Password=PASSWORD, Version="A-1.0")
        session = login["LoginSession"]
        before = len(link.commands_received)
        answer = yield soap.PtzControl(Account=B, LoginSession=session, DevID=CAM, ChannelNo=0, PtzDirection=1)
        self.assertEqual(answer["Result"], 255)
        answer = yield soap.RebootCamera(Account=B, LoginSession=session, DevID=CAM)
        self.assertEqual(answer["Result"], 255)
        self.assertEqual(len(link.commands_received), before)
        answer = yield soap.GetCameraParam(Account=B, LoginSession=session, DevID=CAM, ChannelNo=0, StreamType=2)
        self.assertEqual(answer["Result"], 0)  # looking is allowed
        yield self.call("DELETE", "/api/v1/devices/%s/shares/%s" % (CAM, B), token=owner)
        yield self.post("/api/v1/devices/%s/shares" % CAM, {"mobile": B, "control": True}, owner)
        answer = yield soap.PtzControl(Account=B, LoginSession=session, DevID=CAM, ChannelNo=0, PtzDirection=1)
        self.assertEqual(answer["Result"], 0)
