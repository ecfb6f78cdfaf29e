"""One typed call per platform→device command, 0x60–0x82 (§7.5.6–§7.5.39).

``DeviceCommands(registry, dev_id).get_channel(ChannelNo=0, StreamType=2)``
returns a Deferred that fires with the device's ``GetChannelResponse``, or
fails with :class:`~kandian.device.link.DeviceOffline`,
:class:`~kandian.device.link.CommandTimeout`,
:class:`~kandian.device.link.LinkLost`,
:class:`~kandian.device.link.DeviceRefused` (non-zero Result) or
:class:`~kandian.device.link.BadAnswer`.  Keyword arguments are the spec's
element names; an optional element left out means "unchanged" (§7.5.6).

0x6A, 0x6B and 0x73 are in the §7.4.3 table but §7.5 defines no body for
them, so they have no call here.
"""

from __future__ import annotations

from twisted.internet import defer

from . import messages as m


class DeviceCommands:
    def __init__(self, registry, dev_id: str):
        self.registry = registry
        self.dev_id = dev_id

    def _send(self, request_class, **fields) -> defer.Deferred:
        try:
            request = request_class(DevID=self.dev_id, **fields)
        except (TypeError, ValueError) as e:
            return defer.fail(e)
        return self.registry.call(self.dev_id, request)

    # §7.5.6–§7.5.10 video, Wi-Fi, PTZ
    def set_channel(self, *, ChannelNo, StreamType, FrameSize=None, FrameRate=None, RateType=None,
                    BitRate=None, AudioInput=None):
        return self._send(m.SetChannelRequest, ChannelNo=ChannelNo, StreamType=StreamType, FrameSize=FrameSize,
                          FrameRate=FrameRate, RateType=RateType, BitRate=BitRate, AudioInput=AudioInput)

    def get_channel(self, *, ChannelNo, StreamType):
        return self._send(m.GetChannelRequest, ChannelNo=ChannelNo, StreamType=StreamType)

    def get_wifi(self):
        return self._send(m.GetWifiRequest)

    def set_wifi(self, *, SSID, Security, Password=None):
        return self._send(m.SetWifiRequest, SSID=SSID, Security=Security, Password=Password)

    def ptz(self, *, ChannelNo, PtzDirection):
        return self._send(m.PtzRequest, ChannelNo=ChannelNo, PtzDirection=PtzDirection)

    # §7.5.11–§7.5.15 cloud storage and record policies
    def set_estore(self, *, URL, Account, Password, ERecordBucket, EPictureBucket, StorageSpace=None):
        return self._send(m.SetEStoreRequest, URL=URL, Account=Account, Password=Password,
                          StorageSpace=StorageSpace, ERecordBucket=ERecordBucket, EPictureBucket=EPictureBucket)

    def get_estore(self):
        return self._send(m.GetEStoreRequest)

    def add_record_policy(self, *, ChannelNo, WeekPolicy):
        return self._send(m.AddRecordPolicyRequest, ChannelNo=ChannelNo, WeekPolicy=tuple(WeekPolicy))

    def query_record_policy(self, *, ChannelNo):
        return self._send(m.QueryRecordPolicyRequest, ChannelNo=ChannelNo)

    def del_record_policy(self, *, ChannelNo, PolicyID):
        return self._send(m.DelRecordPolicyRequest, ChannelNo=ChannelNo, PolicyID=PolicyID)

    # §7.5.16–§7.5.17 maintenance
    def reboot(self):
        return self._send(m.RebootRequest)

    def upgrade(self, *, NewDevVer, FtpIP, FtpPort, FtpAccount, FtpPassword, FtpFileName):
        return self._send(m.UpgradeRequest, NewDevVer=NewDevVer, FtpIP=FtpIP, FtpPort=FtpPort,
                          FtpAccount=FtpAccount, FtpPassword=FtpPassword, FtpFileName=FtpFileName)

    # §7.5.18–§7.5.21 NVR channels
    def nvr_link_ipcam(self, *, ChannelNo, IpcamDevID, IpcamLocalIP, OnvifPort, OnvifAccount, OnvifPassword):
        return self._send(m.NvrLinkIpcamRequest, ChannelNo=ChannelNo, IpcamDevID=IpcamDevID,
                          IpcamLocalIP=IpcamLocalIP, OnvifPort=OnvifPort, OnvifAccount=OnvifAccount,
                          OnvifPassword=OnvifPassword)

    def nvr_modify_ipcam(self, *, IpcamDevID, IpcamLocalIP, OnvifPort, OnvifAccount, OnvifPassword):
        return self._send(m.NvrModifyIpcamRequest, IpcamDevID=IpcamDevID, IpcamLocalIP=IpcamLocalIP,
                          OnvifPort=OnvifPort, OnvifAccount=OnvifAccount, OnvifPassword=OnvifPassword)

    def nvr_del_ipcam(self, *, ChannelNo):
        return self._send(m.NvrDelIpcamRequest, ChannelNo=ChannelNo)

    def nvr_query_ipcam(self):
        return self._send(m.NvrQueryIpcamRequest)

    # §7.5.22 recordings
    def file_query(self, *, ChannelNo, StartTime, EndTime, PageNo):
        return self._send(m.FileQueryRequest, ChannelNo=ChannelNo, StartTime=StartTime, EndTime=EndTime,
                          PageNo=PageNo)

    # §7.5.24–§7.5.26 picture policies
    def add_picture_policy(self, *, ChannelNo, StoreType, DayPolicy):
        return self._send(m.AddPicturePolicyRequest, ChannelNo=ChannelNo, StoreType=StoreType,
                          DayPolicy=tuple(DayPolicy))

    def query_picture_policy(self, *, ChannelNo, StoreType):
        return self._send(m.QueryPicturePolicyRequest, ChannelNo=ChannelNo, StoreType=StoreType)

    def del_picture_policy(self, *, ChannelNo, PolicyID):
        return self._send(m.DelPicturePolicyRequest, ChannelNo=ChannelNo, PolicyID=PolicyID)

    # §7.5.28–§7.5.31 recording modes
    def set_record_full(self, *, ChannelNo, StorageFlag, RecordFull):
        return self._send(m.SetRecordFullRequest, ChannelNo=ChannelNo, StorageFlag=StorageFlag,
                          RecordFull=RecordFull)

    def get_record_full(self, *, ChannelNo, StorageFlag):
        return self._send(m.GetRecordFullRequest, ChannelNo=ChannelNo, StorageFlag=StorageFlag)

    def set_record_loop(self, *, RecordLoop, StorageFlag):
        return self._send(m.SetRecordLoopRequest, RecordLoop=RecordLoop, StorageFlag=StorageFlag)

    def get_record_loop(self, *, StorageFlag):
        return self._send(m.GetRecordLoopRequest, StorageFlag=StorageFlag)

    # §7.5.32–§7.5.33 alarm switches
    def set_alarm(self, *, ChannelNo, AlarmType, AlarmFlag, DIDONo=None):
        return self._send(m.SetAlarmRequest, ChannelNo=ChannelNo, AlarmType=AlarmType, AlarmFlag=AlarmFlag,
                          DIDONo=DIDONo)

    def get_alarm(self, *, ChannelNo, AlarmType, DIDONo=None):
        return self._send(m.GetAlarmRequest, ChannelNo=ChannelNo, AlarmType=AlarmType, DIDONo=DIDONo)

    # §7.5.35–§7.5.39 logs, storage, factory reset
    def log_upload(self, *, FtpIP, FtpPort, FtpAccount, FtpPassword):
        return self._send(m.LogUploadRequest, FtpIP=FtpIP, FtpPort=FtpPort, FtpAccount=FtpAccount,
                          FtpPassword=FtpPassword)

    def store_query(self):
        return self._send(m.StoreQueryRequest)

    def store_format(self):
        return self._send(m.StoreFormatRequest)

    def estore_activate(self, *, Flag):
        return self._send(m.EStoreActivateRequest, Flag=Flag)

    def reset_default(self):
        return self._send(m.ResetDefaultRequest)
