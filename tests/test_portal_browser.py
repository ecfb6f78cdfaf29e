"""The portal in a real browser: headless Chromium (Debian's, installed by ``make system-deps``) driven by
Playwright against the running platform, with simulated cameras.  Each journey ends with a screenshot of
its last page, saved under the test's temporary directory (``_trial_temp/…/journey.png``).

Playwright's sync API runs a whole journey in one thread of the reactor's pool while the reactor serves
the portal; what a journey needs done on the reactor (a camera's alarm, the clock moving on) goes through
``blockingCallFromThread``.
"""

import hashlib
import os
import shutil

from twisted.internet import defer, reactor, threads
from twisted.internet.threads import blockingCallFromThread

from kandian.sim.fleet import Fleet
from kandian.sim.ftp import DeviceFtp, FtpServer

from .portal_helpers import PASSWORD, PortalTestCase
from .test_device_integration import eventually

A, B = "13800000001", "13800000002"
CAM, CAM2 = "81100000001", "81200000002"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


class BrowserTestCase(PortalTestCase):
    timeout = 120
    # cameras download firmware and upload pictures over the platform's FTP server, all from 127.0.0.1
    settings = {"ftp": "passive_ports =\nmax_connections_per_address = 0\n"}

    @defer.inlineCallbacks
    def setUp(self):
        if not os.path.exists(CHROMIUM):
            raise AssertionError("chromium is not installed: run `make system-deps`")
        yield super().setUp()
        self.shots = os.path.abspath(self.mktemp())
        os.makedirs(self.shots)

    def journey(self, steps, viewport=DESKTOP):
        """Run *steps(page)* in a fresh browser in one thread; screenshot the last page whatever happens."""
        base = "http://127.0.0.1:%d" % self.port("portal")

        def run():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                try:
                    page = browser.new_page(viewport=viewport, locale="zh-CN")
                    page.set_default_timeout(15_000)
                    errors = []
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    try:
                        page.goto(base + "/")
                        steps(page)
                    finally:
                        page.screenshot(path=os.path.join(self.shots, "journey.png"), full_page=True)
                    assert not errors, errors
                finally:
                    browser.close()
        return threads.deferToThread(run)

    def on_reactor(self, f, *args):
        return blockingCallFromThread(reactor, f, *args)

    def log_in(self, page, account, password=PASSWORD):
        page.wait_for_selector("#login")
        page.fill("input[name=account]", account)
        page.fill("input[name=password]", password)
        page.click("#login button[type=submit]")

    def assertShot(self):
        path = os.path.join(self.shots, "journey.png")
        self.assertTrue(os.path.getsize(path) > 1000, path)


class OperatorJourneys(BrowserTestCase):
    @defer.inlineCallbacks
    def test_operator_logs_in_and_finds_an_offline_device(self):
        yield self.core.operators.add("ops", PASSWORD)
        yield self.camera(CAM)
        yield self.camera(CAM2, online=False)
        yield self.core.accounts.add(A, PASSWORD)
        yield self.bind(A, CAM2)

        def steps(page):
            self.log_in(page, "ops")
            page.wait_for_selector("#devices tr[data-devid='%s']" % CAM)
            assert page.locator("#devices tbody tr").count() == 2
            page.select_option("select[name=online]", "false")
            page.click("form.inline button[type=submit]")
            page.wait_for_selector("#devices tr[data-devid='%s']" % CAM2)
            page.wait_for_selector("#devices tr[data-devid='%s']" % CAM, state="detached")
            assert page.locator("#devices tbody tr").count() == 1
            page.click("#devices tr[data-devid='%s']" % CAM2)
            page.wait_for_selector("#live")
            assert "离线" in page.inner_text("#live")
            assert A in page.inner_text("main")
        yield self.journey(steps)
        self.assertShot()

    @defer.inlineCallbacks
    def test_operator_looks_at_statistics_and_suspends_a_user(self):
        yield self.core.operators.add("ops", PASSWORD)
        yield self.core.accounts.add(A, PASSWORD)
        job = self.service.platform.stats_job
        for n, dev_id in enumerate((CAM, CAM2)):
            link = yield self.camera(dev_id, owner=A if n == 0 else None)
            yield link.send_alarm(0, 1)
            self.clock.advance(self.service.config.portal.stats_interval)
            yield eventually(lambda n=n: job.recorded >= n + 2, "a sample")

        def steps(page):
            self.log_in(page, "ops")
            page.wait_for_selector("#devices")
            page.click("nav a[href='#/users']")
            page.wait_for_selector("#users")
            page.click("#users button:has-text('暂停')")
            page.wait_for_selector("#users td:has-text('已暂停')")
            page.click("nav a[href='#/stats']")
            page.wait_for_selector("svg.chart circle")
            assert page.inner_text("#stat-online") == "2"
            assert page.locator("svg.chart rect").count() >= 2
        yield self.journey(steps)
        rows = yield self.db.runQuery("SELECT status FROM app_user WHERE mobile = %s", (A,))
        self.assertEqual(rows, [("suspended",)])
        self.assertShot()


class UpgradeJourney(BrowserTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        # the files root outlives a test, the catalogue's ids do not
        shutil.rmtree(os.path.join(self.service.config.files_root, "firmware"), ignore_errors=True)

    @defer.inlineCallbacks
    def test_operator_finds_an_offline_device_and_upgrades_two_cameras(self):
        """Two simulated cameras (the shipped fleet, FTP behaviour on) really download the image the operator
        uploaded through the page over the platform's FTP server, check its sha256, reboot and log in again
        with the new DevVer; the campaign's page shows each of them done, then the campaign finished."""
        old, new, model = "V1.5_20131210", "V1.6_20990101", "SIM-IPC"
        yield self.core.operators.add("ops", PASSWORD)
        cams = [str(int(CAM) + n) for n in range(2)]
        offline = "81100000009"
        for dev_id in cams + [offline]:
            yield self.core.devices.store.devices.add(dev_id, "key-" + dev_id, model=model)
        image = os.urandom(3 << 20)
        path = os.path.join(self.shots, "ipc-1.6.bin")
        with open(path, "wb") as f:
            f.write(image)
        device_ftp = DeviceFtp(reactor, digests={new: hashlib.sha256(image).hexdigest()}, retries=5,
                               retry_delay=0.2)
        fleet = Fleet(reactor, count=2, first_devid=CAM, key_pattern="key-{devid}",
                      link=("127.0.0.1", self.port("device")), model=model, dev_ver=old, heartbeat=3600,
                      reconnect_delay=0.2, connect_rate=100, status_every=None, ftp=device_ftp)
        fleet.start()
        self.addCleanup(fleet.stop)
        yield fleet.all_online()
        for dev_id in cams:
            yield eventually(lambda d=dev_id: self.online(d), "online")
        poll = self.service.config.firmware.poll_interval

        def steps(page):
            self.log_in(page, "ops")
            # the offline one
            page.select_option("select[name=online]", "false")
            page.click("form.inline button[type=submit]")
            page.wait_for_selector("#devices tr[data-devid='%s']" % offline)
            page.wait_for_selector("#devices tr[data-devid='%s']" % cams[0], state="detached")
            # the two cameras, chosen on the list of all devices
            page.select_option("select[name=online]", "")
            page.click("form.inline button[type=submit]")
            for dev_id in cams:
                page.check("#devices tr[data-devid='%s'] input[name=choose]" % dev_id)
            page.click("#upgrade-chosen")
            page.wait_for_selector("#firmware-form")
            page.fill("#firmware-form input[name=manufacturer]", "811")
            page.fill("#firmware-form input[name=model]", model)
            page.fill("#firmware-form input[name=version]", new)
            page.set_input_files("#firmware-form input[name=file]", path)
            page.click("#firmware-form button[type=submit]")
            page.wait_for_selector("#firmware td:has-text('%s')" % new)
            assert page.input_value("#campaign-form textarea[name=devices]") == ",".join(cams)
            page.click("#campaign-form button[type=submit]")
            page.wait_for_selector("#campaign-state[data-state=running]")
            page.click("#campaign-pause")
            page.wait_for_selector("#campaign-state[data-state=paused]")
            page.click("#campaign-resume")
            page.wait_for_selector("#campaign-state[data-state=running]")
            self.on_reactor(self.clock.advance, poll)  # the daemon's round: UPGRADE_REQ to both
            for dev_id in cams:
                page.wait_for_selector("#targets tr[data-devid='%s'][data-state=done]" % dev_id, timeout=60_000)
            assert page.locator("#targets td.state.done").count() == 2
            self.on_reactor(self.clock.advance, poll)  # the next round closes the campaign
            page.wait_for_selector("#campaign-state[data-state=finished]")
        yield self.journey(steps)
        self.assertEqual(device_ftp.counters["upgrades"], 2)
        self.assertEqual(sorted(m.state.dev_ver for m in fleet.members), [new, new])
        rows = yield self.db.runQuery("SELECT dev_id, state, downloaded_at IS NOT NULL FROM upgrade_target"
                                      " ORDER BY dev_id")
        self.assertEqual(rows, [(cams[0], "done", True), (cams[1], "done", True)])
        self.assertShot()


class UserJourneys(BrowserTestCase):
    @defer.inlineCallbacks
    def test_user_sees_an_alarm_sets_a_recording_policy_and_shares_a_camera(self):
        yield self.core.accounts.add(A, PASSWORD)
        yield self.core.accounts.add(B, PASSWORD)
        ftp = FtpServer("127.0.0.1", self.port("ftp"), CAM, self.core.keys.ftp_password(CAM))
        link = yield self.camera(CAM, owner=A, ftp_server=ftp)
        device_ftp = DeviceFtp(reactor)
        yield device_ftp.alarm(link, 0, 1, desc="motion")  # the alarm, then its picture over FTP
        yield eventually(lambda: device_ftp.counters["pictures"] == 1, "the picture linked")

        def steps(page):
            self.log_in(page, A)
            page.wait_for_selector("#cameras a[data-devid='%s']" % CAM)
            page.click("nav a[href='#/alarms']")
            page.wait_for_selector("#alarms [data-alarm]")
            assert "移动侦测" in page.inner_text("#alarms")
            page.wait_for_function("() => { const i = document.querySelector('#alarms img.alarm-picture');"
                                   " return i && i.complete && i.naturalWidth > 0; }")
            page.click("nav a[href='#/cameras']")
            page.click("#cameras a[data-devid='%s']" % CAM)
            page.wait_for_selector("#policy-form")
            page.check("#policy-form input[name=week][value='1']")
            page.check("#policy-form input[name=week][value='3']")
            page.fill("#policy-form input[name=StartTime]", "09:00")
            page.fill("#policy-form input[name=EndTime]", "12:30")
            page.click("#policy-form button[type=submit]")
            page.wait_for_selector("#policies td:has-text('周三')")
            held = self.on_reactor(lambda: [(p.Week, p.StartTime, p.EndTime) for p in link.state.record_policies(0)])
            assert held == [(1, "09:00", "12:30"), (3, "09:00", "12:30")], held
            # the same window again overlaps: refused, and said so
            page.click("#policy-form button[type=submit]")
            # the toast may still show an earlier message: wait for this refusal's text in it
            page.wait_for_function("() => { const t = document.querySelector('#toast.show');"
                                   " return t && /重叠|overlap/.test(t.innerText); }")
            page.fill("#share-form input[name=mobile]", B)
            page.click("#share-form button[type=submit]")
            page.wait_for_selector("#shares td:has-text('%s')" % B)
            page.wait_for_selector("#shares td:has-text('只读')")
        yield self.journey(steps, viewport=PHONE)
        rows = yield self.db.runQuery(
            "SELECT can_control FROM user_device JOIN app_user USING (user_id) WHERE mobile = %s", (B,))
        self.assertEqual(rows, [(False,)])
        self.assertShot()

    @defer.inlineCallbacks
    def test_a_wrong_password(self):
        yield self.core.accounts.add(A, PASSWORD)

        def steps(page):
            self.log_in(page, A, "not-the-password")
            page.wait_for_selector("#login-error:has-text('帐号或密码错误')")
            assert page.url.endswith("#/login")
        yield self.journey(steps, viewport=PHONE)
        self.assertShot()

    @defer.inlineCallbacks
    def test_an_expired_session_goes_back_to_the_login(self):
        yield self.core.accounts.add(A, PASSWORD)
        yield self.camera(CAM, owner=A)
        ttl = self.service.config.portal.token_ttl

        def steps(page):
            self.log_in(page, A)
            page.wait_for_selector("#cameras")
            self.on_reactor(self.clock.advance, ttl + 1)
            page.click("nav a[href='#/alarms']")
            page.wait_for_selector("#login")
            page.wait_for_selector("#login-error:has-text('登录已过期')")
        yield self.journey(steps, viewport=PHONE)
        self.assertShot()
