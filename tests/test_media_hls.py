"""kandian.media.hls without a camera: what a packager does when its source cannot be had, the cap on
packagers, the idle stop (a task.Clock drives the sweep; the children are real ``/bin/sh`` scripts
standing in for ffmpeg, writing a playlist as it would)."""

import os

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from kandian.core import errors as e
from kandian.media.hls import FIRST_LOOK, SWEEP, Key, LiveHls, StreamEnded

KEY = Key("81100000001", 0, 1)


class Media:
    """core.media's source_url, answering or failing as told; the router's online."""

    def __init__(self):
        self.error = None
        self.online = {"81100000001", "81100000002"}
        self.router = self

    def source_url(self, dev_id, channel_no, stream_type):
        if self.error is not None:
            return defer.fail(self.error)
        return defer.succeed("rtsp://127.0.0.1:1/realplay?devid=%s&hashtoken=x" % dev_id)


class FakeFfmpeg(LiveHls):
    """The packager's command replaced by a shell that writes a playlist with one segment and waits."""

    def _command(self, packager):
        d = self.media.source_url(*packager.key)

        def command(url):
            playlist = os.path.join(packager.directory, "index.m3u8")
            # as ffmpeg does: the segment is there before the playlist that lists it
            return ["/bin/sh", "-c", "echo x > %s/seg1.ts; printf '#EXTM3U\\n#EXTINF:1.0,\\nseg1.ts\\n' > %s.tmp"
                    " && mv %s.tmp %s; exec sleep 60" % (packager.directory, playlist, playlist, playlist)]
        return d.addCallback(command)


class Silent(FakeFfmpeg):
    """Like FakeFfmpeg, but the cameras in ``silent`` never send: their ffmpeg writes nothing."""

    silent: set = set()

    def _command(self, packager):
        if packager.key.dev_id not in self.silent:
            return super()._command(packager)
        return defer.succeed(["/bin/sh", "-c", "exec sleep 60"])


class LiveHlsTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.media = Media()
        self.root = os.path.abspath(self.mktemp())
        self.live = FakeFfmpeg(self.media, reactor, self.clock, root=self.root, idle_timeout=30, max_streams=1,
                               online=lambda dev_id: dev_id in self.media.online)
        self.live.start()
        self.addCleanup(self.live.stop)

    @defer.inlineCallbacks
    def ready(self, d):
        """Turn the sweep until *d* fires (the child writes its playlist on the real reactor)."""
        for _ in range(500):
            if d.called:
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
            self.clock.advance(0.2)
        result = yield d
        return result

    def test_an_offline_device_ends_at_once(self):
        self.media.error = e.DeviceOffline("offline")
        failure = self.failureResultOf(self.live.watch(KEY), StreamEnded)
        self.assertEqual(failure.value.state, "offline")
        self.assertEqual(self.live.status(KEY)["state"], "offline")
        # asked again within 5 s: the same answer, nothing started
        self.failureResultOf(self.live.watch(KEY), StreamEnded)
        self.assertEqual(self.live.stats.started, 1)
        self.clock.advance(5)
        self.media.error = e.StreamClosed("closed")
        self.assertEqual(self.failureResultOf(self.live.watch(KEY), StreamEnded).value.state, "closed")
        self.assertEqual(self.live.stats.ended, {"offline": 1, "closed": 1})

    @defer.inlineCallbacks
    def test_a_playlist_then_idle_stop_and_the_cap(self):
        packager = yield self.ready(self.live.watch(KEY))
        self.assertEqual(packager.state, "live")
        self.assertTrue(os.path.exists(os.path.join(packager.directory, "seg1.ts")))
        self.assertEqual(self.live.segment(packager, "seg1.ts"), os.path.join(packager.directory, "seg1.ts"))
        other = self.failureResultOf(self.live.watch(Key("81100000002", 0, 1)), StreamEnded)
        self.assertEqual(other.value.state, "busy")
        pid = packager.supervisor.pid
        self.clock.advance(29)
        self.assertIsNotNone(self.live.seen(KEY))  # a segment request: still watched
        self.clock.advance(29.9)
        self.assertEqual(self.live.running, 1)
        self.clock.advance(0.2)
        self.assertEqual((self.live.running, self.live.stats.idle_stopped), (0, 1))
        for _ in range(500):
            if not os.path.exists(packager.directory):
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
        self.assertFalse(os.path.exists(packager.directory))
        self.assertFalse(os.path.exists("/proc/%d/cmdline" % pid) and open("/proc/%d/stat" % pid).read().split(
            ")")[-1].split()[0] != "Z")

    @defer.inlineCallbacks
    def test_the_first_playlist_is_seen_within_a_first_look(self):
        """A starting packager's playlist is looked for every FIRST_LOOK s (not only at the SWEEP), and the
        look stops once nothing is starting."""
        self.assertLess(FIRST_LOOK, SWEEP)
        d = self.live.watch(KEY)
        [packager] = self.live.packagers.values()
        for _ in range(500):  # the child writes its playlist on the real reactor; the clock stands still
            if os.path.exists(packager.playlist):
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
        self.assertFalse(d.called)
        self.clock.advance(FIRST_LOOK)
        self.assertEqual(self.successResultOf(d).state, "live")
        self.assertEqual(self.live.stats.first_segment_seconds, [FIRST_LOOK])
        self.assertFalse(self.live._look.running)

    @defer.inlineCallbacks
    def test_packagers_start_in_turn(self):
        """At most max_starting packagers start at once; the next starts when one is live, or has had its
        start_timeout; a packager stopped while it waited never starts."""
        yield self.live.stop()
        live = Silent(self.media, reactor, self.clock, root=self.root, idle_timeout=30, max_streams=10,
                      max_starting=1, start_timeout=20, online=lambda dev_id: True)
        live.silent = {"81100000003"}
        live.start()
        self.addCleanup(live.stop)
        keys = [Key("8110000000%d" % n, 0, 1) for n in (1, 2, 3, 4, 5)]
        first = live.watch(keys[0])
        second = live.watch(keys[1])
        supervisors = [p.supervisor for p in live.packagers.values()]
        self.assertEqual([s.state for s in supervisors], ["running", "idle"])
        self.assertEqual(live.stats.start_waits, 1)
        yield self.ready(first)
        # the first is live: the second starts, and is live in turn
        self.assertNotEqual(supervisors[1].state, "idle")
        yield self.ready(second)
        silent, fourth, fifth = (live.watch(k) for k in keys[2:])
        silent.addErrback(lambda f: f.trap(StreamEnded))
        fifth.addErrback(lambda f: f.trap(StreamEnded))
        states = lambda: [live.packagers[k].supervisor.state for k in keys[2:4]]  # noqa: E731
        self.assertEqual(states(), ["running", "idle"])
        self.assertEqual(live.packagers[keys[4]].supervisor.state, "idle")
        yield live._stop(live.packagers[keys[4]], "idle", "the viewer left")  # stopped while waiting
        self.clock.advance(19.9)
        live.seen(keys[3])
        self.assertEqual(states(), ["running", "idle"])  # the silent camera holds the slot…
        self.clock.advance(0.1)
        self.assertEqual(live.packagers[keys[3]].supervisor.state, "running")  # …for start_timeout at most
        self.assertNotIn(keys[4], live.packagers)
        self.assertEqual(self.failureResultOf(fourth, StreamEnded).value.state, "starting")  # its request's bound
        packager = yield self.ready(live.watch(keys[3]))  # the player asks again
        self.assertEqual(packager.state, "live")
        self.assertEqual(live.stats.process.started, 4)

    @defer.inlineCallbacks
    def test_a_device_going_offline_stops_its_packager(self):
        yield self.ready(self.live.watch(KEY))
        self.media.online.clear()
        self.clock.advance(0.2)
        self.assertEqual(self.live.status(KEY), {"state": "offline", "message": "the device went offline"})
        self.assertEqual(self.live.running, 0)
