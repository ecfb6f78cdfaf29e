"""In memory: :class:`kandian.store.devices.DeviceStore` (tables device, channel, stream_profile, alarm_switch)."""

from __future__ import annotations

from twisted.internet import defer

from ..devices import DEV_ID, DEV_TYPES, Device, DeviceExists

MANUFACTURERS = {"%d" % n for n in range(811, 827)}  # seeded by the first migration (§7.2)


def new_device(dev_id: str, dev_key: str, **columns) -> dict:
    row = dict(dev_id=dev_id, dev_key=dev_key, dev_type=1, model="", name="", provisioned_by="operator",
               manufacturer_no=dev_id[:3] if dev_id[:3] in MANUFACTURERS else None, channel_num=None,
               online=False, node=None, dev_ver=None, last_seen_at=None, last_login_at=None, registered_at=None,
               estore=("", "", "", 0, "", ""), addresses=(None,) * 6, net_type=None, nat_type=None,
               public_ip=None, public_port=None, upnp_reachable=None, upnp_checked_at=None, cur_video_num=None,
               ability=None)
    row.update(columns)
    return row


class FakeDevices:
    def __init__(self, store):
        self.tables = store.tables
        self.device = self.tables.setdefault("device", {})
        self.channel = self.tables.setdefault("channel", {})  # (dev_id, channel_no) → name
        self.stream_profile = self.tables.setdefault("stream_profile", {})
        self.alarm_switch = self.tables.setdefault("alarm_switch", {})

    def add(self, dev_id: str, dev_key: str, dev_type: int = 1, model: str = "", channels: int = 1,
            provisioned_by: str = "operator"):
        if not DEV_ID.match(dev_id):
            return defer.fail(ValueError("DevID must be 11 digits (§7.2): %r" % (dev_id,)))
        if not dev_key:
            return defer.fail(ValueError("DevKey must not be empty"))
        if dev_type not in DEV_TYPES:
            return defer.fail(ValueError("device type must be 1 (IPC), 2 (DVR) or 3 (NVR)"))
        if not 1 <= channels <= 256:
            return defer.fail(ValueError("channels must be between 1 and 256"))
        if dev_id in self.device:
            return defer.fail(DeviceExists("device %s already exists" % (dev_id,)))
        self.device[dev_id] = new_device(dev_id, dev_key, dev_type=dev_type, model=model,
                                         provisioned_by=provisioned_by, channel_num=channels)
        for n in range(channels):
            self.channel[dev_id, n] = ""
        return defer.succeed(None)

    def list(self):
        return defer.succeed([
            Device(d["dev_id"], d["dev_type"], d["model"], d["manufacturer_no"] and "manufacturer",
                   sum(1 for (dev, _) in self.channel if dev == d["dev_id"]), d["online"], d["dev_ver"],
                   d["last_seen_at"])
            for _, d in sorted(self.device.items())])

    def remember_stream(self, dev_id, channel_no, stream_type, frame_size, frame_rate, rate_type, bit_rate,
                        audio_input):
        self.stream_profile[dev_id, channel_no, stream_type] = (frame_size, frame_rate, rate_type, bit_rate,
                                                                audio_input)
        return defer.succeed(None)

    def remember_alarm_switch(self, dev_id, channel_no, alarm_type, dido_no, flag):
        self.alarm_switch[dev_id, channel_no, alarm_type, dido_no or 0] = flag
        return defer.succeed(None)

    def rename_channel(self, dev_id: str, channel_no: int, name: str):
        if (dev_id, channel_no) not in self.channel:
            return defer.succeed(False)
        self.channel[dev_id, channel_no] = name
        return defer.succeed(True)
