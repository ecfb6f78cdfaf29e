"""spec/001 §3.1 POST /ipc/video/cmds over real HTTP to a simulated camera on a real link: cmd_status 0, 2, 3, 4,
5 and 6, qos, user-defined commands, bad bodies and keys."""

import base64
import json

from twisted.internet import defer

from kandian.core.access import Principal
from kandian.device import messages as m

from .onenet_helpers import OnenetTestCase
from .test_device_integration import eventually

# §3.2's PTZ example, made JSON
PTZ = {"cmdId": 7, "channel_id": 1, "cmd": {"stop": 0, "cmd": 1 + 10, "speed": 3}}


def resp(answer):
    dev_resp = answer.payload["dev_resp"]
    return dev_resp["resp_code"], json.loads(base64.b64decode(dev_resp["resp_data"]))


class CommandTests(OnenetTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.dev_id = yield self.create(auth_info="key-1")

    @defer.inlineCallbacks
    def test_answered(self):
        link = yield self.camera(self.dev_id, "key-1")
        answer = yield self.post("/ipc/video/cmds", {"device_id": self.dev_id, "qos": 1}, PTZ)
        self.assertSucc(answer)
        self.assertEqual(answer.payload["cmd_status"], 4)
        self.assertEqual(len(answer.payload["cmd_uuid"]), 36)
        self.assertEqual(resp(answer), (0, {"cmdId": 7, "channel_id": 1, "result": 1}))
        self.assertIn((0x64, m.PtzRequest(DevID=self.dev_id, ChannelNo=0, PtzDirection=1)), link.commands_received)
        # the TF card's state, with the device's answer in resp_data
        answer = yield self.post("/ipc/video/cmds", {"device_id": self.dev_id, "qos": "1"}, {"cmdId": 30})
        code, data = resp(answer)
        self.assertEqual((code, data["cmd"]["state"], data["cmd"]["mode"]), (0, 1, 2))
        # a device key reaches its device
        key = yield self.device_key(self.dev_id)
        answer = yield self.post("/ipc/video/cmds", {"device_id": self.dev_id, "qos": 1}, {"cmdId": 41}, key=key)
        self.assertEqual(answer.payload["cmd_status"], 4)

    @defer.inlineCallbacks
    def test_refused_by_the_device(self):
        link = yield self.camera(self.dev_id, "key-1")
        answer = yield self.post("/ipc/video/cmds", {"device_id": self.dev_id, "qos": 1},
                                 {"cmdId": 7, "channel_id": 2, "cmd": {"stop": 0, "cmd": 11}})
        self.assertEqual(answer.payload["cmd_status"], 4)
        self.assertEqual(resp(answer), (1, {"cmdId": 7, "channel_id": 2, "result": 0}))  # no channel 1 on it
        self.assertTrue(link.commands_received)

    @defer.inlineCallbacks
    def test_qos_0_does_not_wait(self):
        link = yield self.camera(self.dev_id, "key-1")
        answer = yield self.post("/ipc/video/cmds", {"device_id": self.dev_id}, PTZ)
        self.assertSucc(answer)
        self.assertEqual(answer.payload["cmd_status"], 2)
        self.assertNotIn("dev_resp", answer.payload)
        yield eventually(lambda: link.commands_received, "sent")
        # a malformed command is still refused at once
        answer = yield self.post("/ipc/video/cmds", {"device_id": self.dev_id},
                                 {"cmdId": 7, "channel_id": 1, "cmd": {"stop": 9}})
        self.assertErrno(answer, 400)
        answer = yield self.post("/ipc/video/cmds", {"device_id": self.dev_id}, {"cmdId": 20, "channel_id": 1})
        self.assertEqual(answer.payload["cmd_status"], 3)

    @defer.inlineCallbacks
    def test_offline_unsupported_user_defined(self):
        answer = yield self.post("/ipc/video/cmds", {"device_id": self.dev_id, "qos": 1}, PTZ)
        self.assertSucc(answer)
        self.assertEqual(answer.payload["cmd_status"], 0)
        answer = yield self.post("/ipc/video/cmds", {"device_id": self.dev_id, "qos": 1},
                                 {"cmdId": 5, "channel_id ": 1})
        self.assertEqual(answer.payload["cmd_status"], 3)
        self.assertIn("no device of this platform", answer.payload["reason"])
        answer = yield self.post("/ipc/video/cmds", {"device_id": self.dev_id, "qos": 1, "type": 1},
                                 raw=b"any user data")
        self.assertEqual(answer.payload["cmd_status"], 3)
        # camera off needs no device
        answer = yield self.post("/ipc/video/cmds", {"device_id": self.dev_id, "qos": 1},
                                 {"cmdId": 40, "channel_id": 1, "cmd": {"status": "off"}})
        self.assertEqual((answer.payload["cmd_status"], resp(answer)[0]), (4, 0))
        answer = yield self.post("/ipc/video/cmds", {"device_id": self.dev_id, "qos": 1},
                                 {"cmdId": 39, "channel_id": 1})
        self.assertEqual(resp(answer)[1]["cmd"], {"status": "off"})

    @defer.inlineCallbacks
    def test_upgrade_to_a_catalogued_version(self):
        dev_id = yield self.create("cam", dev_id="81100000005", auth_info="key-5")
        yield self.camera(dev_id, "key-5")
        yield self.core.fleet.update(self.master_principal(), dev_id, {"model": "DS-2CD"})
        image = self.mktemp()
        with open(image, "wb") as f:
            f.write(b"firmware image")
        yield self.core.firmware.add(image, "811", "DS-2CD", "V1.5_20990101")
        body = {"cmdId": 11, "cmd": {"url": "http://example.cn/fw.tar.gz", "ver": "V1.5_20990101",
                                     "md5": "0" * 32}}
        answer = yield self.post("/ipc/video/cmds", {"device_id": dev_id, "qos": 1}, body)
        self.assertEqual((answer.payload["cmd_status"], resp(answer)), (4, (0, {"cmdId": 11, "result": 1})))
        campaigns = yield self.core.upgrades.campaigns()
        self.assertEqual(len(campaigns), 1)
        # a version not catalogued is not sent; a device key may not upgrade
        answer = yield self.post("/ipc/video/cmds", {"device_id": dev_id, "qos": 1},
                                 {"cmdId": 11, "cmd": {"ver": "V9.9_20990101"}})
        self.assertEqual(answer.payload["cmd_status"], 3)
        self.assertIn("kandianctl firmware add", answer.payload["reason"])
        key = yield self.device_key(dev_id)
        self.assertErrno((yield self.post("/ipc/video/cmds", {"device_id": dev_id, "qos": 1}, body, key=key)), 403)

    def master_principal(self):
        return Principal("operator", 0, "test", "admin")

    @defer.inlineCallbacks
    def test_no_answer_in_time(self):
        link = yield self.camera(self.dev_id, "key-1")
        received = []
        link._request_received = received.append  # the camera goes quiet
        d = self.post("/ipc/video/cmds", {"device_id": self.dev_id, "qos": 1}, PTZ)
        yield eventually(lambda: received, "sent")
        self.clock.advance(self.service.config.device.command_timeout)
        answer = yield d
        self.assertEqual(answer.payload["cmd_status"], 5)

    @defer.inlineCallbacks
    def test_errors(self):
        other = yield self.create("other")
        key = yield self.device_key(other)
        for query, body, raw, errno in (
                ({"device_id": self.dev_id}, None, b"{", 400),
                ({"device_id": self.dev_id}, {"cmd": {}}, None, 400),
                ({"device_id": self.dev_id, "qos": 2}, PTZ, None, 400),
                ({}, PTZ, None, 400),
                ({"device_id": "81100000009", "qos": 1}, PTZ, None, 404),
                ({"device_id": "81100000009", "qos": 1}, {"cmdId": 5}, None, 404)):
            self.assertErrno((yield self.post("/ipc/video/cmds", query, body, raw=raw)), errno)
        self.assertErrno((yield self.post("/ipc/video/cmds", {"device_id": self.dev_id}, PTZ, key=key)), 403)
        self.assertErrno((yield self.post("/ipc/video/cmds", {"device_id": self.dev_id}, PTZ, key="x")), 401)
        big = {"cmdId": 7, "channel_id": 1, "cmd": {"pad": "x" * 70_000}}
        self.assertErrno((yield self.post("/ipc/video/cmds", {"device_id": self.dev_id}, big)), 413)
        stats = self.service.platform.onenet_stats.commands.by_status
        self.assertEqual(sum(stats), 0)
