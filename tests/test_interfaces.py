"""The core's seams (kandian.core.interfaces) and what plugs into them today."""

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kandian.core.interfaces import IDeviceRouter, IGroupPlatform, ISmsSender
from kandian.device.registry import LinkRegistry
from kandian.device.router import LocalRouter
from kandian.group.client import GroupClient, NoGroupPlatform
from kandian.sms import LoggingSmsSender


class ImplementationTests(SynchronousTestCase):
    def test_the_local_router_is_a_device_router(self):
        self.assertTrue(verifyObject(IDeviceRouter, LocalRouter(LinkRegistry())))

    def test_the_sms_sender_and_group_platform_of_today(self):
        from twisted.internet import reactor

        self.assertTrue(verifyObject(ISmsSender, LoggingSmsSender()))
        self.assertTrue(verifyObject(IGroupPlatform, NoGroupPlatform()))
        self.assertTrue(verifyObject(IGroupPlatform, GroupClient(reactor, "http://127.0.0.1:1/cms", province_no="3100",
                                                                 cms_no="01", cms_password="pw")))
