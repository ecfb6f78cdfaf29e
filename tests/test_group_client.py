"""The province's client of the group platform against an HTTP server on loopback that
answers what each test makes it answer: every Result of each §6 table mapped, and every
way a group platform can fail to answer (refused, silent, oversize, garbage, wrong status)."""

from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.trial import unittest
from twisted.web import resource, server

from kandian.core import errors
from kandian.group import messages as m
from kandian.group.client import MAX_ANSWER, GroupClient

A, CAM = "13800000001", "81100000001"


class Scripted(resource.Resource):
    """Answers each POST with the next (status, body); keeps what it was sent.
    A body of None never answers (the request hangs until the client gives up)."""

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.answers: list[tuple[int, bytes | None]] = []
        self.received: list[tuple[bytes, bytes]] = []
        self.hanging: list = []

    def render_POST(self, request):
        self.received.append((request.getHeader(b"content-type"), request.content.read()))
        code, body = self.answers.pop(0)
        if body is None:
            self.hanging.append(request)
            return server.NOT_DONE_YET
        request.setResponseCode(code)
        return body


class ClientTests(unittest.TestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.server = Scripted()
        site = server.Site(self.server)
        self.port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(site)
        self.addCleanup(self.port.stopListening)
        self.clock = task.Clock()
        self.client = GroupClient(reactor, "http://127.0.0.1:%d/cms" % self.port.getHost().port,
                                  province_no="3100", cms_no="01", cms_password="s3cret", timeout=10,
                                  clock=self.clock)

    def answer(self, body: bytes, code: int = 200):
        self.server.answers.append((code, body))

    @defer.inlineCallbacks
    def test_what_is_sent(self):
        self.answer(m.UserOpenResponse(Result=0).to_xml())
        yield self.client.user_open(A, 4)
        ((content_type, body),) = self.server.received
        self.assertEqual(content_type, b"text/xml;charset=UTF-8")
        self.assertEqual(m.decode(body, [m.UserOpenRequest]),
                         m.UserOpenRequest(ProvinceNo="3100", CmsNo="01", CmsPassword="s3cret", MobileTel=A,
                                           IpcamNum=4))

    @defer.inlineCallbacks
    def test_device_use_results(self):
        for result, expected in ((1, errors.GroupUnavailable), (2, errors.GroupUnavailable),
                                 (3, errors.UnknownToGroup), (4, errors.WrongDevKey),
                                 (255, errors.GroupUnavailable), (9, errors.GroupUnavailable)):
            self.answer(m.DeviceUseResponse(Result=result).to_xml())
            error = yield self.assertFailure(self.client.device_usage(CAM, "k"), expected)
            if expected is not errors.WrongDevKey:
                self.assertEqual(error.result, result)
        self.answer(m.DeviceUseResponse(Result=0).to_xml())
        yield self.client.device_usage(CAM, "k")

    @defer.inlineCallbacks
    def test_user_results(self):
        for call, response in ((lambda: self.client.user_open(A, 1), m.UserOpenResponse),
                               (lambda: self.client.user_change(A, 1), m.UserChangeResponse),
                               (lambda: self.client.user_cancel(A), m.UserCancelResponse)):
            for result in (1, 2, 255):
                self.answer(response(Result=result).to_xml())
                error = yield self.assertFailure(call(), errors.GroupUnavailable)
                self.assertEqual(error.result, result)
            self.answer(response(Result=3).to_xml())
            # §6.2 has no 3: other error; §6.3/§6.4's 3 is "no such user"
            yield self.assertFailure(call(), errors.GroupUnavailable if response is m.UserOpenResponse
                                     else errors.NoSuchAccount)
            self.answer(response(Result=0).to_xml())
            yield call()

    @defer.inlineCallbacks
    def test_address_report_answer(self):
        self.answer(m.AddressReportResponse(Result=0, McuAndroidUrl="http://d/a.apk", McuAndroidVer="A-2.0",
                                           McuIosUrl="http://d/i").to_xml())
        releases = yield self.client.address_report("http://p/mcu", "http://p/register")
        self.assertEqual((releases.android.version, releases.android.url, releases.ios, releases.windows),
                         ("A-2.0", "http://d/a.apk", None, None))  # iOS without a version: none
        self.answer(m.AddressReportResponse(Result=2).to_xml())
        error = yield self.assertFailure(self.client.address_report("http://p/mcu", "http://p/r"),
                                         errors.GroupUnavailable)
        self.assertEqual(error.result, 2)
        self.assertIn("cms_password", str(error))

    @defer.inlineCallbacks
    def test_answers_that_are_not_answers(self):
        for code, body, fragment in (
            (200, b"<html>hello</html>", "not a USER_CANCEL_RES"),
            (200, m.UserOpenResponse(Result=0).to_xml(), "not a USER_CANCEL_RES"),  # another message's answer
            (200, b"", "not a USER_CANCEL_RES"),
            (500, b"oops", "HTTP 500"),
            (200, b"<USER_CANCEL_RES>" + b" " * MAX_ANSWER + b"</USER_CANCEL_RES>", "over"),
        ):
            self.answer(body, code)
            error = yield self.assertFailure(self.client.user_cancel(A), errors.GroupUnavailable)
            self.assertIn(fragment, str(error))
            self.assertIsNone(error.result)
            self.assertNotIn("s3cret", str(error))
        self.assertEqual(self.client.stats.exchanges[("USER_CANCEL_REQ", "unavailable")], 5)

    @defer.inlineCallbacks
    def test_no_answer_in_time(self):
        self.answer(None)
        d = self.client.user_open(A, 1)
        while not self.server.hanging:
            yield task.deferLater(reactor, 0.01, lambda: None)
        self.clock.advance(10)
        error = yield self.assertFailure(d, errors.GroupUnavailable)
        self.assertIn("no answer within 10 s", str(error))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def test_nobody_listening(self):
        yield self.port.stopListening()
        error = yield self.assertFailure(self.client.user_open(A, 1), errors.GroupUnavailable)
        self.assertIn("refused", str(error).lower())
