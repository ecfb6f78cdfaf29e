"""A whole firmware campaign, end to end: 50 simulated cameras, a few told to fail, across a daemon restart.

Real PostgreSQL, the daemon (KandianService, its FTP listener included) on
the real reactor's clock, ``kandianctl`` as the operator in a child process,
the shipped simulator as the cameras (one fleet, FTP behaviour on: each
downloads the image with its own FTP login, checks its sha256, reboots).
The campaign is started with ``kandianctl upgrade start``; the daemon is
stopped while devices are in flight (a download may be cut short with it)
and started again on the same ports; five cameras only come online after the
restart.
In the end every camera that was not told to fail runs the new firmware
and is ``done``, each failing one is ``failed`` with its reason, and the
campaign is ``finished``; then ``kandianctl device logs`` fetches a
camera's log through the daemon.
"""

import hashlib
import os

from twisted.internet import defer, reactor, task

from kandian import config
from kandian.service import KandianService
from kandian.sim.fleet import Fleet
from kandian.sim.ftp import DeviceFtp
from kandian.store.devices import DeviceStore

from .pg import DatabaseTestCase
from .test_ctl import kandianctl
from .test_register import LISTENERS
from .test_twistd import write_config

OLD, NEW = "V1.5_20131210", "V1.6_20240101"
FIRST = 81100000001
COUNT, LATE = 50, 5  # cameras; of which come online only after the restart
FAILING = {"81100000007": "corrupt", "81100000013": "corrupt", "81100000021": "refuse", "81100000034": "silent"}
TIMEOUT = 20  # [firmware] upgrade_timeout: the silent one fails after it


@defer.inlineCallbacks
def until(check, what, seconds=120.0, step=0.1):
    """Wait on the real reactor until *check()* is truthy (it may return a Deferred)."""
    for _ in range(int(seconds / step)):
        value = yield defer.maybeDeferred(check)
        if value:
            return value
        yield task.deferLater(reactor, step, lambda: None)
    raise AssertionError("never happened: " + what)


class CampaignAcrossARestartTests(DatabaseTestCase):
    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.files = os.path.abspath(self.mktemp())
        self.ports: dict[str, int] = {}
        self.service = None
        self.ctl_config = write_config(self.mktemp(), os.path.abspath(self.mktemp()), dsn=self.dsn)
        with open(self.ctl_config, "a") as f:
            f.write("[files]\nroot = %s\n" % self.files)
        self.ids = [str(FIRST + n) for n in range(COUNT)]
        devices = DeviceStore(self.db)
        for dev_id in self.ids:
            yield devices.add(dev_id, "key-%s" % dev_id, model="C1")

    def config(self):
        text = "[database]\ndsn = %s\n" % self.dsn
        for name in LISTENERS:
            text += "[%s]\nlisten = tcp:%d:interface=127.0.0.1\n" % (name, self.ports.get(name, 0))
            if name == "ftp":  # any passive port; every camera connects from 127.0.0.1
                text += "passive_ports =\nmax_connections_per_address = 0\n"
        text += "[files]\nroot = %s\n" % self.files
        text += "[firmware]\npoll_interval = 1\nupgrade_timeout = %d\n" % TIMEOUT
        return config.parse(text, "campaign.ini", reactor)

    @defer.inlineCallbacks
    def start_daemon(self):
        self.service = KandianService(self.config(), reactor)
        self.service.startService()
        yield self.service.ready
        self.ports = {name: listener.port.getHost().port for name, listener in self.service.listeners.items()}

    @defer.inlineCallbacks
    def stop_daemon(self):
        service, self.service = self.service, None
        yield service.stopService()

    def fleet(self, first, count, device_ftp):
        return Fleet(reactor, count=count, first_devid=first, key_pattern="key-{devid}",
                     link=("127.0.0.1", self.ports["device"]), model="C1", dev_ver=OLD, heartbeat=30,
                     reconnect_delay=0.2, connect_rate=500, status_every=None, ftp=device_ftp,
                     fail_upgrades=FAILING)

    @defer.inlineCallbacks
    def targets(self):
        rows = yield self.db.runQuery("SELECT dev_id, state, reason FROM upgrade_target ORDER BY dev_id")
        return {dev_id: (state, reason) for dev_id, state, reason in rows}

    @defer.inlineCallbacks
    def test_fifty_cameras_a_few_failing_across_a_restart(self):
        yield self.start_daemon()
        self.addCleanup(lambda: self.service and self.service.stopService())
        image = os.urandom(1 << 20)
        source = os.path.join(os.path.abspath(self.mktemp()), "ipc-c1-1.6.bin")
        os.makedirs(os.path.dirname(source))
        with open(source, "wb") as f:
            f.write(image)

        code, out = yield kandianctl(self.ctl_config, "firmware", "add", source, "--manufacturer", "811",
                                     "--model", "C1", "--version", NEW)
        self.assertEqual(code, 0, out)
        digest = hashlib.sha256(image).hexdigest()
        self.assertIn(digest, out)

        device_ftp = DeviceFtp(reactor, digests={NEW: digest}, retries=20, retry_delay=0.5)
        early = self.fleet(FIRST, COUNT - LATE, device_ftp)
        early.start()
        self.addCleanup(early.stop)
        yield early.all_online()

        code, out = yield kandianctl(self.ctl_config, "upgrade", "start", "--firmware", "1", "--batch", "10",
                                     "--max-failures", "10")
        self.assertEqual((code, out), (0, "campaign 1 started: firmware 1 to 50 devices, 10 at a time,"
                                          " pausing past 10 failures\n"))

        # the daemon sees the campaign at its next round and sends batches; stop it mid-way
        yield until(lambda: self.targets().addCallback(
            lambda t: sum(s == "done" for s, _ in t.values()) >= 10
            and any(s in ("sent", "downloaded") for s, _ in t.values())), "a first part done, some in flight")
        yield self.stop_daemon()
        before = yield self.targets()
        self.assertTrue(any(s == "pending" for s, _ in before.values()), before)
        yield task.deferLater(reactor, 0.5, lambda: None)  # cameras find the daemon gone, reconnect in vain
        yield self.start_daemon()
        late = self.fleet(FIRST + COUNT - LATE, LATE, device_ftp)
        late.start()
        self.addCleanup(late.stop)

        finished = yield until(lambda: self.db.runQuery(
            "SELECT state FROM upgrade_campaign WHERE campaign_id = 1").addCallback(
            lambda rows: rows[0][0] == "finished"), "the campaign finished", seconds=240)
        self.assertTrue(finished)
        after = yield self.targets()
        for dev_id in self.ids:
            if dev_id in FAILING:
                continue
            self.assertEqual(after[dev_id], ("done", ""), dev_id)
        self.assertEqual(after["81100000021"], ("failed", "UPGRADE_RES Result 1"))
        for dev_id in ("81100000007", "81100000013"):
            state, reason = after[dev_id]
            self.assertEqual(state, "failed")
            self.assertTrue(reason.startswith("EXCEPTION 11: image of 1048576 bytes failed its check"), reason)
        self.assertEqual(after["81100000034"], ("failed", "no login with the new firmware within %d s" % TIMEOUT))
        # what the cameras run, and that none was upgraded twice
        members = {m.state.dev_id: m.state for m in early.members + late.members}
        for dev_id, state in members.items():
            self.assertEqual(state.dev_ver, OLD if dev_id in FAILING else NEW, dev_id)
        self.assertEqual(device_ftp.counters["upgrades"], COUNT - len(FAILING))
        rows = yield self.db.runQuery("SELECT count(*) FROM device WHERE dev_ver = %s", (NEW,))
        self.assertEqual(rows[0][0], COUNT - len(FAILING))

        code, out = yield kandianctl(self.ctl_config, "upgrade", "status", "1")
        self.assertEqual(code, 0, out)
        self.assertEqual(out.splitlines()[1], "pending 0, sent 0, downloaded 0, done %d, failed %d"
                         % (COUNT - len(FAILING), len(FAILING)))

        # the operator asks a camera for its logs: the daemon sends LOG_UPLOAD_REQ, the camera uploads
        code, out = yield kandianctl(self.ctl_config, "device", "logs", "81100000001", "--wait", "60")
        self.assertEqual(code, 0, out)
        lines = out.splitlines()
        self.assertEqual(lines[0], "log request 1: sent; a log arrived")
        name, size = lines[2].split()[:2]
        path = os.path.join(self.files, "logs", "81100000001", name)
        self.assertEqual(lines[2].split()[-1], path)
        with open(path, "rb") as f:
            self.assertIn(b"DevVer " + NEW.encode(), f.read())
        self.assertEqual(os.path.getsize(path), int(size))
