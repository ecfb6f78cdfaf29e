"""§9 as SOAP at ``/group``: CheckClientUpgrade and GetPlatformList (PRODUCT.md "Group platform").

Namespace ``urn:kandian:group``, SOAP 1.1 document/literal, names as §9's
tables: ``CheckClientUpgrade(MobileTel, CmsUrl, CmsName, Version)`` →
``Result`` (0 current, 1 too old), ``UpdateUrl``; ``GetPlatformList(Version)``
→ ``CmsList`` of ``Cms`` (``CmsName``, ``CmsUrl``).  Only Version is
required: it is all the answer depends on.  Hosted like the MCU service
(:class:`kandian.mcu.soap.SoapResource`: spyne as codec on the reactor, the
same bounded reader, faults for every bad request); a Version not of
§8.2's form (``A-1.0``) is a ``Client.ValueError`` fault.
"""

from __future__ import annotations

from collections import namedtuple

from spyne import Application, Array, ComplexModel, Fault, Integer32, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from twisted.internet import defer
from twisted.logger import Logger

from ..core import errors
from ..logs import peer_text
from ..mcu.soap import SoapResource
from ..mcu.xmlin import BoundedSoap11
from .results import OK, UPGRADE

log = Logger()

NS = "urn:kandian:group"


class Cms(ComplexModel):
    """One province platform of GetPlatformList."""
    __namespace__ = NS
    _type_info = [("CmsName", Unicode), ("CmsUrl", Unicode)]


_Cms = namedtuple("Cms", ["CmsName", "CmsUrl"])


def _optional(max_len: int):
    return Unicode(max_len=max_len, min_occurs=0)


Version = Unicode(max_len=32, min_occurs=1, nillable=False)


def _call(ctx, name, *args):
    return ctx.app.handlers.call(name, ctx, args)


class GroupService(ServiceBase):
    @rpc(_optional(32), _optional(1024), _optional(256), Version, _returns=(Integer32, Unicode),
         _out_variable_names=("Result", "UpdateUrl"))
    def CheckClientUpgrade(ctx, MobileTel, CmsUrl, CmsName, Version):
        return _call(ctx, "CheckClientUpgrade", Version)

    @rpc(Version, _returns=Array(Cms), _out_variable_name="CmsList")
    def GetPlatformList(ctx, Version):
        return _call(ctx, "GetPlatformList", Version)


class GroupHandlers:
    """The operations over :class:`kandian.core.grouprole.GroupRole`."""

    def __init__(self, role):
        self.role = role

    def call(self, name: str, ctx, args) -> defer.Deferred:
        d = defer.maybeDeferred(getattr(self, name), *args)

        def bad_value(failure):
            failure.trap(errors.BadValue)
            raise Fault("Client.ValueError", str(failure.value))

        return d.addErrback(bad_value)

    @defer.inlineCallbacks
    def CheckClientUpgrade(self, version):
        release = yield self.role.client_upgrade(version)
        if release is None:
            return OK, None
        log.info("group role: client {version} is told to upgrade to {new}", version=peer_text(version, 32),
                 new=release.version)
        return UPGRADE, release.url

    @defer.inlineCallbacks
    def GetPlatformList(self, version):
        platforms = yield self.role.platforms()
        return [_Cms(p.name, p.url) for p in platforms]


class GroupApplication(Application):
    def __init__(self, handlers):
        super().__init__([GroupService], tns=NS, name="KandianGroup",
                         in_protocol=BoundedSoap11(validator="lxml"), out_protocol=Soap11())
        self.handlers = handlers


def resource(role, wsdl_url) -> SoapResource:
    """The ``/group`` resource; *wsdl_url* as :class:`~kandian.mcu.soap.SoapResource` takes it."""
    return SoapResource(GroupApplication(GroupHandlers(role)), wsdl_url)
