"""kandian.media.process: a supervised child, with real child processes (``/bin/sh``) spawned by the
reactor and the supervisor's timers (backoff, SIGKILL grace) on a ``task.Clock``."""

import os
import sys

from twisted.internet import defer, reactor, task
from twisted.python.failure import Failure
from twisted.trial import unittest

from kandian.media.process import Exit, ProcessStats, Supervisor, redact

from .camera import alive

SH = "/bin/sh"


class Runs:
    """A command that counts its builds, and a Deferred per end of a run (what ``retry`` was asked)."""

    def __init__(self, script, again=True):
        self.script = script
        self.again = again
        self.built = 0
        self.whys = []
        self._waiting = []

    def command(self):
        self.built += 1
        return [SH, "-c", self.script]

    def retry(self, why):
        self.whys.append(why)
        waiting, self._waiting = self._waiting, []
        for d in waiting:  # after the supervisor has acted on the answer
            reactor.callLater(0, d.callback, [why])
        return self.again if not callable(self.again) else self.again(why)

    def next_end(self):
        d = defer.Deferred()
        self._waiting.append(d)
        return d.addTimeout(20, reactor).addCallback(lambda box: box if isinstance(box[0], Failure) else box[0])


class SupervisorTests(unittest.TestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.stats = ProcessStats()

    def supervisor(self, runs, **kw):
        s = Supervisor("test", runs.command, reactor, clock=self.clock, retry=runs.retry, stats=self.stats, **kw)
        self.addCleanup(self.stopped, s)
        return s

    @defer.inlineCallbacks
    def stopped(self, s):
        d = s.stop()
        self.clock.advance(s.grace)
        yield d
        self.assertFalse(self.clock.getDelayedCalls())

    @defer.inlineCallbacks
    def test_a_crash_is_counted_and_restarted_with_a_doubling_backoff(self):
        runs = Runs("echo hello; echo oops >&2; exit 3")
        s = self.supervisor(runs, first_delay=1, max_delay=4)
        ended = runs.next_end()
        s.start()
        why = yield ended
        self.assertEqual((why.code, why.signal), (3, None))
        self.assertEqual((s.state, s.crashes, self.stats.crashes, runs.built), ("waiting", 1, 1, 1))
        self.assertEqual(list(s.tail), ["hello", "oops"])
        delays = []
        for _ in range(4):
            [call] = self.clock.getDelayedCalls()
            delays.append(call.getTime() - self.clock.seconds())
            ended = runs.next_end()
            self.clock.advance(delays[-1])
            yield ended
        self.assertEqual(delays, [1, 2, 4, 4])
        self.assertEqual((runs.built, self.stats.started, self.stats.crashes), (5, 5, 5))

    @defer.inlineCallbacks
    def test_a_stable_run_resets_the_backoff(self):
        runs = Runs("exit 1")
        s = self.supervisor(runs, first_delay=1, max_delay=60, stable=30)
        ended = runs.next_end()
        s.start()
        yield ended
        ended = runs.next_end()
        self.clock.advance(1)
        yield ended
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime() - self.clock.seconds(), 2)
        # the next run lasts 30 s on the clock (it ends when told): back to 1 s
        runs.script = "exec sleep 60"
        self.clock.advance(2)
        self.assertEqual(s.state, "running")
        self.clock.advance(30)
        ended = runs.next_end()
        os.kill(s.pid, 9)
        why = yield ended
        self.assertEqual(why.signal, 9)
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime() - self.clock.seconds(), 1)

    @defer.inlineCallbacks
    def test_retry_says_no_and_it_ends(self):
        runs = Runs("exit 0", again=False)
        ended = []
        s = self.supervisor(runs, on_ended=ended.append)
        done = runs.next_end()
        s.start()
        yield done
        self.assertEqual(s.state, "ended")
        self.assertEqual(ended, [s.ended_because])
        self.assertIsInstance(ended[0], Exit)
        self.assertFalse(self.clock.getDelayedCalls())
        # start() again begins anew
        done = runs.next_end()
        s.start()
        yield done
        self.assertEqual(runs.built, 2)

    def test_a_command_that_cannot_be_built_is_retried_like_a_crash(self):
        attempts = []

        def command():
            attempts.append(1)
            if len(attempts) == 1:
                return defer.fail(LookupError("camera offline"))
            return [SH, "-c", "exec sleep 30"]

        whys = []
        s = Supervisor("test", command, reactor, clock=self.clock, retry=lambda why: whys.append(why) or True,
                       stats=self.stats)
        self.addCleanup(self.stopped, s)
        s.start()
        self.assertEqual((s.state, self.stats.failed_starts), ("waiting", 1))
        self.assertTrue(whys[0].check(LookupError))
        self.clock.advance(1)
        self.assertEqual(s.state, "running")
        self.assertTrue(alive(s.pid))

    @defer.inlineCallbacks
    def test_a_missing_program_is_a_failed_start(self):
        runs = Runs("")
        runs.command = lambda: ["/nonexistent/ffmpeg"]
        s = self.supervisor(runs, pdeathsig=False)
        ended = runs.next_end()
        s.start()
        [why] = yield ended
        self.assertIsInstance(why.value, FileNotFoundError)
        self.assertEqual((s.state, self.stats.failed_starts), ("waiting", 1))

    @defer.inlineCallbacks
    def test_stop_terminates_and_leaves_nothing(self):
        runs = Runs("exec sleep 30")
        s = self.supervisor(runs)
        s.start()
        pid = s.pid
        self.assertTrue(alive(pid))
        d = s.stop()
        yield d
        self.assertFalse(alive(pid))
        self.assertEqual((s.state, s.crashes, self.stats.killed), ("stopped", 0, 0))
        self.assertEqual(s.last_exit.signal, 15)
        self.assertFalse(self.clock.getDelayedCalls())

    @defer.inlineCallbacks
    def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(self):
        runs = Runs("trap '' TERM; echo ready; exec sleep 30")
        lines = []
        ready = defer.Deferred()
        s = self.supervisor(runs, grace=5, on_output=lambda fd, text: (lines.append(text), ready.called
                                                                        or ready.callback(None)))
        s.start()
        yield ready.addTimeout(20, reactor)
        pid = s.pid
        d = s.stop()
        self.assertFalse(d.called)
        self.clock.advance(4.9)
        self.assertTrue(alive(pid))
        self.clock.advance(0.1)
        yield d
        self.assertFalse(alive(pid))
        self.assertEqual((self.stats.killed, s.last_exit.signal), (1, 9))

    @defer.inlineCallbacks
    def test_stop_during_the_backoff_cancels_the_restart(self):
        runs = Runs("exit 2")
        s = self.supervisor(runs)
        ended = runs.next_end()
        s.start()
        yield ended
        yield s.stop()
        self.assertEqual(s.state, "stopped")
        self.assertFalse(self.clock.getDelayedCalls())
        self.assertEqual(runs.built, 1)

    @defer.inlineCallbacks
    def test_output_is_rate_limited_and_secrets_blanked(self):
        runs = Runs("i=0; while [ $i -lt 20 ]; do echo line $i hashtoken=abc123; i=$((i+1)); done; exit 1")
        s = self.supervisor(runs, burst=5, log_interval=60, tail=8)
        ended = runs.next_end()
        s.start()
        yield ended
        self.assertEqual(self.stats.lines_dropped, 15)
        self.assertEqual(len(s.tail), 8)
        self.assertEqual(s.tail[-1], "line 19 hashtoken=…")

    @defer.inlineCallbacks
    def test_a_long_line_without_end_is_cut(self):
        runs = Runs("head -c 100000 /dev/zero | tr '\\0' x; exit 1")
        s = self.supervisor(runs)
        ended = runs.next_end()
        s.start()
        yield ended
        self.assertTrue(all(len(line) <= 500 for line in s.tail))
        self.assertGreater(len(s.tail), 1)

    @defer.inlineCallbacks
    def test_the_child_dies_with_the_daemon(self):
        """With setpriv, a child gets SIGKILL when its parent dies: a daemon killed -9 leaves no ffmpeg."""
        helper = (
            "import sys; from twisted.internet import reactor; from kandian.media.process import Supervisor;"
            "s = Supervisor('t', lambda: ['/bin/sh', '-c', 'exec sleep 60'], reactor);"
            "reactor.callWhenRunning(s.start);"
            "reactor.callLater(0.5, lambda: (print(s.pid, flush=True)));"
            "reactor.run()")
        from tests import procs
        child = procs.spawn([sys.executable, "-c", helper])
        self.addCleanup(procs.kill, child)
        yield child.wait_for(b"\n", 20)
        pid = int(child.output.split()[0])
        self.assertTrue(alive(pid))
        child.transport.signalProcess("KILL")
        yield child.ended
        for _ in range(100):
            if not alive(pid):
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.assertFalse(alive(pid), "the grandchild outlived its daemon")


class RedactTests(unittest.TestCase):
    def test_tokens_signatures_and_url_passwords(self):
        self.assertEqual(
            redact("rtsp://127.0.0.1:8554/realplay?devid=1&channelno=0&streamtype=1&hashtoken=0123abcd: 401"),
            "rtsp://127.0.0.1:8554/realplay?devid=1&channelno=0&streamtype=1&hashtoken=…: 401")
        self.assertEqual(redact("GET /live/a/index.m3u8?exp=1&sig=AbC_-"), "GET /live/a/index.m3u8?exp=1&sig=…")
        self.assertEqual(redact("rtsp://admin:pa55@10.0.0.9/stream"), "rtsp://…@10.0.0.9/stream")
        self.assertEqual(redact("frame=  25 fps=0.0"), "frame=  25 fps=0.0")
