"""Devices and channels as the device-cloud video API describes them (spec/001 §1, §2, §8, §9, §11, §15).

A device of that API is a kandian device: its ``device_id`` the DevID, its
title the device's name, its ``auth_info`` the DevKey it logs in with
(§7.5.1; an object's compact JSON), with a description, tags, a location and
the like kept beside it (:mod:`kandian.store.profiles`).  One created
without a DevID is numbered ``<prefix><8 digits>``; one created with a
register code (§1.2) and an 11-digit ``sn`` takes that as its DevID.  A
channel's ``channel_id`` is its ChannelNo + 1 — the interface's business;
here channels are ChannelNos.  Who may do what is a :class:`~.devicekeys.Grant`'s.
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import shutil

from twisted.internet import defer, threads
from twisted.logger import Logger

from ..store.devices import DEV_ID, DeviceExists
from ..store.profiles import ChannelExists, IdentityTaken, ProfileFilter
from . import errors
from .devicekeys import KEY_TITLE, DeviceKeys, Grant
from .firmware import version_key

__all__ = ["DeviceProfiles", "ProfileFilter", "KEY_TITLE", "profile_fields", "paging"]

log = Logger()

MAX_TITLE = 64
MAX_REGISTER_TITLE = 32  # §1.2
MAX_DESC = 1024
MAX_URL = 1024
MAX_IDENTITY = 512  # §1.2 sn, mac
MAX_TAGS, MAX_TAG = 32, 64
MAX_JSON = 4096
MAX_DEV_KEY = 256  # what LOGIN_REQ's DevKey may carry
MAX_PAGE, MAX_PER_PAGE = 10_000, 100  # §1.5
MAX_IDS = 100  # §1.5 device_id
CHANNEL_TITLE = re.compile(r"^[A-Za-z0-9]{1,64}$")  # §2.3
RESERVED = ("interval", "auth", "route_to", "idsn", "activate_code")  # §1.1: "保留，选择无效"
_AREA = re.compile(r"^[0-9]{1,12}$")


def paging(page: int, per_page: int, max_page: int = MAX_PAGE, max_per_page: int = MAX_PER_PAGE) -> int:
    """The offset of *page* (from 1) of *per_page*; BadValue beyond the file's bounds."""
    if not 1 <= page <= max_page:
        raise errors.BadValue("page is 1 to %d" % max_page)
    if not 1 <= per_page <= max_per_page:
        raise errors.BadValue("per_page is 1 to %d" % max_per_page)
    return (page - 1) * per_page


def _text(body: dict, name: str, limit: int, *, required: bool = False, empty: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise errors.BadValue("%s is required" % name)
        return None
    if not isinstance(value, str):
        raise errors.BadValue("%s is a string" % name)
    if len(value) > limit or (not empty and not value.strip()):
        raise errors.BadValue("%s is %s%d characters at most" % (name, "" if empty else "1 to ", limit))
    if not value.isprintable():
        raise errors.BadValue("%s has a control character" % name)
    return value


def _json_size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def dev_key_of(auth_info) -> str:
    """The DevKey an ``auth_info`` stands for: a string itself, an object its compact JSON."""
    if isinstance(auth_info, str):
        return auth_info
    return json.dumps(auth_info, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def profile_fields(body: dict) -> tuple[str | None, dict]:
    """(title, profile fields) of a §1.1/§1.3 body, each checked; fields absent stay absent."""
    if not isinstance(body, dict):
        raise errors.BadValue("the body is a JSON object")
    title = _text(body, "title", MAX_TITLE, empty=False)
    fields: dict = {}
    desc = _text(body, "desc", MAX_DESC)
    if desc is not None:
        fields["description"] = desc
    if "private" in body and body["private"] is not None:
        if not isinstance(body["private"], bool):
            raise errors.BadValue("private is true or false")
        fields["private"] = body["private"]
    protocol = _text(body, "protocol", 16)
    if protocol is not None:
        if protocol.upper() != "RTMP":
            raise errors.BadValue("protocol must be RTMP (§1.1)")
        fields["protocol"] = "RTMP"
    if body.get("location") is not None:
        fields["location"] = _location(body["location"])
    if body.get("tags") is not None:
        tags = body["tags"]
        if (not isinstance(tags, list) or len(tags) > MAX_TAGS
                or not all(isinstance(t, str) and 0 < len(t) <= MAX_TAG and t.isprintable() for t in tags)):
            raise errors.BadValue("tags is a list of at most %d strings of 1 to %d characters" % (MAX_TAGS, MAX_TAG))
        fields["tags"] = list(dict.fromkeys(tags))
    if body.get("area") is not None:
        fields["area"] = _area(body["area"])
    if body.get("auth_info") is not None:
        auth_info = body["auth_info"]
        if isinstance(auth_info, str):
            if not auth_info.strip() or not auth_info.isprintable():
                raise errors.BadValue("auth_info must not be empty")
        elif not isinstance(auth_info, dict) or not auth_info:
            raise errors.BadValue("auth_info is a string or an object")
        if len(dev_key_of(auth_info)) > MAX_DEV_KEY:
            raise errors.BadValue("auth_info is %d characters at most" % MAX_DEV_KEY)
        fields["auth_info"] = auth_info
    if body.get("other") is not None:
        if not isinstance(body["other"], dict) or _json_size(body["other"]) > MAX_JSON:
            raise errors.BadValue("other is an object of at most %d characters" % MAX_JSON)
        fields["other"] = body["other"]
    url = _text(body, "url", MAX_URL)
    if url is not None:
        fields["url"] = url
    return title, fields


def _location(value) -> dict:
    bounds = {"ele": None, "lat": 90.0, "lon": 180.0}
    if not isinstance(value, dict) or not value or set(value) - set(bounds):
        raise errors.BadValue("location is an object of ele, lat, lon")
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number != number:
            raise errors.BadValue("location.%s is a number" % key)
        if bounds[key] is not None and abs(number) > bounds[key]:
            raise errors.BadValue("location.%s is out of range" % key)
    return dict(value)


def _area(value) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _AREA.match(text):
        raise errors.BadValue("area is an area number")
    return text


def _new_dev_key() -> str:
    return secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


class DeviceProfiles:
    def __init__(self, store, clock, *, keys: DeviceKeys, devices, zone, prefix: str = "899",
                 register_code: str = "", remove_files=None, throttle=None):
        """*devices*: :class:`kandian.core.devices.Devices` (who is online now, the reset of a removed
        camera); *zone*: the platform's ZoneInfo (``begin``/``end`` dates); *remove_files(dev_id)*: a
        Deferred that removes what the platform stored of a deleted device (§1.6); *throttle*: a
        FailureThrottle for wrong register codes."""
        self.store = store
        self.clock = clock
        self.keys = keys
        self.devices = devices
        self.zone = zone
        self.prefix = prefix
        self.register_code = register_code
        self.remove_files = remove_files
        self.throttle = throttle

    def now(self) -> float:
        return self.clock.seconds()

    def _live(self, profile):
        if not profile.online and self.devices.online(profile.dev_id):
            return profile._replace(online=True)
        return profile

    # -- §1.1, §1.2 create

    @defer.inlineCallbacks
    def create(self, grant: Grant, body: dict):
        """(DevID, device key) of a new device; BadValue, DeviceExists, Forbidden."""
        grant.require_master()
        title, fields = profile_fields(body)
        if title is None:
            raise errors.BadValue("title is required")
        dev_id = body.get("dev_id")  # kandian's: the DevID of a camera that has one
        if dev_id is not None and (not isinstance(dev_id, str) or not DEV_ID.match(dev_id)):
            raise errors.BadValue("dev_id is 11 digits")
        dev_key = dev_key_of(fields["auth_info"]) if "auth_info" in fields else _new_dev_key()
        if "auth_info" in fields:
            yield self._auth_info_free(fields["auth_info"])
        made = yield self._create(dev_id, dev_key, title, fields, created_via="api")
        log.info("{who} created device {dev_id}", who=grant.name, dev_id=made[0])
        return made

    @defer.inlineCallbacks
    def _auth_info_free(self, auth_info, dev_id: str | None = None):
        total, rows = yield self.store.profiles.page(ProfileFilter(auth_info=auth_info), 0, 2)
        if any(r.dev_id != dev_id for r in rows):
            raise errors.BadValue("auth_info is another device's (it is unique, §1.1)")

    @defer.inlineCallbacks
    def _create(self, dev_id, dev_key, title, fields, *, created_via, sn=None, mac=None):
        salt = self.keys.new_salt()
        try:
            made = yield self.store.profiles.create(dev_id, self.prefix, dev_key, title, fields, salt=salt,
                                                    created_via=created_via, now=self.now(), sn=sn, mac=mac)
        except DeviceExists:
            raise errors.DeviceExists("device %s already exists" % (dev_id,)) from None
        except IdentityTaken:
            raise errors.DeviceExists("another device has that sn or mac") from None
        except ValueError as e:
            raise errors.BadValue(str(e)) from None
        return made, self.keys.derive(made, salt)

    @defer.inlineCallbacks
    def register(self, code: str, body: dict, source: str | None = None):
        """§1.2: (DevID, device key) of the device *body*'s sn or mac names, made now if new.
        NotAvailable (no register code here), NotAuthenticated (a wrong one), TooManyFailures, BadValue."""
        if not self.register_code:
            raise errors.NotAvailable("no register code is configured ([onenet] register_code)")
        address, account = source or "?", "register-code"
        if self.throttle is not None and not self.throttle.allowed(address, account):
            raise errors.TooManyFailures("too many wrong register codes from this address",
                                         self.throttle.retry_after(address, account))
        if not isinstance(code, str) or not secrets.compare_digest(code.encode(), self.register_code.encode()):
            if self.throttle is not None:
                self.throttle.failed(address, account)
            raise errors.NotAuthenticated("wrong register_code")
        if not isinstance(body, dict):
            raise errors.BadValue("the body is a JSON object")
        sn = _text(body, "sn", MAX_IDENTITY, empty=False)
        mac = _text(body, "mac", MAX_IDENTITY, empty=False)
        if (sn is None) == (mac is None):
            raise errors.BadValue("one of sn and mac, not both (§1.2)")
        title = _text(body, "title", MAX_REGISTER_TITLE) or ""
        fields = {"area": _area(body["area"])} if body.get("area") is not None else {}
        known = yield self.store.profiles.by_identity(sn, mac)
        if known is not None:
            return known, (yield self.keys.key(known))
        dev_id = sn if sn is not None and DEV_ID.match(sn) else None
        made = yield self._create(dev_id, _new_dev_key(), title, fields, created_via="register_code", sn=sn,
                                  mac=mac)
        log.info("device {dev_id} registered with the register code", dev_id=made[0])
        return made

    # -- §1.3–§1.6

    @defer.inlineCallbacks
    def update(self, grant: Grant, dev_id: str, body: dict):
        grant.device(dev_id)
        title, fields = profile_fields(body)
        dev_key = None
        if "auth_info" in fields:
            yield self._auth_info_free(fields["auth_info"], dev_id)
            dev_key = dev_key_of(fields["auth_info"])
        found = yield self.store.profiles.update(dev_id, title=title, dev_key=dev_key, fields=fields,
                                                 salt=self.keys.new_salt())
        if not found:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        log.info("{who} changed device {dev_id}: {fields}", who=grant.name, dev_id=dev_id,
                 fields=", ".join(sorted(fields) + (["title"] if title is not None else [])))

    @defer.inlineCallbacks
    def get(self, grant: Grant, dev_id: str):
        """(Profile, [(title, key)])."""
        grant.device(dev_id)
        profile = yield self.store.profiles.get(dev_id)
        if profile is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        key = yield self.keys.key(dev_id, profile.key_salt)
        return self._live(profile), [(KEY_TITLE, key)]

    @defer.inlineCallbacks
    def page(self, grant: Grant, f: ProfileFilter, page: int = 1, per_page: int = 30):
        """(total, [Profile]) — a device key sees its device only."""
        offset = paging(page, per_page)
        if f.dev_ids is not None and len(f.dev_ids) > MAX_IDS:
            raise errors.BadValue("at most %d device ids" % MAX_IDS)
        scope = grant.scope()
        if scope is not None:
            ids = (scope,) if f.dev_ids is None or scope in f.dev_ids else ()
            f = ProfileFilter(f.key_words, f.tag, f.online, f.private, ids, f.auth_info, f.begin, f.end, f.title)
        total, rows = yield self.store.profiles.page(f, offset, per_page)
        return total, [self._live(r) for r in rows]

    def day(self, text: str, name: str) -> float:
        """The start of the day *text* (YYYY-MM-DD) in the platform's zone, POSIX seconds."""
        try:
            day = datetime.date.fromisoformat(text)
        except (TypeError, ValueError):
            raise errors.BadValue("%s is a date YYYY-MM-DD" % name) from None
        return datetime.datetime.combine(day, datetime.time(), self.zone).timestamp()

    @defer.inlineCallbacks
    def delete(self, grant: Grant, dev_id: str):
        """§1.6: the device and everything stored of it go."""
        grant.device(dev_id)
        found = yield self.store.fleet.delete(dev_id)
        if not found:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        self.keys.forget(dev_id)
        log.info("{who} deleted device {dev_id}", who=grant.name, dev_id=dev_id)
        if self.devices.online(dev_id):
            self.devices.reset_default(dev_id).addErrback(
                lambda f: log.info("device {dev_id}: RESET_DEFAULT after deletion: {why}", dev_id=dev_id,
                                   why=f.getErrorMessage()))
        if self.remove_files is not None:
            yield self.remove_files(dev_id)

    # -- §2 channels

    @defer.inlineCallbacks
    def channels(self, grant: Grant, dev_id: str):
        grant.device(dev_id)
        rows = yield self.store.profiles.channels(dev_id)
        if rows is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        return rows

    @defer.inlineCallbacks
    def add_channels(self, grant: Grant, dev_id: str, channel_nos: list, title: str, desc: str):
        """Add channels *channel_nos* (one, or §2.3's 1..channel_num) titled *title*; ChannelExists."""
        grant.device(dev_id)
        _channel_title(title)
        desc = _checked_desc(desc)
        if not channel_nos or len(channel_nos) > 256 or not all(0 <= n < 256 for n in channel_nos):
            raise errors.BadValue("channels are numbered 1 to 256")
        try:
            found = yield self.store.profiles.add_channels(dev_id, [(n, title, desc) for n in channel_nos])
        except ChannelExists:
            raise errors.ChannelExists("the channel already exists") from None
        if not found:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))

    @defer.inlineCallbacks
    def modify_channel(self, grant: Grant, dev_id: str, channel_no: int, title: str, desc: str | None):
        grant.device(dev_id)
        _channel_title(title)
        desc = _checked_desc(desc) if desc is not None else None
        found = yield self.store.profiles.modify_channel(dev_id, channel_no, title, desc)
        if not found:
            yield self._device_exists(dev_id)
            raise errors.NoSuchChannel("%s has no channel %s" % (dev_id, channel_no))

    @defer.inlineCallbacks
    def delete_channel(self, grant: Grant, dev_id: str, channel_no: int):
        grant.device(dev_id)
        found = yield self.store.profiles.delete_channel(dev_id, channel_no)
        if not found:
            yield self._device_exists(dev_id)
            raise errors.NoSuchChannel("%s has no channel %s" % (dev_id, channel_no))

    @defer.inlineCallbacks
    def _device_exists(self, dev_id: str):
        if (yield self.store.profiles.channels(dev_id)) is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))

    @defer.inlineCallbacks
    def camera(self, grant: Grant, dev_id: str, channel_no: int):
        """Whether the channel's streams are open (§15, §3.2's 39)."""
        grant.device(dev_id)
        target = yield self.store.relay.target(dev_id, channel_no, 1)
        if target is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        if not target.channel_exists:
            raise errors.NoSuchChannel("%s has no channel %s" % (dev_id, channel_no))
        return target.stream_enabled

    @defer.inlineCallbacks
    def set_camera(self, grant: Grant, dev_id: str, channel_no: int, on: bool):
        """§15: open or close a channel's streams (a closed one is refused by the relay, §10.2 403)."""
        grant.device(dev_id)
        found = yield self.store.profiles.set_streams(dev_id, channel_no, on)
        if not found:
            yield self._device_exists(dev_id)
            raise errors.NoSuchChannel("%s has no channel %s" % (dev_id, channel_no))
        log.info("{who} turned channel {channel} of {dev_id} {state}", who=grant.name, channel=channel_no,
                 dev_id=dev_id, state="on" if on else "off")

    # -- §8, §9, §11

    @defer.inlineCallbacks
    def online(self, grant: Grant, dev_ids: list):
        """{DevID: online} of those of *dev_ids* that exist and the key may see."""
        visible = [d for d in dev_ids if grant.master or d == grant.dev_id]
        stored = yield self.store.profiles.online(visible)
        return {d: bool(online or self.devices.online(d)) for d, online in stored.items()}

    @defer.inlineCallbacks
    def messages(self, grant: Grant, dev_id: str, since: float, until: float, page: int, per_page: int):
        """(total, [DeviceException]) — what the device reported of itself (§7.5.4) in [since, until)."""
        grant.device(dev_id)
        offset = paging(page, per_page)
        yield self._device_exists(dev_id)
        return (yield self.store.profiles.exceptions(dev_id, since, until, offset, per_page))

    @defer.inlineCallbacks
    def version(self, grant: Grant, dev_id: str | None):
        """§19: the device's DevVer (§7.5.1); without a device (master keys only), the newest DevVer the
        platform's devices run."""
        if dev_id is not None:
            grant.device(dev_id)
            profile = yield self.store.profiles.get(dev_id)
            if profile is None:
                raise errors.NoSuchDevice("no device %s" % (dev_id,))
            return profile.dev_ver or ""
        grant.require_master()
        versions = yield self.store.profiles.versions()
        known = [v for v in versions if version_key(v) is not None]  # V<protocol>_<date> (§7.5.1)
        return max(known, key=version_key) if known else (max(versions) if versions else "")

    @defer.inlineCallbacks
    def dev_key(self, grant: Grant, dev_id: str):
        """The DevKey the device logs in with (§11's token)."""
        grant.device(dev_id)
        profile = yield self.store.profiles.get(dev_id)
        if profile is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        return profile.dev_key


def _channel_title(title) -> None:
    if not isinstance(title, str) or not CHANNEL_TITLE.match(title):
        raise errors.BadValue("a channel's title is 1 to 64 letters and digits (§2.3)")


def _checked_desc(desc) -> str:
    if desc is None:
        return ""
    if not isinstance(desc, str) or len(desc) > MAX_DESC or not desc.isprintable():
        raise errors.BadValue("desc is at most %d characters" % MAX_DESC)
    return desc


def remover(*roots):
    """*remove_files* for :class:`DeviceProfiles`: removes ``<root>/<DevID>`` under each root, in a thread."""
    def remove(dev_id: str) -> defer.Deferred:
        if not DEV_ID.match(dev_id):
            return defer.fail(errors.BadValue(dev_id))

        def work():
            import os
            for root in roots:
                shutil.rmtree(os.path.join(root, dev_id), ignore_errors=True)
        return threads.deferToThread(work)
    return remove
