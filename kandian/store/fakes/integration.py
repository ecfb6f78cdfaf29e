"""In memory: :class:`kandian.store.integration.IntegrationStore` (tables cm_gather, cm_camera; reads device,
channel, stream_profile, picture_row, device_file)."""

from __future__ import annotations

from twisted.internet import defer

from ..integration import DEFAULTS, GATHER_SETTINGS, MAX_CHANNEL, CameraRow, GatherRow


def _name(value) -> str:
    """A fake channel row is its name (FakeDevices) or a dict (tests' put_device)."""
    return value if isinstance(value, str) else (value or {}).get("name", "")


class FakeIntegration:
    def __init__(self, store):
        self.tables = store.tables
        self.gather_rows = self.tables.setdefault("cm_gather", {})  # dev_id → dict
        self.camera_rows = self.tables.setdefault("cm_camera", {})  # (dev_id, channel_no) → dict

    @property
    def devices(self) -> dict:
        return self.tables.setdefault("device", {})

    @property
    def channels(self) -> dict:
        return self.tables.setdefault("channel", {})

    def _listed_gathers(self) -> list[str]:
        under_another = {k[0] for k, row in self.camera_rows.items() if row.get("gather_dev_id")}
        return sorted(d for d in self.devices if d not in under_another)

    def _gather(self, dev_id: str) -> GatherRow:
        d = self.devices[dev_id]
        g = self.gather_rows.get(dev_id, {})
        settings = {k: g.get(k, DEFAULTS[k]) for k in GATHER_SETTINGS}
        return GatherRow(dev_id, d.get("name", ""), d.get("model", ""), d.get("dev_ver"),
                         d.get("public_ip") or d.get("local_ip"), bool(d.get("online")), settings,
                         d.get("created_at"), g.get("updated_at", d.get("created_at")))

    def gathers(self, offset, limit):
        listed = self._listed_gathers()
        return defer.succeed((len(listed), [self._gather(d) for d in listed[offset:offset + limit]]))

    def gather(self, dev_id):
        return defer.succeed(self._gather(dev_id) if dev_id in self._listed_gathers() else None)

    def set_gather(self, dev_id, name, settings, now):
        if dev_id not in self.devices:
            return defer.succeed(False)
        if name is not None:
            self.devices[dev_id]["name"] = name
        row = self.gather_rows.setdefault(dev_id, dict(DEFAULTS))
        row.update({k: v for k, v in settings.items() if k in GATHER_SETTINGS and v is not None})
        row["updated_at"] = float(now)
        return defer.succeed(True)

    def _camera(self, dev_id, channel_no) -> CameraRow:
        d = self.devices[dev_id]
        k = self.camera_rows.get((dev_id, channel_no), {})
        gather = k.get("gather_dev_id") or dev_id
        profile = self.tables.get("stream_profile", {}).get((dev_id, channel_no, 1))
        enabled = profile.get("enabled", True) if isinstance(profile, dict) else True
        ability = d.get("ability")
        dual = any(getattr(v, "StreamType", None) == 2 for v in getattr(ability, "Video", ()) or ())
        pictures = [p for p in self.tables.get("picture_row", {}).values()
                    if p["dev_id"] == dev_id and p["channel_no"] == channel_no
                    and (dev_id, "pictures", p["file_name"]) in self.tables.get("device_file", {})]
        newest = max(pictures, key=lambda p: (p["received_at"], p["picture_id"]), default=None)
        return CameraRow(dev_id, channel_no, _name(self.channels[dev_id, channel_no]), d.get("name", ""), gather,
                         self.devices.get(gather, d).get("name", ""), d.get("local_ip") or d.get("public_ip"),
                         bool(d.get("online")), enabled, dual, k.get("clicks", 0),
                         newest["picture_id"] if newest else None, newest["file_name"] if newest else None,
                         k.get("created_at", d.get("created_at")), k.get("updated_at", d.get("created_at")),
                         self.tables.get("stream_proxy", {}).get(dev_id))

    def _listed_cameras(self) -> list[tuple[str, int]]:
        return sorted(key for key in self.channels if key[1] <= MAX_CHANNEL and key[0] in self.devices)

    def cameras(self, offset, limit):
        listed = self._listed_cameras()
        return defer.succeed((len(listed), [self._camera(*key) for key in listed[offset:offset + limit]]))

    def camera(self, dev_id, channel_no):
        found = (dev_id, channel_no) in self.channels and dev_id in self.devices and channel_no <= MAX_CHANNEL
        return defer.succeed(self._camera(dev_id, channel_no) if found else None)

    def _touch(self, dev_id, channel_no, now):
        created = self.devices[dev_id].get("created_at")
        row = self.camera_rows.setdefault((dev_id, channel_no), dict(clicks=0, created_at=created))
        row["updated_at"] = float(now)

    def rename_camera(self, dev_id, channel_no, name, now):
        if (dev_id, channel_no) not in self.channels:
            return defer.succeed(False)
        value = self.channels[dev_id, channel_no]
        if isinstance(value, dict):
            value["name"] = name
        else:
            self.channels[dev_id, channel_no] = name
        self._touch(dev_id, channel_no, now)
        return defer.succeed(True)

    def set_enabled(self, dev_id, channel_no, enabled, now):
        if (dev_id, channel_no) not in self.channels:
            return defer.succeed(False)
        profiles = self.tables.setdefault("stream_profile", {})
        for stream_type in (1, 2):
            profiles[dev_id, channel_no, stream_type] = {"enabled": bool(enabled)}
        self._touch(dev_id, channel_no, now)
        return defer.succeed(True)

    def clicked(self, dev_id, channel_no, now):
        if (dev_id, channel_no) in self.channels and dev_id in self.devices:
            created = self.devices[dev_id].get("created_at")
            row = self.camera_rows.setdefault((dev_id, channel_no),
                                              dict(clicks=0, created_at=created, updated_at=created))
            row["clicks"] = row.get("clicks", 0) + 1
        return defer.succeed(None)

    def set_camera_gather(self, dev_id, channel_no, gather_dev_id, now):
        row = self.camera_rows.setdefault((dev_id, channel_no), dict(clicks=0, created_at=float(now)))
        row.update(gather_dev_id=gather_dev_id, updated_at=float(now))
        return defer.succeed(None)

    def record_clicks(self, recording_ids):
        clicks = self.tables.setdefault("cm_record", {})
        return defer.succeed({r: clicks[r] for r in recording_ids if r in clicks})

    def record_clicked(self, recording_id):
        if recording_id in self.tables.get("recording", {}):
            clicks = self.tables.setdefault("cm_record", {})
            clicks[recording_id] = clicks.get(recording_id, 0) + 1
        return defer.succeed(None)

    def picture(self, picture_id):
        p = self.tables.get("picture_row", {}).get(picture_id)
        if p is None or (p["dev_id"], "pictures", p["file_name"]) not in self.tables.get("device_file", {}):
            return defer.succeed(None)
        return defer.succeed((p["dev_id"], p["file_name"]))
