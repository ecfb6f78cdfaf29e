"""The MCU/CU SOAP contract (§8.1–§8.19 and two extensions; PRODUCT.md "SOAP contract").

Namespace ``urn:kandian:mcu``, SOAP 1.1 document/literal, parameter and result
names exactly as the spec's tables name them.  This module only *declares*
the operations for spyne (which turns them into the WSDL and validates
requests against it); each one hands its arguments to the handler object the
application carries (:class:`kandian.mcu.handlers.McuHandlers`), which answers
with a Deferred of the result tuple, in the order of the ``_out_variable_names``.

Required parameters are ``min_occurs=1``: a request without one fails schema
validation with a ``Client.SchemaValidationError`` fault.  Optional ones are
those the spec lets the client leave out: SetCameraParam's stream settings
("unchanged", §8.10), QueryAlarms' DevID and times ("all", §8.19), DIDONo.
"""

from __future__ import annotations

from spyne import Application, Array, ComplexModel, Integer32, Integer64, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11

from .xmlin import BoundedSoap11

NS = "urn:kandian:mcu"


def _text(max_len: int, required: bool = True):
    if required:
        return Unicode(max_len=max_len, min_occurs=1, nillable=False)
    return Unicode(max_len=max_len, min_occurs=0)


def _int(required: bool = True):
    return Integer32(min_occurs=1, nillable=False) if required else Integer32(min_occurs=0)


Account = _text(32)
Session = _text(64)
DevID = _text(32)
DevKey = _text(64)
Int = _int()
OptionalInt = _int(False)


class Video(ComplexModel):
    __namespace__ = NS
    _type_info = [("StreamType", Integer32), ("FrameSize", Integer32)]


class DIDO(ComplexModel):
    __namespace__ = NS
    _type_info = [("DIDONo", Integer32), ("DIDONoName", Unicode)]


class Dev(ComplexModel):
    """One DevList entry: a channel of a device bound to the user (§8.2)."""
    __namespace__ = NS
    _type_info = [
        ("DevID", Unicode), ("ChannelNo", Integer32), ("Name", Unicode), ("OnLine", Integer32),
        ("PtzFlag", Integer32), ("ShareFlag", Integer32), ("MotionDetectionFlag", Integer32),
        ("InfraredDetectionFlag", Integer32), ("ManualAlarmFlag", Integer32), ("DIDOAlarmFlag", Integer32),
        ("VideoList", Array(Video)), ("DIDOList", Array(DIDO)),
    ]


class Wifi(ComplexModel):
    __namespace__ = NS
    _type_info = [("SSID", Unicode), ("Signal", Integer32), ("Security", Integer32), ("InUser", Integer32)]


class Alarm(ComplexModel):
    __namespace__ = NS
    _type_info = [("DevName", Unicode), ("AlarmType", Integer32), ("DIDONoName", Unicode), ("AlarmTime", Unicode)]


class RecordFile(ComplexModel):
    __namespace__ = NS
    _type_info = [("FileName", Unicode), ("FileSize", Integer64), ("StartTime", Unicode), ("EndTime", Unicode)]


_PLAY_URLS = ("LocalPlayUrl", "UpnpPlayUrl", "TurnPlayUrl")


def _call(ctx, name, *args):
    return ctx.app.handlers.call(name, ctx, args)


class McuService(ServiceBase):
    # §8.1–§8.4 accounts and sessions
    @rpc(_text(20), Int, _returns=Integer32, _out_variable_name="Result")
    def GetSmsPassword(ctx, MobileTel, Type):
        return _call(ctx, "GetSmsPassword", MobileTel, Type)

    @rpc(Account, _text(64), _text(32), _returns=(Integer32, Unicode, Integer32, Array(Dev)),
         _out_variable_names=("Result", "LoginSession", "DevNum", "DevList"))
    def McuLogin(ctx, Account, Password, Version):
        return _call(ctx, "McuLogin", Account, Password, Version)

    @rpc(Account, Session, _returns=Integer32, _out_variable_name="Result")
    def McuLogout(ctx, Account, LoginSession):
        return _call(ctx, "McuLogout", Account, LoginSession)

    @rpc(Account, Session, _returns=(Integer32, Array(Dev)), _out_variable_names=("Result", "DevList"))
    def RefreshDevList(ctx, Account, LoginSession):
        return _call(ctx, "RefreshDevList", Account, LoginSession)

    # §8.5–§8.6 bindings
    @rpc(Account, Session, DevID, DevKey, _returns=Integer32, _out_variable_name="Result")
    def AddDevice(ctx, Account, LoginSession, DevID, DevKey):
        return _call(ctx, "AddDevice", Account, LoginSession, DevID, DevKey)

    @rpc(Account, Session, DevID, DevKey, _returns=Integer32, _out_variable_name="Result")
    def DelDevice(ctx, Account, LoginSession, DevID, DevKey):
        return _call(ctx, "DelDevice", Account, LoginSession, DevID, DevKey)

    # §8.7 live video
    @rpc(Account, Session, DevID, Int, Int,
         _returns=(Integer32, Unicode, Unicode, Unicode, Unicode, Integer32, Integer32, Unicode),
         _out_variable_names=("Result", *_PLAY_URLS, "StunIP", "StunPort", "NatType", "RelayPlayUrl"))
    def VideoPlay(ctx, Account, LoginSession, DevID, ChannelNo, StreamType):
        return _call(ctx, "VideoPlay", Account, LoginSession, DevID, ChannelNo, StreamType)

    # §8.8–§8.18 forwarded to the device
    @rpc(Account, Session, DevID, Int, Int, _returns=Integer32, _out_variable_name="Result")
    def PtzControl(ctx, Account, LoginSession, DevID, ChannelNo, PtzDirection):
        return _call(ctx, "PtzControl", Account, LoginSession, DevID, ChannelNo, PtzDirection)

    @rpc(Account, Session, DevID, Int, Int,
         _returns=(Integer32, Unicode, Integer32, Integer32, Integer32, Integer32, Integer32),
         _out_variable_names=("Result", "DevID", "FrameSize", "FrameRate", "RateType", "BitRate", "AudioInput"))
    def GetCameraParam(ctx, Account, LoginSession, DevID, ChannelNo, StreamType):
        return _call(ctx, "GetCameraParam", Account, LoginSession, DevID, ChannelNo, StreamType)

    @rpc(Account, Session, DevID, Int, Int, OptionalInt, OptionalInt, OptionalInt, OptionalInt, OptionalInt,
         _returns=Integer32, _out_variable_name="Result")
    def SetCameraParam(ctx, Account, LoginSession, DevID, ChannelNo, StreamType, FrameSize, FrameRate, RateType,
                       BitRate, AudioInput):
        return _call(ctx, "SetCameraParam", Account, LoginSession, DevID, ChannelNo, StreamType, FrameSize,
                     FrameRate, RateType, BitRate, AudioInput)

    @rpc(Account, Session, DevID, _returns=(Integer32, Array(Wifi)), _out_variable_names=("Result", "WifiList"))
    def GetWifiList(ctx, Account, LoginSession, DevID):
        return _call(ctx, "GetWifiList", Account, LoginSession, DevID)

    @rpc(Account, Session, DevID, _text(64), Int, _text(64, required=False),
         _returns=Integer32, _out_variable_name="Result")
    def SetWifi(ctx, Account, LoginSession, DevID, SSID, Security, Password):
        return _call(ctx, "SetWifi", Account, LoginSession, DevID, SSID, Security, Password)

    @rpc(Account, Session, DevID, _returns=Integer32, _out_variable_name="Result")
    def RebootCamera(ctx, Account, LoginSession, DevID):
        return _call(ctx, "RebootCamera", Account, LoginSession, DevID)

    @rpc(Account, Session, DevID, _returns=(Integer32, Unicode, Unicode),
         _out_variable_names=("Result", "CurDevVer", "NewDevVer"))
    def GetFirmwareVersion(ctx, Account, LoginSession, DevID):
        return _call(ctx, "GetFirmwareVersion", Account, LoginSession, DevID)

    @rpc(Account, Session, DevID, _returns=Integer32, _out_variable_name="Result")
    def NotifyUpgrade(ctx, Account, LoginSession, DevID):
        return _call(ctx, "NotifyUpgrade", Account, LoginSession, DevID)

    @rpc(Account, Session, DevID, Int, Int, OptionalInt, _returns=(Integer32, Integer32),
         _out_variable_names=("Result", "AlarmFlag"))
    def GetAlarmSwitch(ctx, Account, LoginSession, DevID, ChannelNo, AlarmType, DIDONo):
        return _call(ctx, "GetAlarmSwitch", Account, LoginSession, DevID, ChannelNo, AlarmType, DIDONo)

    @rpc(Account, Session, DevID, Int, Int, Int, OptionalInt, _returns=Integer32, _out_variable_name="Result")
    def SetAlarmSwitch(ctx, Account, LoginSession, DevID, ChannelNo, AlarmType, AlarmFlag, DIDONo):
        return _call(ctx, "SetAlarmSwitch", Account, LoginSession, DevID, ChannelNo, AlarmType, AlarmFlag, DIDONo)

    @rpc(Account, Session, DevID, Int, _text(64), _returns=Integer32, _out_variable_name="Result")
    def SetCameraAlias(ctx, Account, LoginSession, DevID, ChannelNo, NewName):
        return _call(ctx, "SetCameraAlias", Account, LoginSession, DevID, ChannelNo, NewName)

    # §8.19 alarms
    @rpc(Account, Session, _text(32, required=False), OptionalInt, _text(14, required=False),
         _text(14, required=False), Int, _returns=(Integer32, Integer32, Array(Alarm)),
         _out_variable_names=("Result", "TotalAlarmNum", "AlarmList"))
    def QueryAlarms(ctx, Account, LoginSession, DevID, ChannelNo, StartTime, EndTime, PageNo):
        return _call(ctx, "QueryAlarms", Account, LoginSession, DevID, ChannelNo, StartTime, EndTime, PageNo)

    # extensions: recordings on the device (0x72) and their playback (0x74)
    @rpc(Account, Session, DevID, Int, _text(14), _text(14), Int, _returns=(Integer32, Integer32, Array(RecordFile)),
         _out_variable_names=("Result", "TotalRecordNum", "FileList"))
    def QueryRecordFiles(ctx, Account, LoginSession, DevID, ChannelNo, StartTime, EndTime, PageNo):
        return _call(ctx, "QueryRecordFiles", Account, LoginSession, DevID, ChannelNo, StartTime, EndTime, PageNo)

    @rpc(Account, Session, DevID, Int, _text(128), _returns=(Integer32, Unicode, Unicode, Unicode, Unicode),
         _out_variable_names=("Result", *_PLAY_URLS, "RelayPlayUrl"))
    def RecordPlay(ctx, Account, LoginSession, DevID, ChannelNo, FileName):
        return _call(ctx, "RecordPlay", Account, LoginSession, DevID, ChannelNo, FileName)

    # §9.1 (MCU → 轻平台): answered from the client releases the group platform named (§6.1)
    @rpc(_text(32, required=False), _text(1024, required=False), _text(256, required=False), _text(32),
         _returns=(Integer32, Unicode), _out_variable_names=("Result", "UpdateUrl"))
    def CheckClientUpgrade(ctx, MobileTel, CmsUrl, CmsName, Version):
        return _call(ctx, "CheckClientUpgrade", MobileTel, CmsUrl, CmsName, Version)


class McuApplication(Application):
    """The spyne application, carrying *handlers* for the operations."""

    def __init__(self, handlers):
        super().__init__([McuService], tns=NS, name="KandianMcu",
                         in_protocol=BoundedSoap11(validator="lxml"), out_protocol=Soap11())
        self.handlers = handlers


def application(handlers) -> Application:
    return McuApplication(handlers)
