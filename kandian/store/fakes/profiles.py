"""In memory: :class:`kandian.store.profiles.ProfileStore` (device_profile, channel descriptions, streams).

A profile belongs to the device dict it was made for (the fake ``device``
table's row object): when the device is deleted, or deleted and made again,
the profile is gone — the real table's ``ON DELETE CASCADE``.
"""

from __future__ import annotations

import copy
import itertools
import json

from twisted.internet import defer

from ..devices import DEV_ID, DeviceExists
from ..fleet import DeviceException
from ..profiles import PROFILE_FIELDS, ChannelExists, ChannelRow, IdentityTaken, Profile, ProfileFilter
from .devices import new_device

_DEFAULTS = dict(description="", private=False, protocol="RTMP", tags=[], location=None, area=None,
                 auth_info=None, other=None, url=None, sn=None, mac=None)


def _seconds(value):
    return value.timestamp() if hasattr(value, "timestamp") else value


class FakeProfiles:
    def __init__(self, store):
        self.tables = store.tables
        self.device = self.tables.setdefault("device", {})
        self.channel = self.tables.setdefault("channel", {})  # (dev_id, channel_no) → name
        self.profile = self.tables.setdefault("device_profile", {})  # dev_id → (device row, dict)
        self.description = self.tables.setdefault("channel_description", {})  # (dev_id, channel_no) → text
        self.streams = self.tables.setdefault("stream_profile", {})
        self.exception_rows = self.tables.setdefault("device_exception", [])
        self._sequence = itertools.count(1)

    def _profile(self, dev_id):
        entry = self.profile.get(dev_id)
        if entry is None or self.device.get(dev_id) is not entry[0]:
            return None
        return entry[1]

    def create(self, dev_id, prefix, dev_key, title, fields, *, salt, created_via, now, sn=None, mac=None,
               channels=1):
        unknown = set(fields) - set(PROFILE_FIELDS)
        if unknown:
            return defer.fail(ValueError("not a profile field: %s" % ", ".join(sorted(unknown))))
        if dev_id is not None and not DEV_ID.match(dev_id):
            return defer.fail(ValueError("DevID must be 11 digits (§7.2): %r" % (dev_id,)))
        if dev_id is None and (len(prefix) != 3 or not prefix.isdigit()):
            return defer.fail(ValueError("the DevID prefix is three digits"))
        if not dev_key or not 1 <= channels <= 256:
            return defer.fail(ValueError("a DevKey and 1 to 256 channels"))
        for other in list(self.profile):
            p = self._profile(other)
            if p is not None and ((sn is not None and p["sn"] == sn) or (mac is not None and p["mac"] == mac)):
                return defer.fail(IdentityTaken("sn or mac taken"))
        number = dev_id
        while True:
            if dev_id is None:
                number = prefix + "%08d" % next(self._sequence)
            if number not in self.device:
                break
            if dev_id is not None:
                return defer.fail(DeviceExists("device %s already exists" % (dev_id,)))
        row = new_device(number, dev_key, name=title, channel_num=channels, created_at=now)
        self.device[number] = row
        for n in range(channels):
            self.channel[number, n] = ""
            self.description.pop((number, n), None)
        profile = dict(_DEFAULTS, key_salt=salt, created_via=created_via, sn=sn, mac=mac)
        profile.update(copy.deepcopy(fields))
        self.profile[number] = (row, profile)
        return defer.succeed(number)

    def by_identity(self, sn, mac):
        for dev_id in list(self.profile):
            p = self._profile(dev_id)
            if p is not None and ((sn is not None and p["sn"] == sn) or (mac is not None and p["mac"] == mac)):
                return defer.succeed(dev_id)
        return defer.succeed(None)

    def _row(self, dev_id) -> Profile:
        d = self.device[dev_id]
        p = self._profile(dev_id) or dict(_DEFAULTS, key_salt=None)
        return Profile(dev_id, d["name"], p["description"], p["private"], p["protocol"], list(p["tags"]),
                       copy.deepcopy(p["location"]), p["area"], copy.deepcopy(p["auth_info"]),
                       copy.deepcopy(p["other"]), p["url"], p["sn"], p["mac"], bool(d["online"]),
                       _seconds(d.get("created_at", 0.0)), _seconds(d.get("last_login_at")),
                       sum(1 for (dev, _) in self.channel if dev == dev_id), d["dev_key"], d["dev_ver"],
                       p["key_salt"])

    def get(self, dev_id):
        return defer.succeed(self._row(dev_id) if dev_id in self.device else None)

    def _selected(self, f: ProfileFilter, r: Profile) -> bool:
        if f.key_words and not (r.dev_id.startswith(f.key_words) or r.title.lower().startswith(f.key_words.lower())):
            return False
        if f.title and not r.title.lower().startswith(f.title.lower()):
            return False
        if f.tag is not None and f.tag not in r.tags:
            return False
        if f.online is not None and r.online != f.online:
            return False
        if f.private is not None and r.private != f.private:
            return False
        if f.dev_ids is not None and r.dev_id not in f.dev_ids:
            return False
        if f.auth_info is not None:
            given = r.auth_info if r.auth_info is not None else r.dev_key
            if json.dumps(given, sort_keys=True) != json.dumps(f.auth_info, sort_keys=True):
                return False
        if f.begin is not None and r.created_at < f.begin:
            return False
        return not (f.end is not None and r.created_at >= f.end)

    def page(self, f, offset, limit):
        rows = [r for r in (self._row(dev_id) for dev_id in sorted(self.device)) if self._selected(f, r)]
        return defer.succeed((len(rows), rows[offset:offset + limit]))

    def update(self, dev_id, *, title=None, dev_key=None, fields, salt):
        unknown = set(fields) - set(PROFILE_FIELDS)
        if unknown:
            return defer.fail(ValueError("not a profile field: %s" % ", ".join(sorted(unknown))))
        row = self.device.get(dev_id)
        if row is None:
            return defer.succeed(False)
        if title is not None:
            row["name"] = title
        if dev_key is not None:
            row["dev_key"] = dev_key
        if self._profile(dev_id) is None:
            self.profile[dev_id] = (row, dict(_DEFAULTS, key_salt=salt, created_via="lazy"))
        self.profile[dev_id][1].update(copy.deepcopy(fields))
        return defer.succeed(True)

    def key_salt(self, dev_id):
        p = self._profile(dev_id)
        return defer.succeed(p["key_salt"] if p is not None else None)

    def ensure_salt(self, dev_id, salt):
        row = self.device.get(dev_id)
        if row is None:
            return defer.succeed(None)
        if self._profile(dev_id) is None:
            self.profile[dev_id] = (row, dict(_DEFAULTS, key_salt=salt, created_via="lazy"))
        return defer.succeed(self.profile[dev_id][1]["key_salt"])

    def versions(self, limit=1000):
        return defer.succeed(sorted({d["dev_ver"] for d in self.device.values() if d["dev_ver"]})[:limit])

    # -- channels

    def channels(self, dev_id):
        if dev_id not in self.device:
            return defer.succeed(None)
        return defer.succeed([ChannelRow(n, name, self.description.get((dev_id, n), ""))
                              for (dev, n), name in sorted(self.channel.items()) if dev == dev_id])

    def add_channels(self, dev_id, channels):
        if dev_id not in self.device:
            return defer.succeed(False)
        numbers = [c[0] for c in channels]
        if len(set(numbers)) != len(numbers) or any((dev_id, n) in self.channel for n in numbers):
            return defer.fail(ChannelExists("%s has one of channels %s" % (dev_id, numbers)))
        for channel_no, name, description in channels:
            self.channel[dev_id, channel_no] = name
            self.description[dev_id, channel_no] = description
        return defer.succeed(True)

    def modify_channel(self, dev_id, channel_no, name, description):
        if (dev_id, channel_no) not in self.channel:
            return defer.succeed(False)
        self.channel[dev_id, channel_no] = name
        if description is not None:
            self.description[dev_id, channel_no] = description
        return defer.succeed(True)

    def delete_channel(self, dev_id, channel_no):
        if self.channel.pop((dev_id, channel_no), None) is None:
            return defer.succeed(False)
        self.description.pop((dev_id, channel_no), None)
        for key in [k for k in self.streams if k[:2] == (dev_id, channel_no)]:
            del self.streams[key]
        pictures = self.tables.get("api_picture", {})
        for key in [k for k in pictures if k[:2] == (dev_id, channel_no)]:
            del pictures[key]
        return defer.succeed(True)

    def set_streams(self, dev_id, channel_no, enabled):
        if (dev_id, channel_no) not in self.channel:
            return defer.succeed(False)
        for stream_type in (1, 2):
            held = self.streams.get((dev_id, channel_no, stream_type))
            row = dict(held) if isinstance(held, dict) else {"settings": held}
            row["enabled"] = enabled
            self.streams[dev_id, channel_no, stream_type] = row
        return defer.succeed(True)

    # -- status and messages

    def online(self, dev_ids):
        return defer.succeed({d: bool(self.device[d]["online"]) for d in dev_ids if d in self.device})

    def exceptions(self, dev_id, since, until, offset, limit):
        rows = [(n, e) for n, e in enumerate(self.exception_rows, 1)
                if e[0] == dev_id and since <= e[4] < until]
        rows.sort(key=lambda r: (r[1][4], r[0]))
        return defer.succeed((len(rows), [DeviceException(n, *e) for n, e in rows[offset:offset + limit]]))
