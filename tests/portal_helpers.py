"""Driving the portal's REST API over real HTTP against the running platform (real PostgreSQL, simulated cameras)."""

from __future__ import annotations

import json

from twisted.internet import defer, reactor
from twisted.web.client import Agent, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers

from kandian.sim.link import connect_device
from kandian.sim.state import DeviceState

from .test_device_integration import DeviceTestCase, eventually
from .test_register import Body

PASSWORD = "s3cret-pass"


class Answer:
    def __init__(self, code, headers, data):
        self.code = code
        self.headers = headers
        self.data = data

    @property
    def json(self):
        return json.loads(self.data) if self.data else None

    def header(self, name):
        values = self.headers.getRawHeaders(name)
        return values[-1].decode() if values else None

    def __repr__(self):
        return "<%d %r>" % (self.code, self.data[:300])


class PortalTestCase(DeviceTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.core = self.service.platform.core
        self.pool = HTTPConnectionPool(reactor)
        self.addCleanup(self.pool.closeCachedConnections)
        self.agent = Agent(reactor, pool=self.pool)

    def url(self, path):
        return b"http://127.0.0.1:%d%s" % (self.port("portal"), path.encode())

    @defer.inlineCallbacks
    def call(self, method, path, body=None, token=None, headers=None, raw=None, content_type="application/json"):
        h = Headers(headers or {})
        if token:
            h.setRawHeaders(b"authorization", [b"Bearer " + token.encode()])
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            h.setRawHeaders(b"content-type", [content_type.encode()])
        response = yield self.agent.request(method.encode(), self.url(path), h,
                                            Body(data) if data is not None else None)
        content = yield readBody(response)
        return Answer(response.code, response.headers, content)

    def get(self, path, token=None, **kw):
        return self.call("GET", path, token=token, **kw)

    def post(self, path, body=None, token=None, **kw):
        return self.call("POST", path, body=body if body is not None else {}, token=token, **kw)

    @defer.inlineCallbacks
    def login(self, account, password=PASSWORD):
        answer = yield self.post("/api/v1/login", {"account": account, "password": password})
        assert answer.code == 200, answer
        return answer.json["token"]

    @defer.inlineCallbacks
    def operator(self, name="ops", role="admin"):
        yield self.core.operators.add(name, PASSWORD, role)
        return (yield self.login(name))

    @defer.inlineCallbacks
    def user(self, mobile, max_devices=4):
        yield self.core.accounts.add(mobile, PASSWORD, max_devices)
        return (yield self.login(mobile))

    @defer.inlineCallbacks
    def bind(self, mobile, dev_id, share_flag=0, control=True):
        yield self.db.runOperation(
            "INSERT INTO user_device (user_id, dev_id, share_flag, can_control)"
            " SELECT user_id, %s, %s, %s FROM app_user WHERE mobile = %s", (dev_id, share_flag, control, mobile))

    @defer.inlineCallbacks
    def camera(self, dev_id, key="key", channels=1, online=True, dev_type=1, owner=None, **state_args):
        """A provisioned device, bound to *owner*; online through the simulator when *online*."""
        yield self.core.devices.store.devices.add(dev_id, key, dev_type=dev_type, channels=channels)
        if owner:
            yield self.bind(owner, dev_id)
        if not online:
            return None
        state = DeviceState(dev_id, key, channel_num=channels, dev_type=dev_type, **state_args)
        link = yield connect_device(reactor, ("127.0.0.1", self.port("device")), state, clock=self.sim_clock)
        self.addCleanup(link.close)
        yield link.logged_in()
        yield link.report_ability()
        yield eventually(lambda: self.online(dev_id), "online")
        return link
