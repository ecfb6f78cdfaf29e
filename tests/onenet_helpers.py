"""Driving the ``[onenet]`` API (spec/001) over real HTTP against the running platform (real PostgreSQL,
simulated cameras)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from twisted.internet import defer, reactor
from twisted.web.client import Agent, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers

from kandian.sim.link import connect_device
from kandian.sim.state import DeviceState

from .portal_helpers import Answer
from .test_device_integration import DeviceTestCase, eventually
from .test_register import Body

REGISTER_CODE = "reg-code-1"


class OnenetAnswer(Answer):
    @property
    def errno(self):
        return self.json["errno"]

    @property
    def payload(self):
        """The answer's ``data`` member."""
        return self.json.get("data")


class OnenetTestCase(DeviceTestCase):
    onenet_settings = ""
    settings = {"onenet": "listen = tcp:0:interface=127.0.0.1\nregister_code = %s\n" % REGISTER_CODE}

    @defer.inlineCallbacks
    def setUp(self):
        if self.onenet_settings:
            self.settings = dict(self.settings, onenet=self.settings["onenet"] + self.onenet_settings)
        yield super().setUp()
        self.core = self.service.platform.core
        self.master = yield self.apikey("integrator", master=True)
        self.pool = HTTPConnectionPool(reactor)
        self.addCleanup(self.pool.closeCachedConnections)
        self.agent = Agent(reactor, pool=self.pool)

    @defer.inlineCallbacks
    def apikey(self, name, master=False):
        """A key of the API key table (``kandianctl apikey add NAME [--master]``)."""
        key, _ = yield self.core.apikeys.add(name, master)
        return key

    def url(self, path, query=None):
        text = path + ("?" + (query if isinstance(query, str) else urlencode(query)) if query else "")
        return b"http://127.0.0.1:%d%s" % (self.port("onenet"), text.encode())

    @defer.inlineCallbacks
    def call(self, method, path, query=None, body=None, key=None, raw=None, headers=None, auth=True):
        h = Headers(headers or {})
        if auth:
            h.setRawHeaders(b"api-key", [(key or self.master).encode()])
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setRawHeaders(b"content-type", [b"application/json"])
        response = yield self.agent.request(method.encode(), self.url(path, query), h,
                                            Body(data) if data is not None else None)
        content = yield readBody(response)
        return OnenetAnswer(response.code, response.headers, content)

    def get(self, path, query=None, **kw):
        return self.call("GET", path, query, **kw)

    def post(self, path, query=None, body=None, **kw):
        return self.call("POST", path, query, body, **kw)

    def put(self, path, query=None, body=None, **kw):
        return self.call("PUT", path, query, body, **kw)

    def delete(self, path, query=None, **kw):
        return self.call("DELETE", path, query, **kw)

    def assertSucc(self, answer, errno=0):
        self.assertEqual((answer.code, answer.json["errno"], answer.json.get("error")), (200, errno, "succ"),
                         answer)

    def assertErrno(self, answer, errno, status=None):
        self.assertEqual((answer.code, answer.json["errno"]), (status or (errno if errno >= 400 else 200), errno),
                         answer)

    @defer.inlineCallbacks
    def create(self, title="device1", **fields):
        answer = yield self.post("/devices", body={"title": title, **fields})
        self.assertSucc(answer)
        return answer.payload["device_id"]

    @defer.inlineCallbacks
    def device_key(self, dev_id):
        answer = yield self.get("/devices/%s" % dev_id)
        self.assertSucc(answer)
        return answer.payload["keys"][0]["key"]

    @defer.inlineCallbacks
    def camera(self, dev_id, key, channels=1, **state_args):
        """The simulated camera of a device, logged in and reporting its abilities."""
        state = DeviceState(dev_id, key, channel_num=channels, **state_args)
        link = yield connect_device(reactor, ("127.0.0.1", self.port("device")), state, clock=self.sim_clock)
        self.addCleanup(link.close)
        yield link.logged_in()
        yield link.report_ability()
        yield eventually(lambda: self.online(dev_id), "online")
        return link
