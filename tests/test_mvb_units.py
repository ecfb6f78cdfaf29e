"""spec/000's one table of codes (kandian.mvb.results) as the resource answers it, without a platform."""

from __future__ import annotations

import io

from twisted.internet import defer
from twisted.trial import unittest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from kandian.core import errors as e
from kandian.mvb import codec, results
from kandian.mvb.api import MvbResource

CASES = [
    (e.BadValue("x"), 2), (e.WrongPassword("x"), 2), (e.NoSuchAccount("x"), 2),
    (e.TooManyFailures("x", 10), 100003), (e.NoSuchDevice("x"), 4), (e.NotBound("x"), 4), (e.NoSuchChannel("x"), 4),
    (e.DeviceOffline("x"), 3), (e.NoRoute("x"), 3), (e.DeviceRefused("x", 1), 5), (e.StreamClosed("x"), 5),
    (e.TooManyStreams("x"), 100003), (e.DatabaseUnavailable("x"), 100003), (e.NoSuchPlaySession("x"), 7),
    (e.WrongPlayState("x"), 8), (e.NoRecording("x"), 100015), (RuntimeError("a bug"), 1),
]


class Handlers:
    def __init__(self):
        self.error = None
        self.actions = {name: self.fail for name in results.SUCCESS}

    def fail(self, fields, source):
        return defer.fail(self.error)


class TableTests(unittest.TestCase):
    def test_each_domain_error_has_its_code_and_the_files_description(self):
        handlers = Handlers()
        api = MvbResource(handlers)
        for error, code in CASES:
            handlers.error = error
            request = DummyRequest([b"pauseplay"])
            request.method, request.path, request._disconnected = b"POST", b"/mobileservice/pauseplay", False
            request.content = io.BytesIO(codec.encode_request([("RequestID", "5"), ("session", "9")], "GB2312"))
            self.assertEqual(api.render(request), NOT_DONE_YET)
            self.assertTrue(request.finished)
            encoding, answer = codec.decode_response(b"".join(request.written))
            self.assertEqual((encoding, answer.request_id, answer.status, answer.description, answer.session),
                             ("GB2312", "5", code, results.DESCRIPTIONS[code], "9"), error)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(sum(api.stats.answers.values()), len(CASES))

    def test_every_code_of_the_file_has_its_description(self):
        self.assertEqual(set(results.DESCRIPTIONS), {1, 2, 3, 4, 5, 6, 7, 8, 100001, 100002, 100003, 100015})
        self.assertEqual(set(results.SUCCESS), {"play", "stopplay", "changespeed", "changeplayposition",
                                                "pauseplay", "resumeplay", "queryrecordfile"})
