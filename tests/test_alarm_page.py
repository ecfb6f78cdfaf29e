"""The signed alarm page (kandian.portal.alarm_page): on the running service's portal listener, and
over a real HTTP listener with a picture."""

from __future__ import annotations

import hashlib
import os
import zoneinfo

from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.trial import unittest
from twisted.web import resource
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers

from kandian import web
from kandian.core.errors import DatabaseUnavailable
from kandian.core.keys import Keys
from kandian.core.notify import AlarmLinks
from kandian.portal.alarm_page import AlarmPages
from kandian.store.fake import FakeStore

from .test_register import NOW, ServiceTestCase

CAM = "81100000001"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"


@defer.inlineCallbacks
def get(url: str, headers=None):
    response = yield Agent(reactor).request(b"GET", url.encode("ascii"), Headers(headers or {}))
    body = yield readBody(response)
    return response, body


def header(response, name: str):
    values = response.headers.getRawHeaders(name.encode("ascii"))
    return values[0] if values else None


class ServicePageTests(ServiceTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        store = self.service.platform.store
        yield store.devices.add(CAM, "k1", channels=1)
        yield store.devices.rename_channel(CAM, 0, "<b>收银台</b>")
        self.alarm_id = yield store.alarms.add(CAM, 0, 2, "pir", None, "", NOW)
        self.links = self.service.platform.core.alarm_links

    @defer.inlineCallbacks
    def test_a_signed_link_shows_the_alarm_and_waits_for_its_picture(self):
        link = self.links.link(self.alarm_id)
        self.assertTrue(link.startswith("http://127.0.0.1:%d/alarm/%d?exp=" % (self.port("portal"), self.alarm_id)))
        response, body = yield get(link)
        self.assertEqual(response.code, 200, body)
        page = body.decode("utf-8")
        self.assertIn("&lt;b&gt;收银台&lt;/b&gt;", page)  # the alias a user typed is text, not markup
        self.assertNotIn("<b>", page)
        self.assertIn("人体红外报警", page)
        self.assertIn("2026-11-18 19:06:40", page)  # NOW in Asia/Shanghai
        self.assertIn("图片尚未收到 (picture not yet received)", page)
        self.assertIn('http-equiv="refresh"', page)
        self.assertEqual(header(response, "content-type"), b"text/html; charset=utf-8")
        self.assertEqual(header(response, "cache-control"), b"no-store")
        self.assertEqual(header(response, "referrer-policy"), b"no-referrer")
        self.assertIn(b"default-src 'none'", header(response, "content-security-policy"))
        picture = link.replace("/%d?" % self.alarm_id, "/%d/picture.jpg?" % self.alarm_id)
        response, _ = yield get(picture)
        self.assertEqual(response.code, 404)

    @defer.inlineCallbacks
    def test_refusals(self):
        link = self.links.link(self.alarm_id)
        base, query = link.split("?")
        exp, sig = [part.split("=", 1)[1] for part in query.split("&")]
        other = self.links.link(self.alarm_id + 1)  # a valid signature for an alarm that does not exist
        cases = [
            ("%s?exp=%s&sig=%s" % (base, exp, "A" + sig[1:] if sig[0] != "A" else "B" + sig[1:]), 403),
            ("%s?exp=%d&sig=%s" % (base, int(exp) + 1, sig), 403),
            ("%s?exp=%s" % (base, exp), 400),
            ("%s?exp=x&sig=%s" % (base, sig), 400),
            ("http://127.0.0.1:%d/alarm/0%d?%s" % (self.port("portal"), self.alarm_id, query), 400),
            ("%s?exp=%s&sig=%s%%00" % (base, exp, sig), 400),
            ("http://127.0.0.1:%d/alarm" % self.port("portal"), 400),
            ("http://127.0.0.1:%d/alarm/%d/other?%s" % (self.port("portal"), self.alarm_id, query), 404),
            (other, 404),
        ]
        for url, code in cases:
            response, body = yield get(url)
            self.assertEqual(response.code, code, url)
            self.assertIn(b"<!DOCTYPE html>", body)
        self.clock.advance(self.service.config.sms.alarm_link_ttl)
        response, body = yield get(link)
        self.assertEqual(response.code, 410)
        self.assertIn("链接已过期".encode(), body)
        answers = self.service.platform.alarm_pages.stats.answers
        self.assertEqual(answers["page", 400], 5)
        self.assertEqual((answers["page", 403], answers["page", 404], answers["page", 410]), (2, 2, 1))


class PictureTests(unittest.TestCase):
    """The page over a real listener, with a picture on disk."""

    @defer.inlineCallbacks
    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.store = FakeStore()
        yield self.store.devices.add(CAM, "k1")
        self.alarm_id = yield self.store.alarms.add(CAM, 0, 1, "", None, "", NOW)
        keys = Keys(self.store.secrets)
        yield keys.load()
        self.path = os.path.join(self.mktemp() + ".jpg")
        with open(self.path, "wb") as f:
            f.write(JPEG)
        self.pictures = {}
        self.alarms = self.store.alarms
        self.pages = AlarmPages(self, None, self.picture, self.clock, zoneinfo.ZoneInfo("Asia/Shanghai"))
        top = resource.Resource()
        top.putChild(b"alarm", self.pages)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(web.site(top))
        self.addCleanup(port.stopListening)
        base = "http://127.0.0.1:%d" % port.getHost().port
        self.pages.links = self.links = AlarmLinks(keys, self.clock, portal=lambda: base, ttl=3600)

    def get(self, alarm_id):
        return self.alarms.get(alarm_id)

    def picture(self, alarm_id):
        found = self.pictures.get(alarm_id)
        if isinstance(found, Exception):
            return defer.fail(found)
        return defer.succeed(found)

    @defer.inlineCallbacks
    def test_the_picture_once_it_arrived(self):
        link = self.links.link(self.alarm_id)
        self.pictures[self.alarm_id] = type("Picture", (), {"path": self.path, "size": len(JPEG),
                                                            "sha256": hashlib.sha256(JPEG).hexdigest()})
        response, body = yield get(link)
        self.assertEqual(response.code, 200)
        self.assertIn(b'<img src="%d/picture.jpg?' % self.alarm_id, body)
        self.assertNotIn(b"refresh", body)
        picture = link.replace("/%d?" % self.alarm_id, "/%d/picture.jpg?" % self.alarm_id)
        response, body = yield get(picture)
        self.assertEqual((response.code, body), (200, JPEG))
        self.assertEqual(header(response, "content-type"), b"image/jpeg")
        self.assertEqual(header(response, "referrer-policy"), b"no-referrer")
        response, body = yield get(picture, {b"range": [b"bytes=0-3"]})
        self.assertEqual((response.code, body), (206, JPEG[:4]))
        # another alarm's signature does not open this picture
        other = self.links.link(self.alarm_id + 1).split("?")[1]
        response, _ = yield get(picture.split("?")[0] + "?" + other)
        self.assertEqual(response.code, 403)

    @defer.inlineCallbacks
    def test_a_database_outage_is_503(self):
        link = self.links.link(self.alarm_id)
        self.pictures[self.alarm_id] = DatabaseUnavailable()
        response, body = yield get(link)
        self.assertEqual(response.code, 503)
        response, _ = yield get(link.replace("/%d?" % self.alarm_id, "/%d/picture.jpg?" % self.alarm_id))
        self.assertEqual(response.code, 503)

    @defer.inlineCallbacks
    def test_an_unexpected_error_is_500_and_logged(self):
        self.pictures[self.alarm_id] = RuntimeError("bug")
        response, body = yield get(self.links.link(self.alarm_id))
        self.assertEqual(response.code, 500)
        self.assertNotIn(b"bug", body)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
