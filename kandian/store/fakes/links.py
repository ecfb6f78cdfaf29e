"""In memory: :class:`kandian.store.links.LinkStore` (what the device link writes and reads)."""

from __future__ import annotations

from twisted.internet import defer

from ...core.errors import NoSuchDevice, WrongDevKey
from ..links import CloudStorage
from .devices import MANUFACTURERS, new_device


class FakeLinks:
    def __init__(self, store):
        self.store = store
        self.node = store.node
        self.device = store.tables.setdefault("device", {})
        self.channel = store.tables.setdefault("channel", {})
        self.exceptions = store.tables.setdefault("device_exception", [])

    def register(self, dev_id, dev_key, dev_type, model, now, auto_provision):
        row = self.device.get(dev_id)
        valid_type = dev_type if dev_type in (1, 2, 3) else None
        if row is None:
            if not auto_provision or dev_id[:3] not in MANUFACTURERS:
                return defer.fail(NoSuchDevice(dev_id))
            self.device[dev_id] = new_device(dev_id, dev_key, dev_type=valid_type or 1, model=model or "",
                                             provisioned_by="register", registered_at=now)
            return defer.succeed(None)
        if row["dev_key"] != dev_key:
            return defer.fail(WrongDevKey(dev_id))
        row.update(registered_at=now, dev_type=valid_type or row["dev_type"], model=model or row["model"])
        return defer.succeed(None)

    def authenticate(self, dev_id):
        row = self.device.get(dev_id)
        return defer.succeed(None if row is None else (row["dev_key"], CloudStorage(*row["estore"])))

    def logged_in(self, dev_id, dev_ver, addresses, net_type, nat_type, public_ip, public_port, now,
                  upnp_reachable=None):
        row = self.device.get(dev_id)
        if row is not None:
            row.update(online=True, node=self.node, dev_ver=dev_ver, addresses=tuple(addresses), net_type=net_type,
                       nat_type=nat_type, public_ip=public_ip, public_port=public_port,
                       upnp_reachable=upnp_reachable, upnp_checked_at=None if upnp_reachable is None else now,
                       last_login_at=now, last_seen_at=now)
        return defer.succeed(None)

    def offline(self, gone):
        for dev_id, at in gone.items():
            row = self.device.get(dev_id)
            if row is not None and row["node"] == self.node and (row["last_login_at"] is None
                                                                 or row["last_login_at"] <= at):
                row.update(online=False, last_seen_at=at)
        return defer.succeed(None)

    def all_offline(self):
        for row in self.device.values():
            if row["online"] and row["node"] == self.node:
                row["online"] = False
        return defer.succeed(None)

    def ability(self, dev_id, report):
        row = self.device.get(dev_id)
        if row is not None:
            row.update(channel_num=report.ChannelNum, ability=report)
            for n in range(report.ChannelNum):
                self.channel.setdefault((dev_id, n), "")
            for key in [k for k in self.channel if k[0] == dev_id and k[1] >= max(report.ChannelNum, 1)]:
                del self.channel[key]
        return defer.succeed(None)

    def addresses(self, dev_id, addresses, cur_video_num, now):
        row = self.device.get(dev_id)
        if row is not None:
            if (row["addresses"][0], row["addresses"][1]) != (addresses.upnp_ip, addresses.rtsp_upnp_port):
                row["upnp_reachable"] = None
            row.update(addresses=tuple(addresses), cur_video_num=cur_video_num, last_seen_at=now)
        return defer.succeed(None)

    def seen(self, seen):
        for dev_id, at in seen.items():
            if dev_id in self.device:
                self.device[dev_id]["last_seen_at"] = at
        return defer.succeed(None)

    def upnp_reachable(self, dev_id, upnp_ip, port, reachable, now):
        row = self.device.get(dev_id)
        if row is not None and (row["addresses"][0], row["addresses"][1]) == (upnp_ip, port):
            row.update(upnp_reachable=reachable, upnp_checked_at=now)
        return defer.succeed(None)

    def exception(self, dev_id, channel_no, exception_type, desc, now):
        self.exceptions.append((dev_id, channel_no, exception_type, desc, now))
        return defer.succeed(None)

    def alarm(self, dev_id, channel_no, alarm_type, desc, dido_no, file_name, now):
        return self.store.alarms.add(dev_id, channel_no, alarm_type, desc, dido_no, file_name, now)
