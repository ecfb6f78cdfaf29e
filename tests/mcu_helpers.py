"""Driving the MCU web service with real SOAP clients (zeep, suds).

Both clients are synchronous; they run in the reactor's thread pool so the
service, on the reactor thread, can answer them.
"""

from __future__ import annotations

from twisted.internet import defer, reactor, threads

from kandian.sim.link import connect_device
from kandian.sim.state import DeviceState
from kandian.store.devices import DeviceStore

from .test_device_integration import DeviceTestCase, eventually

PASSWORD = "s3cret-pass"


class DeliveringSms:
    """An SMS gateway that accepts every message (kandian.core.interfaces.ISmsSender)."""

    delivers = True

    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def send(self, mobile, text, kind="message", display=None):
        self.sent.append((mobile, text))
        return defer.succeed(None)


class Soap:
    """A zeep client whose calls return Deferreds of plain dicts."""

    def __init__(self, client):
        self.client = client

    @classmethod
    @defer.inlineCallbacks
    def connect(cls, port: int):
        import zeep
        client = yield threads.deferToThread(zeep.Client, "http://127.0.0.1:%d/mcu?wsdl" % port)
        return cls(client)

    def __getattr__(self, operation):
        method = getattr(self.client.service, operation)

        def call(**kw):
            return threads.deferToThread(method, **kw).addCallback(_plain)
        return call


def _plain(answer):
    """zeep answers with an object (several outputs) or an int (Result only)."""
    if isinstance(answer, int):
        return {"Result": answer}
    from zeep.helpers import serialize_object
    return dict(serialize_object(answer))


class McuTestCase(DeviceTestCase):
    register_settings = ""

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.soap = yield Soap.connect(self.port("mcu"))
        self.users = self.service.platform.core.accounts
        self.devices = DeviceStore(self.db)

    @defer.inlineCallbacks
    def user(self, mobile, max_devices=4, password=PASSWORD):
        yield self.users.add(mobile, password, max_devices)
        answer = yield self.soap.McuLogin(Account=mobile, Password=password, Version="A-1.0")
        assert answer["Result"] == 0, answer
        return answer["LoginSession"]

    @defer.inlineCallbacks
    def bind(self, mobile, dev_id, share_flag=0):
        yield self.db.runOperation(
            "INSERT INTO user_device (user_id, dev_id, share_flag)"
            " SELECT user_id, %s, %s FROM app_user WHERE mobile = %s", (dev_id, share_flag, mobile))

    @defer.inlineCallbacks
    def camera(self, dev_id, key="key", channels=1, online=True, **state_args):
        """A provisioned device; online through the simulator when *online*."""
        yield self.devices.add(dev_id, key, channels=channels)
        if not online:
            return None
        state = DeviceState(dev_id, key, channel_num=channels, **state_args)
        link = yield connect_device(reactor, ("127.0.0.1", self.port("device")), state, clock=self.sim_clock)
        self.addCleanup(link.close)
        yield link.logged_in()
        yield link.report_ability()
        yield eventually(lambda: self.online(dev_id), "online")
        return link
