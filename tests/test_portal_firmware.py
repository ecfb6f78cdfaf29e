"""The REST API's firmware catalogue, upgrade campaigns, device logs, DevKey SMS and the group-telling user changes,
over real HTTP against the running platform (real PostgreSQL; the shipped simulator as camera)."""

import hashlib
import os
import shutil
import socket

from twisted.internet import defer, reactor, task

from kandian.device import messages as m
from kandian.sim.smgp import FakeIsmg

from .portal_helpers import PortalTestCase
from .test_device_integration import eventually
from .test_group_e2e import GROUP_SETTINGS
from .test_sms_e2e import ACCOUNT, SECRET, sms_settings

A, B = "13800000001", "13800000002"
CAM, CAM2, OTHER = "81100000001", "81100000002", "81200000003"
OLD, NEW, NEWER = "V1.5_20131210", "V1.6_20990101", "V1.7_20990601"
MODEL = "SIM-IPC"


class FirmwareTestCase(PortalTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        # the files root outlives a test, the catalogue's ids do not
        shutil.rmtree(os.path.join(self.service.config.files_root, "firmware"), ignore_errors=True)

    @defer.inlineCallbacks
    def cam(self, dev_id, **kw):
        link = yield self.camera(dev_id, **kw)
        yield self.db.runOperation("UPDATE device SET model = %s WHERE dev_id = %s", (MODEL, dev_id))
        return link

    def upload(self, token, image, version=NEW, file_name="fw.bin", manufacturer="811"):
        path = "/api/v1/firmware?manufacturer=%s&model=%s&version=%s&file_name=%s" % (
            manufacturer, MODEL, version, file_name)
        return self.call("POST", path, token=token, raw=image, content_type="application/octet-stream")


class CatalogueTests(FirmwareTestCase):
    @defer.inlineCallbacks
    def test_raw_and_multipart_uploads_are_catalogued_and_listed(self):
        token = yield self.operator()
        image = os.urandom(300_000)  # over Twisted's in-memory body size: kept in a temporary file
        answer = yield self.upload(token, image)
        self.assertEqual(answer.code, 201, answer)
        first = answer.json
        self.assertEqual((first["version"], first["file_name"], first["size"], first["sha256"]),
                         (NEW, "fw.bin", len(image), hashlib.sha256(image).hexdigest()))
        with open(self.core.firmware.image_path(first["id"], "fw.bin"), "rb") as f:
            self.assertEqual(f.read(), image)
        boundary = "kandianboundary"
        form = b"".join(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (
            boundary.encode(), k.encode(), v.encode()) for k, v in
            (("manufacturer", "811"), ("model", MODEL), ("version", NEWER)))
        form += (b"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\\\up\\\\fw-1.7.bin\"\r\n"
                 b"Content-Type: application/octet-stream\r\n\r\nIMAGE-1.7\r\n--%s--\r\n") % (
            boundary.encode(), boundary.encode())
        answer = yield self.call("POST", "/api/v1/firmware", token=token, raw=form,
                                 content_type="multipart/form-data; boundary=" + boundary)
        self.assertEqual(answer.code, 201, answer)
        self.assertEqual((answer.json["file_name"], answer.json["size"]), ("fw-1.7.bin", 9))
        listed = yield self.get("/api/v1/firmware", token)
        self.assertEqual([(f["version"], f["model"]) for f in listed.json["items"]], [(NEW, MODEL), (NEWER, MODEL)])
        # the same version again; a bad version; a JSON body; no file name
        again = yield self.upload(token, b"x")
        self.assertEqual((again.code, again.json["error"]), (409, "exists"))
        bad = yield self.upload(token, b"x", version="1.8")
        self.assertEqual((bad.code, bad.json["error"]), (422, "invalid"))
        json_body = yield self.post("/api/v1/firmware", {"model": MODEL}, token)
        self.assertEqual((json_body.code, json_body.json["error"]), (400, "bad_request"))
        unnamed = yield self.upload(token, b"x", version=NEWER.replace("7", "9"), file_name="")
        self.assertEqual((unnamed.code, unnamed.json["error"]), (422, "invalid"))

    @defer.inlineCallbacks
    def test_viewers_only_look_and_users_not_even(self):
        yield self.operator()
        viewer = yield self.operator("watcher", "viewer")
        user = yield self.user(A)
        answer = yield self.upload(viewer, b"image")
        self.assertEqual((answer.code, answer.json["error"]), (403, "forbidden"))
        listed = yield self.get("/api/v1/firmware", viewer)
        self.assertEqual((listed.code, listed.json["items"]), (200, []))
        for method, path in (("GET", "/api/v1/firmware"), ("GET", "/api/v1/upgrades"),
                             ("POST", "/api/v1/upgrades"), ("GET", "/api/v1/upgrades/1")):
            answer = yield self.call(method, path, {} if method == "POST" else None, user)
            self.assertEqual(answer.code, 403, (method, path, answer))
        answer = yield self.upload(user, b"image")
        self.assertEqual(answer.code, 403)


class CampaignTests(FirmwareTestCase):
    @defer.inlineCallbacks
    def test_start_watch_pause_resume_cancel(self):
        token = yield self.operator()
        viewer = yield self.operator("watcher", "viewer")
        cam = yield self.cam(CAM)
        yield self.cam(CAM2, online=False)
        fw = (yield self.upload(token, b"IMAGE")).json
        started = yield self.post("/api/v1/upgrades", {"firmware": fw["id"], "devices": [CAM, CAM2], "batch": 5,
                                                       "max_failures": 1}, token)
        self.assertEqual(started.code, 201, started)
        self.assertEqual((started.json["devices"], started.json["skipped"]), (2, []))
        path = "/api/v1/upgrades/%d" % started.json["id"]
        status = yield self.get(path, viewer)
        self.assertEqual(status.code, 200, status)
        self.assertEqual((status.json["state"], status.json["firmware"]["version"], status.json["devices"]["pending"]),
                         ("running", NEW, 2))
        yield self.core.upgrades.round()  # the daemon's round: the online camera is sent UPGRADE_REQ
        sent = [r for _, r in cam.commands_received if isinstance(r, m.UpgradeRequest)]
        self.assertEqual([(r.NewDevVer, r.FtpFileName, r.FtpAccount) for r in sent], [(NEW, "fw.bin", CAM)])
        status = yield self.get(path, token)
        states = {t["dev_id"]: (t["state"], t["from_version"]) for t in status.json["targets"]}
        self.assertEqual(states, {CAM: ("sent", OLD), CAM2: ("pending", None)})
        listed = yield self.get("/api/v1/upgrades", token)
        self.assertEqual([(c["id"], c["devices"]["sent"]) for c in listed.json["items"]], [(started.json["id"], 1)])
        paused = yield self.post(path + "/pause", {}, token)
        self.assertEqual((paused.code, paused.json["state"]), (200, "paused"))
        refused = yield self.post(path + "/resume", {}, viewer)
        self.assertEqual(refused.code, 403)
        resumed = yield self.post(path + "/resume", {}, token)
        self.assertEqual(resumed.json["state"], "running")
        cancelled = yield self.post(path + "/cancel", {}, token)
        self.assertEqual(cancelled.json["devices"]["failed"], 1)  # the pending one; the sent one is still followed
        again = yield self.post(path + "/pause", {}, token)
        self.assertEqual((again.code, again.json["error"]), (409, "campaign_closed"))
        # a device already aimed at by an open campaign is skipped; bad starts
        for body, code in (({"firmware": 99}, "not_found"), ({"firmware": "1"}, "invalid"),
                           ({"firmware": fw["id"], "devices": [OTHER]}, "not_found"),
                           ({"firmware": fw["id"], "batch": 0}, "invalid"),
                           ({"firmware": fw["id"], "colour": "red"}, "invalid")):
            answer = yield self.post("/api/v1/upgrades", body, token)
            self.assertEqual(answer.json["error"], code, (body, answer))
        missing = yield self.get("/api/v1/upgrades/999", token)
        self.assertEqual((missing.code, missing.json["error"]), (404, "not_found"))

    @defer.inlineCallbacks
    def test_the_upgrade_command_is_a_campaign_of_one_so_the_ftp_server_serves_the_image(self):
        token = yield self.operator()
        cam = yield self.cam(CAM)
        answer = yield self.post("/api/v1/devices/%s/commands/upgrade" % CAM, {}, token)
        self.assertEqual((answer.code, answer.json["error"]), (409, "no_newer_firmware"))
        fw = (yield self.upload(token, b"IMAGE")).json
        wrong = yield self.post("/api/v1/devices/%s/commands/upgrade" % CAM, {"NewDevVer": NEWER}, token)
        self.assertEqual((wrong.code, wrong.json["error"]), (422, "invalid"))
        answer = yield self.post("/api/v1/devices/%s/commands/upgrade" % CAM, {"NewDevVer": NEW}, token)
        self.assertEqual(answer.code, 200, answer)
        self.assertEqual((answer.json["Result"], answer.json["NewDevVer"]), (0, NEW))
        sent = [r for _, r in cam.commands_received if isinstance(r, m.UpgradeRequest)]
        self.assertEqual([(r.FtpFileName, r.FtpPassword) for r in sent], [("fw.bin", self.core.keys.ftp_password(CAM))])
        served = yield self.core.upgrades.firmware_for(CAM)
        self.assertEqual(served, ("fw.bin", self.core.firmware.image_path(fw["id"], "fw.bin")))
        status = yield self.get("/api/v1/upgrades/%d" % answer.json["campaign_id"], token)
        self.assertEqual((status.json["origin"], [t["state"] for t in status.json["targets"]]), ("app", ["sent"]))


class DeviceLogAndKeyTests(FirmwareTestCase):
    @defer.inlineCallbacks
    def test_logs_are_requested_sent_at_the_round_and_listed(self):
        token = yield self.operator()
        user = yield self.user(A)
        cam = yield self.cam(CAM, owner=A)
        asked = yield self.post("/api/v1/devices/%s/logs/request" % CAM, {}, token)
        self.assertEqual(asked.code, 202, asked)
        yield self.core.devlogs.round()
        self.assertTrue(any(isinstance(r, m.LogUploadRequest) for _, r in cam.commands_received))
        state = yield self.core.devlogs.request_state(asked.json["request_id"])
        self.assertEqual(state.state, "sent")
        yield self.core.devlogs.log_stored(CAM, "cam-1.log", 12, "ab" * 32)
        listed = yield self.get("/api/v1/devices/%s/logs" % CAM, token)
        self.assertEqual([(f["file_name"], f["size"]) for f in listed.json["items"]], [("cam-1.log", 12)])
        # the owner neither lists nor asks (operators' business); nobody reaches a device that is not there
        for method, path in (("GET", "/logs"), ("POST", "/logs/request")):
            answer = yield self.call(method, "/api/v1/devices/%s%s" % (CAM, path), {} if method == "POST" else None,
                                     user)
            self.assertEqual(answer.code, 403, (path, answer))
        missing = yield self.get("/api/v1/devices/81100009999/logs", token)
        self.assertEqual(missing.code, 404)

    @defer.inlineCallbacks
    def test_without_a_gateway_the_devkey_is_not_sent(self):
        owner = yield self.user(A)
        yield self.cam(CAM, key="the-dev-key", owner=A, online=False)
        answer = yield self.post("/api/v1/devices/%s/send-key" % CAM, {}, owner)
        self.assertEqual((answer.code, answer.json["error"]), (503, "sms_not_sent"))
        rows = yield self.db.runQuery("SELECT count(*) FROM sms_outbox")
        self.assertEqual(rows, [(0,)])


class DevKeyBySmsTests(FirmwareTestCase):
    """send-key with ``[sms]`` configured: the shipped fake ISMG (kandian.sim.smgp) on loopback as the gateway."""

    @defer.inlineCallbacks
    def setUp(self):
        self.ismg = FakeIsmg(task.Clock(), accounts={ACCOUNT: SECRET})
        self.ismg_port = yield self.ismg.listen(reactor)
        self.addCleanup(self.stop_ismg)
        self.settings = {**self.settings, "sms": sms_settings(self.ismg_port.getHost().port)}
        yield super().setUp()
        yield eventually(lambda: self.service.platform.sms_sender.client.connected, "logged in to the gateway")

    @defer.inlineCallbacks
    def stop_ismg(self):  # after the service (cleanups run last added first): nothing dials it again
        self.ismg.stop()
        self.ismg.disconnect()
        yield eventually(lambda: not self.ismg.sessions, "fake ISMG links closed")
        yield self.ismg_port.stopListening()

    @defer.inlineCallbacks
    def test_the_devkey_goes_by_sms_to_the_owner_only(self):
        operator = yield self.operator()
        owner = yield self.user(A)
        stranger = yield self.user(B)
        yield self.cam(CAM, key="the-dev-key", owner=A, online=False)
        yield self.bind(B, CAM, share_flag=1)
        shared = yield self.post("/api/v1/devices/%s/send-key" % CAM, {}, stranger)
        self.assertEqual(shared.code, 403)  # shared, not owned
        answer = yield self.post("/api/v1/devices/%s/send-key" % CAM, {}, owner)
        self.assertEqual((answer.code, answer.json["mobile"]), (202, "138****0001"))
        rows = yield self.db.runQuery("SELECT mobile, kind FROM sms_outbox")
        self.assertEqual(rows, [(A, "devkey")])
        yield eventually(lambda: [t for t in self.ismg.texts if t.dest == A], "the devkey SMS at the gateway")
        self.assertEqual([t.dest for t in self.ismg.texts], [A])
        self.assertIn("the-dev-key", self.ismg.texts[0].text)
        again = yield self.post("/api/v1/devices/%s/send-key" % CAM, {}, operator)
        self.assertEqual((again.code, again.json["error"]), (503, "sms_not_sent"))  # once a minute
        missing = yield self.post("/api/v1/devices/81100009999/send-key", {}, owner)
        self.assertEqual(missing.code, 404)


class GroupToldTests(FirmwareTestCase):
    """With ``[group] url`` set, the portal's user changes are queued for the group platform (here one that
    refuses connections: the queue keeps them, retried on the test's clock, which does not move)."""

    @defer.inlineCallbacks
    def setUp(self):
        refused = socket.socket()  # a loopback port nobody listens on
        refused.bind(("127.0.0.1", 0))
        port = refused.getsockname()[1]
        refused.close()
        self.settings = {**self.settings, "group": "url = http://127.0.0.1:%d/cms\n%s" % (port, GROUP_SETTINGS)}
        yield super().setUp()

    @defer.inlineCallbacks
    def test_max_devices_and_delete_through_the_portal_tell_the_group(self):
        token = yield self.operator()
        yield self.core.accounts.add(A, "pw-123456", 4)
        answer = yield self.call("PATCH", "/api/v1/users/" + A, {"max_devices": 9}, token)
        self.assertEqual((answer.code, answer.json["max_devices"]), (200, 9))
        answer = yield self.call("DELETE", "/api/v1/users/" + A, None, token)
        self.assertEqual(answer.code, 204)
        rows = yield self.db.runQuery("SELECT kind, mobile, ipcam_num FROM group_change ORDER BY change_id")
        self.assertEqual(rows, [("open", A, 4), ("change", A, 9), ("cancel", A, None)])
        gone = yield self.get("/api/v1/users/" + A, token)
        self.assertEqual(gone.code, 404)
