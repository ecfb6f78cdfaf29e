"""In memory: :class:`kandian.store.fleet.Fleet` (devices as operators see them)."""

from __future__ import annotations

import datetime
import json
import zoneinfo

from twisted.internet import defer

from ..fleet import (
    ABILITY_KEYS,
    EDITABLE,
    SORTS,
    AlarmRow,
    Channel,
    DeviceDetail,
    DeviceException,
    DeviceFilter,
    DeviceSummary,
)

NAMES = {"811": "海康", "812": "大华", "813": "皓维", "814": "卡尔", "815": "海目达", "816": "悠克", "817": "视威",
         "818": "华沃", "819": "三星", "820": "红苹果", "821": "远业", "822": "城市无线", "823": "烽火众智",
         "824": "华迈", "825": "景阳", "826": "东方网力"}


def _seconds(value):
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    return value


class FakeFleet:
    def __init__(self, store):
        self.tables = store.tables
        self.device = store.tables.setdefault("device", {})
        self.channel = store.tables.setdefault("channel", {})
        self.bindings = store.tables.setdefault("user_device", {})  # (user_id, dev_id) → share_flag
        self.control = store.tables.setdefault("share_control", {})  # (user_id, dev_id) → can_control
        self.users = store.tables.setdefault("app_user", {})
        self.names = store.tables.setdefault("manufacturer", dict(NAMES))
        self.exception_rows = store.tables.setdefault("device_exception", [])

    def _owner(self, dev_id):
        for (user_id, d), flag in self.bindings.items():
            if d == dev_id and flag == 0 and user_id in self.users:
                return self.users[user_id]["mobile"]
        return None

    def _summary(self, d, user_id=None):
        no = d["manufacturer_no"]
        share = self.bindings.get((user_id, d["dev_id"])) if user_id is not None else None
        return DeviceSummary(
            d["dev_id"], d["name"], d["dev_type"], d["model"], no, self.names.get(no) if no else None, d["dev_ver"],
            bool(d["online"]), sum(1 for (dev, _) in self.channel if dev == d["dev_id"]), _seconds(d["last_seen_at"]),
            _seconds(d.get("created_at", 0.0)), self._owner(d["dev_id"]), share,
            None if user_id is None else self.control.get((user_id, d["dev_id"]), True))

    def _selected(self, f: DeviceFilter, d) -> bool:
        if f.user_id is not None and (f.user_id, d["dev_id"]) not in self.bindings:
            return False
        if f.online is not None and bool(d["online"]) != f.online:
            return False
        if f.q and not (f.q in d["dev_id"] or f.q.lower() in d["name"].lower() or f.q.lower() in d["model"].lower()):
            return False
        return all(value is None or d[column] == value for column, value in
                   (("manufacturer_no", f.manufacturer_no), ("model", f.model), ("dev_ver", f.dev_ver)))

    def page(self, f, sort, descending, offset, limit):
        if sort not in SORTS:
            return defer.fail(KeyError(sort))
        rows = sorted((self._summary(d, f.user_id) for d in self.device.values() if self._selected(f, d)),
                      key=lambda s: s.dev_id)
        present = [s for s in rows if getattr(s, sort) is not None]
        absent = [s for s in rows if getattr(s, sort) is None]
        present.sort(key=lambda s: getattr(s, sort), reverse=descending)
        rows = present + absent
        return defer.succeed((len(rows), rows[offset:offset + limit]))

    def watch(self, on_change, on_reset):
        """None: in memory there are no other nodes to hear, and nothing to hear them with (so no cache)."""
        return None

    def page_json(self, f, sort, descending, offset, limit, zone):
        def iso(seconds):
            if seconds is None:
                return None
            return datetime.datetime.fromtimestamp(seconds, zoneinfo.ZoneInfo(zone)).isoformat(timespec="seconds")

        def item(s):
            access = None
            if f.user_id is not None:
                access = "own" if s.share_flag == 0 else ("control" if s.can_control else "view")
            return (s.dev_id, s.online, json.dumps({
                "dev_id": s.dev_id, "name": s.name, "dev_type": s.dev_type, "model": s.model,
                "manufacturer_no": s.manufacturer_no, "manufacturer": s.manufacturer, "dev_ver": s.dev_ver,
                "channels": s.channels, "last_seen_at": iso(s.last_seen_at), "created_at": iso(s.created_at),
                "owner": s.owner, "access": access}, ensure_ascii=False))

        d = self.page(f, sort, descending, offset, limit)
        d.addCallback(lambda found: (found[0], [item(s) for s in found[1]]))
        return d

    def detail(self, dev_id):
        d = self.device.get(dev_id)
        if d is None:
            return defer.succeed(None)
        report = d.get("ability")
        addresses = dict(zip(("upnp_ip", "rtsp_upnp_port", "local_ip", "rtsp_local_port", "turn_relay_ip",
                              "rtsp_turn_relay_port"), d["addresses"]))
        addresses.update(upnp_reachable=d["upnp_reachable"], upnp_checked_at=d["upnp_checked_at"],
                         public_ip=d["public_ip"], public_port=d["public_port"], net_type=d["net_type"],
                         nat_type=d["nat_type"], cur_video_num=d["cur_video_num"])

        def flag(value):
            return bool(value) if value is not None else False

        abilities = dict.fromkeys(ABILITY_KEYS)
        abilities.update(channel_num=d["channel_num"], ptz_flag=False, estore_flag=False, motion_detection_flag=False,
                         infrared_detection_flag=False, manual_alarm_flag=False, dido_alarm_flag=False, dido_num=0)
        videos, didos = [], []
        if report is not None:
            abilities.update(ptz_flag=flag(report.PTZFlag), estore_flag=flag(report.EStoreFlag),
                             local_store_flag=report.LocalStoreFlag,
                             motion_detection_flag=flag(report.MotionDetectionFlag),
                             infrared_detection_flag=flag(report.InfraredDetectionFlag),
                             manual_alarm_flag=flag(report.ManualAlarmFlag), dido_alarm_flag=flag(report.DIDOAlarmFlag),
                             dido_num=report.DIDONum or 0)
            videos = sorted({(v.StreamType, v.FrameSize) for v in report.Video if v.StreamType in (1, 2)})
            didos = [(n, "") for n in range(report.DIDONum or 0)]
        channels = sorted(Channel(no, name if isinstance(name, str) else name.get("name", ""))
                          for (dev, no), name in self.channel.items() if dev == dev_id)
        shares = sorted((self.users[u]["mobile"], self.control.get((u, dev_id), True))
                        for (u, dev), flag_ in self.bindings.items()
                        if dev == dev_id and flag_ == 1 and u in self.users)
        return defer.succeed(DeviceDetail(self._summary(d), d["provisioned_by"], addresses, abilities, channels,
                                          videos, didos, shares, _seconds(d["registered_at"]),
                                          _seconds(d["last_login_at"])))

    def update(self, dev_id, **fields):
        unknown = set(fields) - set(EDITABLE)
        if unknown:
            return defer.fail(ValueError("not editable: %s" % ", ".join(sorted(unknown))))
        d = self.device.get(dev_id)
        if d is not None:
            d.update(fields)
        return defer.succeed(d is not None)

    def delete(self, dev_id):
        if self.device.pop(dev_id, None) is None:
            return defer.succeed(False)
        for table in ("channel", "user_device", "share_control"):
            rows = self.tables.setdefault(table, {})
            for key in [k for k in rows if dev_id in k]:
                del rows[key]
        alarms = self.tables.setdefault("alarm", [])
        alarms[:] = [a for a in alarms if a["dev_id"] != dev_id]
        self.exception_rows[:] = [e for e in self.exception_rows if e[0] != dev_id]
        return defer.succeed(True)

    def exceptions(self, dev_id, offset, limit):
        rows = [DeviceException(n + 1, *row) for n, row in enumerate(self.exception_rows)
                if not dev_id or row[0] == dev_id]
        rows.sort(key=lambda e: (e.at, e.exception_id), reverse=True)
        return defer.succeed((len(rows), rows[offset:offset + limit]))

    def _alarm_row(self, a):
        d = self.device.get(a["dev_id"], {})
        return AlarmRow(a["alarm_id"], a["dev_id"], d.get("name") or a["dev_id"], a["channel_no"], a["alarm_type"],
                        a["desc"], a["dido_no"], a["at"])

    def alarms(self, user_id, dev_id, since, until, offset, limit):
        rows = [self._alarm_row(a) for a in self.tables.setdefault("alarm", [])
                if (user_id is None or (user_id, a["dev_id"]) in self.bindings)
                and (not dev_id or a["dev_id"] == dev_id)
                and (since is None or a["at"] >= since) and (until is None or a["at"] <= until)
                and a["dev_id"] in self.device]
        rows.sort(key=lambda r: (r.at, r.alarm_id), reverse=True)
        return defer.succeed((len(rows), rows[offset:offset + limit]))

    def alarm(self, alarm_id):
        found = [a for a in self.tables.setdefault("alarm", [])
                 if a["alarm_id"] == alarm_id and a["dev_id"] in self.device]
        return defer.succeed(self._alarm_row(found[0]) if found else None)

    def manufacturers(self):
        return defer.succeed([(no, name, sum(1 for d in self.device.values() if d["manufacturer_no"] == no))
                              for no, name in sorted(self.names.items())])

    def add_manufacturer(self, manufacturer_no, name):
        if not (len(manufacturer_no) == 3 and manufacturer_no.isdigit()):
            return defer.fail(ValueError("a manufacturer number is three digits"))
        new = manufacturer_no not in self.names
        self.names[manufacturer_no] = name
        return defer.succeed(new)
