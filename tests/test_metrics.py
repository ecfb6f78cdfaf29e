"""GET /metrics on the admin listener, read back with Prometheus's own parser."""

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.web.client import Agent, readBody

from kandian.device.frame import Frame

from .mcu_helpers import McuTestCase
from .test_device_integration import RawDevice, eventually

A, CAM = "13800000001", "81100000001"


class MetricsTests(McuTestCase):
    @defer.inlineCallbacks
    def scrape(self):
        response = yield Agent(reactor).request(b"GET", b"http://127.0.0.1:%d/metrics" % self.port("admin"))
        self.assertEqual(response.code, 200)
        self.assertTrue(response.headers.getRawHeaders(b"content-type")[0].startswith(b"text/plain"))
        text = (yield readBody(response)).decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    @defer.inlineCallbacks
    def test_counters_move_with_logins_bad_frames_soap_calls_and_commands(self):
        before = yield self.scrape()
        self.assertEqual(before[("kandian_devices_online", ())], 0)

        session = yield self.user(A)                    # a SOAP call
        link = yield self.camera(CAM)                   # a device logs in
        yield self.bind(A, CAM)
        answer = yield self.soap.PtzControl(Account=A, LoginSession=session, DevID=CAM, ChannelNo=0,
                                            PtzDirection=1)  # a command round trip
        self.assertEqual(answer["Result"], 0)
        yield link.send_alarm(0, 1)
        raw = yield RawDevice.connect(self.port("device"))
        raw.transport.write(Frame(0x31, 0, b"<LOGIN_REQ/>").to_wire()[:-1] + b"\x00")  # bad MD5
        yield eventually(lambda: self.service.platform.link_stats.bad_frames["digest"], "bad frame counted")
        raw.transport.loseConnection()

        after = yield self.scrape()
        self.assertEqual(after[("kandian_devices_online", ())], 1)
        self.assertEqual(after[("kandian_device_logins_total", (("result", "0"),))], 1)
        self.assertEqual(after[("kandian_device_bad_frames_total", (("reason", "digest"),))], 1)
        self.assertEqual(after[("kandian_soap_requests_total", (("operation", "McuLogin"), ("result", "0")))], 1)
        self.assertEqual(after[("kandian_soap_requests_total", (("operation", "PtzControl"), ("result", "0")))], 1)
        self.assertEqual(after[("kandian_device_command_seconds_count", (("cmd", "0x64"),))], 1)
        self.assertEqual(after[("kandian_device_frames_in_total", (("cmd", "0x37"),))], 1)
        self.assertEqual(after[("kandian_alarms_stored_total", ())], 1)
        self.assertIn(("kandian_db_pool_connections", (("state", "idle"),)), after)
        self.assertIn(("kandian_relay_sessions", ()), after)

    @defer.inlineCallbacks
    def test_upgrades_are_counted(self):
        session = yield self.user(A)
        link = yield self.camera(CAM)
        yield self.bind(A, CAM)
        before = yield self.scrape()
        self.assertEqual(before[("kandian_upgrades_total", (("outcome", "sent"),))], 0)
        yield self.db.runOperation(
            "INSERT INTO firmware (manufacturer_no, model, dev_ver, file_name)"
            " SELECT manufacturer_no, model, 'V1.6_20261101', 'fw.bin' FROM device WHERE dev_id = %s", (CAM,))
        answer = yield self.soap.NotifyUpgrade(Account=A, LoginSession=session, DevID=CAM)
        self.assertEqual(answer["Result"], 0)
        self.assertIn(0x6D, [cmd for cmd, _ in link.commands_received])
        after = yield self.scrape()
        self.assertEqual(after[("kandian_upgrades_total", (("outcome", "sent"),))], 1)
        self.assertEqual(after[("kandian_upgrades_in_flight", ())], 1)
        self.assertEqual(after[("kandian_log_requests_total", (("outcome", "sent"),))], 0)
