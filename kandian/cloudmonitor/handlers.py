"""spec/002's endpoints over the core: each reads its parameters and answers the file's JSON, keys in its order.

The model (docs/compat.md): a gather is a kandian device, ``gather_id`` its
DevID as an integer and ``name_pc`` the DevID; a camera is a channel,
``camera_id`` = DevID × 1000 + ChannelNo (stable, an integer as the file
has it); a course is a recording schedule of a channel, a record a
recording.  The API key behind the token acts as an admin operator.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import re
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import unquote

from twisted.internet import defer

from ..core import errors
from ..core.fleet import Page
from . import results
from .results import Refusal

_START = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$")
_ID = re.compile(r"^[0-9]{1,18}$")
MAX_PER_PAGE = 200
CAMERA, MP4, PROXY = 0, 1, 2  # stream_prop
CHANNELS_PER_DEVICE = 1000  # camera_id = DevID * 1000 + ChannelNo


class Call(NamedTuple):
    params: dict  # str → str
    principal: object  # kandian.core.access.Principal (None for version and access_token)
    source: str | None


class Endpoint(NamedTuple):
    handler: Callable
    token: bool = True  # False: no access token needed


# -- ids

def gather_id(dev_id: str) -> int:
    return int(dev_id)


def camera_id(dev_id: str, channel_no: int) -> int:
    return int(dev_id) * CHANNELS_PER_DEVICE + channel_no


def _id(text: str) -> int:
    if not _ID.match(text):
        raise Refusal(results.NO_ID, "not an id: %r" % (text[:40],))
    return int(text)


def disptime(seconds: int) -> str:
    """The file's display length: ``01:00`` for 60 s, ``01:02:03`` from an hour on."""
    hours, rest = divmod(max(0, seconds), 3600)
    return ("%02d:%02d:%02d" % (hours, rest // 60, rest % 60)) if hours else "%02d:%02d" % (rest // 60, rest % 60)


def device_of_gather(text: str) -> str:
    number = _id(text)
    if number >= 10**11:
        raise Refusal(results.NO_ID, "no gather %s" % (number,))
    return "%011d" % number


def channel_of_camera(text: str) -> tuple[str, int]:
    number = _id(text)
    if number >= 10**11 * CHANNELS_PER_DEVICE:
        raise Refusal(results.NO_ID, "no camera %s" % (number,))
    return "%011d" % (number // CHANNELS_PER_DEVICE), number % CHANNELS_PER_DEVICE


def id_list(text: str, parse: Callable) -> list:
    """A comma-separated list of ids (``camera_id=1,2,3``)."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items) or len(items) > 100:
        raise Refusal(results.NO_ID, "a list of 1 to 100 ids, comma-separated")
    return [parse(item) for item in items]


# -- parameters

def required(params: dict, name: str, code=results.NO_ID) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise Refusal(code, "%s is required" % (name,))
    return value


def integer(params: dict, name: str, default: int | None = None, low: int = 0, high: int = 2**31 - 1) -> int | None:
    value = params.get(name, "").strip()
    if not value:
        return default
    if not re.fullmatch(r"-?[0-9]{1,10}", value) or not low <= int(value) <= high:
        raise Refusal(results.BAD_PARAMETER, "%s is an integer from %d to %d" % (name, low, high))
    return int(value)


def paging(params: dict) -> tuple[int, int]:
    return integer(params, "cur", 1, 1), integer(params, "per", 10, 1, MAX_PER_PAGE)


class Handlers:
    def __init__(self, core, zone, *, storage_addr: Callable[[], str], signer, player, loop=None):
        """*storage_addr()*: this listener's base URL; *signer*: signs and checks the
        storage paths (:class:`kandian.cloudmonitor.storage.Signer`); *player*: the
        player pages (:class:`kandian.cloudmonitor.player.Player`)."""
        self.core = core
        self.zone = zone
        self.storage_addr = storage_addr
        self.signer = signer
        self.player = player
        self.loop = loop
        self.server = "%s %s %s" % (platform.system(), ".".join(platform.release().split(".")[:2]),
                                    platform.machine())

    def endpoints(self) -> dict[str, Endpoint]:
        return {
            "version": Endpoint(self.version, token=False),
            "access_token": Endpoint(self.access_token, token=False),
            "list_gather": Endpoint(self.list_gather),
            "mod_gather": Endpoint(self.mod_gather),
            "list_camera": Endpoint(self.list_camera),
            "add_camera": Endpoint(self.add_camera),
            "mod_camera": Endpoint(self.mod_camera),
            "del_camera": Endpoint(self.del_camera),
            "get_camera_status": Endpoint(self.get_camera_status),
            "start_camera": Endpoint(self.start_camera),
            "stop_camera": Endpoint(self.stop_camera),
            "list_record": Endpoint(self.list_record),
            "del_record": Endpoint(self.del_record),
            "list_course": Endpoint(self.list_course),
            "add_course": Endpoint(self.add_course),
            "mod_course": Endpoint(self.mod_course),
            "del_course": Endpoint(self.del_course),
            "play_camera": Endpoint(self.play_camera),
            "play_record": Endpoint(self.play_record),
        }

    def when(self, seconds: float | None) -> str:
        if seconds is None:
            return ""
        return datetime.datetime.fromtimestamp(seconds, self.zone).strftime("%Y-%m-%d %H:%M:%S")

    @staticmethod
    def ok(**fields) -> dict:
        return {"err_code": 0, "err_msg": "OK", **fields}

    @staticmethod
    def page(page, *, as_text: bool, **more) -> dict:
        """The pagination fields of the file: list_gather's are integers, the other lists' cur_page and
        per_page strings (its examples, word for word)."""
        max_page = math.ceil(page.total / page.per_page)
        cur, per = (str(page.page), str(page.per_page)) if as_text else (page.page, page.per_page)
        return {"err_code": 0, "err_msg": "OK", "total_num": page.total, "max_page": max_page, "cur_page": cur,
                "per_page": per, **more}

    # -- §3.1, §3.2

    def version(self, call: Call) -> dict:
        return {"API": "v1", "Name": "云监控", "Version": "1.1.0", "Server": self.server}

    @defer.inlineCallbacks
    def access_token(self, call: Call):
        unionid = call.params.get("unionid", "").strip()
        if not unionid:
            raise Refusal(results.NO_UNIONID, "no unionid")
        token = yield self.core.apikeys.access_token(unionid)
        return self.ok(token=token.token, expires=token.expires_in)

    # -- §3.3, §3.4 gathers

    @defer.inlineCallbacks
    def list_gather(self, call: Call):
        cur, per = paging(call.params)
        page = yield self.core.integration.gathers(call.principal, cur, per)
        return self.page(page, as_text=False, data=[self.gather(row) for row in page.items])

    def gather(self, row) -> dict:
        s = row.settings
        return {"gather_id": gather_id(row.dev_id), "mac_addr": "", "ip_addr": row.ip or "", "name_pc": row.dev_id,
                "name_set": row.name, "os_name": row.dev_ver or row.model or "", "main_rate": s["main_rate"],
                "sub_rate": s["sub_rate"], "auto_dvr": s["auto_dvr"], "auto_fds": s["auto_fds"],
                "slice_val": s["slice_val"], "inter_val": s["inter_val"], "snap_val": s["snap_val"],
                "status": 1 if row.online else 0, "created": self.when(row.created_at),
                "updated": self.when(row.updated_at)}

    @defer.inlineCallbacks
    def mod_gather(self, call: Call):
        p = call.params
        dev_id = device_of_gather(required(p, "gather_id"))
        settings = {key: integer(p, key) for key in ("main_rate", "sub_rate", "auto_dvr", "auto_fds", "slice_val",
                                                    "inter_val", "snap_val") if p.get(key, "").strip()}
        name = p.get("name_set", "").strip() or None
        yield self.core.integration.set_gather(call.principal, dev_id, name, settings)
        return self.ok()

    # -- §3.5–§3.11 cameras

    @defer.inlineCallbacks
    def list_camera(self, call: Call):
        cur, per = paging(call.params)
        page = yield self.core.integration.cameras(call.principal, cur, per)
        return self.page(page, as_text=True, storage_addr=self.storage_addr(),
                         data=[self.camera(row) for row in page.items])

    def camera(self, row) -> dict:
        image = self.signer.picture_path(row.picture_id) if row.picture_id is not None else ""
        return {"camera_id": camera_id(row.dev_id, row.channel_no),
                "camera_name": row.name or row.device_name or "%s_%d" % (row.dev_id, row.channel_no),
                "image_id": row.picture_id or 0, "image_fdfs": image, "gather_id": gather_id(row.gather_dev_id),
                "name_set": row.gather_name, "stream_prop": self.stream_prop(row.proxy_url),
                "stream_url": row.proxy_url if self.stream_prop(row.proxy_url) == PROXY else "",
                "stream_mp4": self.mp4_path(row.proxy_url),
                "device_ip": row.local_ip or "", "device_user": "", "device_pass": "",
                # the file spells it both ways (its example device_cmd_prot, its table device_cmd_port)
                "device_cmd_prot": 0, "device_cmd_port": 0, "device_mirror": 0, "device_osd": 0,
                "device_twice": 1 if row.dual_stream else 0, "device_show": 1,
                "status": 1 if row.online and row.enabled else 0, "clicks": row.clicks,
                "created": self.when(row.created_at), "updated": self.when(row.updated_at)}

    @defer.inlineCallbacks
    def add_camera(self, call: Call):
        """Only "MP4 file" and "stream forwarding" channels may be added (the file's §3.6)."""
        p = call.params
        name = required(p, "camera_name", results.NO_NAME)
        gather = device_of_gather(required(p, "gather_id"))
        prop = integer(p, "stream_prop", None, MP4, PROXY)
        if prop is None:
            raise Refusal(results.BAD_PARAMETER, "stream_prop is 1 (MP4 file) or 2 (stream forwarding)")
        yield self.core.integration.gather(call.principal, gather)
        if prop == PROXY:
            dev_id = yield self.core.proxies.add(required(p, "stream_url", results.BAD_PARAMETER), name,
                                                 call.principal)
        else:
            dev_id = yield self.mp4(call.principal, required(p, "stream_mp4", results.BAD_PARAMETER), name)
        yield self.core.integration.listed_under(dev_id, 0, gather)
        return self.ok(camera_id=camera_id(dev_id, 0), transmit="OK")

    def mp4(self, principal, path: str, name: str):
        """A stream proxy fed by the MP4 loop server with the file *path* of the MP4 directory."""
        if self.loop is None or self.loop.port is None:
            raise Refusal(results.BAD_PARAMETER, "MP4 channels are off ([media] file_server)")
        file_name = self.loop.file_of(path)
        if file_name is None:
            raise Refusal(results.BAD_PARAMETER, "no MP4 file %r in %s" % (path[:120], self.loop.directory))
        return self.core.proxies.add(self.loop.url(file_name), name, principal)

    def loop_prefix(self) -> str | None:
        return self.loop.url("") if self.loop is not None and self.loop.port is not None else None

    def stream_prop(self, url: str | None) -> int:
        if not url:
            return CAMERA
        prefix = self.loop_prefix()
        return MP4 if prefix and url.startswith(prefix) else PROXY

    def mp4_path(self, url: str | None) -> str:
        if self.stream_prop(url) != MP4:
            return ""
        return os.path.join(self.loop.directory, unquote(url[len(self.loop_prefix()):]))

    @defer.inlineCallbacks
    def mod_camera(self, call: Call):
        p = call.params
        dev_id, channel_no = channel_of_camera(required(p, "camera_id"))
        row = yield self.core.integration.camera(call.principal, dev_id, channel_no)
        prop = integer(p, "stream_prop", None, CAMERA, PROXY)
        kind = self.stream_prop(row.proxy_url)
        if prop is not None and prop != kind:
            raise Refusal(results.BAD_PARAMETER, "camera %s is stream_prop %d; it cannot become %d"
                          % (camera_id(dev_id, channel_no), kind, prop))
        url = p.get("stream_url", "").strip()
        if kind == PROXY and url and url != row.proxy_url:
            yield self.core.proxies.set_url(dev_id, url, call.principal)
        mp4 = p.get("stream_mp4", "").strip()
        if kind == MP4 and mp4 and mp4 != self.mp4_path(row.proxy_url):
            file_name = self.loop.file_of(mp4)
            if file_name is None:
                raise Refusal(results.BAD_PARAMETER, "no MP4 file %r in %s" % (mp4[:120], self.loop.directory))
            yield self.core.proxies.set_url(dev_id, self.loop.url(file_name), call.principal)
        name = p.get("camera_name", "").strip()
        if name:
            yield self.core.integration.rename_camera(call.principal, dev_id, channel_no, name)
        return self.ok(transmit="OK")

    @defer.inlineCallbacks
    def del_camera(self, call: Call):
        """A stream-proxy channel goes with all of it; a camera's channel stays (it is the camera's), its
        recordings and schedules go."""
        channels = id_list(required(call.params, "camera_id"), channel_of_camera)
        rows = []
        for dev_id, channel_no in channels:  # every id first: nothing is deleted for a list with an unknown id
            rows.append((yield self.core.integration.camera(call.principal, dev_id, channel_no)))
        for row in rows:
            if row.proxy_url:
                yield self.core.fleet.delete(call.principal, row.dev_id)
            else:
                yield self.forget_channel(call.principal, row.dev_id, row.channel_no)
        return self.ok()

    @defer.inlineCallbacks
    def forget_channel(self, principal, dev_id: str, channel_no: int):
        """What deleting a camera's channel deletes: its schedules, then its recordings (those being written
        end with their window; they stay)."""
        for window in (yield self.core.schedules.list(principal, dev_id, channel_no)):
            yield self.core.schedules.delete(principal, window.schedule_id)
        while True:
            page = yield self.core.recordings.list(principal, dev_id, channel_no, page=1, per_page=200)
            done = [r for r in page.items if r.complete]
            for r in done:
                yield self.core.recordings.delete(principal, r.recording_id)
            if len(page.items) < 200 or not done:
                break

    @defer.inlineCallbacks
    def get_camera_status(self, call: Call):
        dev_id, channel_no = channel_of_camera(required(call.params, "camera_id"))
        row = yield self.core.integration.camera(call.principal, dev_id, channel_no)
        return self.ok(camera_id=camera_id(dev_id, channel_no), status=1 if row.online and row.enabled else 0)

    @defer.inlineCallbacks
    def _set_enabled(self, call: Call, enabled: bool):
        dev_id, channel_no = channel_of_camera(required(call.params, "camera_id"))
        yield self.core.integration.set_enabled(call.principal, dev_id, channel_no, enabled)
        return self.ok(transmit="OK")

    def start_camera(self, call: Call):
        return self._set_enabled(call, True)

    def stop_camera(self, call: Call):
        return self._set_enabled(call, False)

    # -- §3.12, §3.13 records = platform recordings

    @defer.inlineCallbacks
    def list_record(self, call: Call):
        cur, per = paging(call.params)
        page = yield self.core.recordings.list(call.principal, page=cur, per_page=per)
        cameras = {}
        for r in page.items:
            if (r.dev_id, r.channel_no) not in cameras:
                cameras[r.dev_id, r.channel_no] = yield self._camera_or_none(call.principal, r.dev_id, r.channel_no)
        clicks = yield self.core.integration.record_clicks([r.recording_id for r in page.items])
        data = [self.record(r, cameras[r.dev_id, r.channel_no], clicks.get(r.recording_id, 0)) for r in page.items]
        return self.page(page, as_text=True, storage_addr=self.storage_addr(), data=data)

    def _camera_or_none(self, principal, dev_id: str, channel_no: int) -> defer.Deferred:
        """The camera a recording is of (None: its channel or device is gone; its recordings stay)."""
        d = self.core.integration.camera(principal, dev_id, channel_no)
        return d.addErrback(lambda f: f.trap(errors.NoSuchChannel, errors.NoSuchDevice) and None)

    def record(self, r, camera, clicks: int) -> dict:
        gather = camera.gather_dev_id if camera is not None else r.dev_id
        name = (camera.name or camera.device_name) if camera is not None else ""
        duration = int(round(r.duration))
        return {"record_id": r.recording_id, "gather_id": gather_id(gather),
                "camera_id": camera_id(r.dev_id, r.channel_no),
                "camera_name": name or "%s_%d" % (r.dev_id, r.channel_no),
                "file_fdfs": self.signer.record_path(r.recording_id) if r.complete else "",
                "image_fdfs": self.signer.snapshot_path(r.recording_id) if r.snapshot else "",
                "file_size": str(r.size), "duration": str(duration), "disptime": disptime(duration),
                "clicks": clicks, "created": self.when(r.started_at), "updated": self.when(r.ended_at or r.started_at)}

    @defer.inlineCallbacks
    def del_record(self, call: Call):
        """Deletes each recording: its row, its file, its snapshot (the file's §3.13)."""
        ids = id_list(required(call.params, "record_id"), _id)
        for recording_id in ids:  # every id first: nothing is deleted for a list with an unknown id
            yield self.core.recordings.get(call.principal, recording_id)
        for recording_id in ids:
            yield self.core.recordings.delete(call.principal, recording_id)
        return self.ok()

    # -- §3.14–§3.17 courses = recording schedules of a channel

    @defer.inlineCallbacks
    def list_course(self, call: Call):
        p = call.params
        dev_id, channel_no = channel_of_camera(required(p, "camera_id"))
        cur, per = paging(p)
        yield self.core.integration.camera(call.principal, dev_id, channel_no)
        windows = yield self.core.schedules.list(call.principal, dev_id, channel_no)
        items = windows[(cur - 1) * per:cur * per]
        page = Page(len(windows), cur, per, items)
        return self.page(page, as_text=True, data=[self.course(w) for w in items])

    def course(self, w) -> dict:
        day = datetime.datetime.fromtimestamp(w.created_at, self.zone).date()
        start = datetime.datetime.combine(day, datetime.time(), self.zone) + datetime.timedelta(seconds=w.start)
        end = start + datetime.timedelta(seconds=w.duration)
        return {"course_id": w.schedule_id, "camera_id": camera_id(w.dev_id, w.channel_no), "repeat_id": 2,
                "week_id": w.weekday,
                # the file spells it both ways (its example elapse_sec, its table elapsed_sec)
                "elapse_sec": w.duration, "elapsed_sec": w.duration,
                "start_time": start.strftime("%Y-%m-%d %H:%M:%S"), "end_time": end.strftime("%Y-%m-%d %H:%M:%S"),
                "created": self.when(w.created_at), "updated": self.when(w.updated_at)}

    @staticmethod
    def window(p: dict) -> tuple[int, str, int]:
        """(week_id, start_time, seconds) of add_course/mod_course, as the file spells them."""
        week = p.get("week_id", "").strip()
        if not re.fullmatch(r"[0-6]", week):
            raise Refusal(results.BAD_TIME, "week_id is 0 (Sunday) to 6 (Saturday)")
        start = p.get("start_time", "").strip()
        if not _START.match(start):
            raise Refusal(results.BAD_TIME, "start_time is HH:MM:SS, 00:00:00 to 23:59:59")
        seconds = (p.get("elapsed_sec") or p.get("elapse_sec") or "").strip()
        if not re.fullmatch(r"[0-9]{1,6}", seconds) or int(seconds) <= 0:
            raise Refusal(results.BAD_PARAMETER, "elapsed_sec is a number of seconds greater than 0")
        return int(week), start, int(seconds)

    @defer.inlineCallbacks
    def add_course(self, call: Call):
        p = call.params
        dev_id, channel_no = channel_of_camera(required(p, "camera_id"))
        week, start, seconds = self.window(p)
        yield self.core.integration.camera(call.principal, dev_id, channel_no)
        made = yield self.core.schedules.add(call.principal, dev_id, channel_no, week, start, seconds)
        return self.ok(course_id=made.schedule_id, camera_id=camera_id(dev_id, channel_no), transmit="OK")

    @defer.inlineCallbacks
    def mod_course(self, call: Call):
        p = call.params
        course = _id(required(p, "course_id"))
        dev_id, channel_no = channel_of_camera(required(p, "camera_id"))
        week, start, seconds = self.window(p)
        yield self.core.schedules.get(call.principal, course, dev_id, channel_no)
        moved = yield self.core.schedules.update(call.principal, course, week, start, seconds)
        return self.ok(course_id=moved.schedule_id, camera_id=camera_id(dev_id, channel_no), transmit="OK")

    @defer.inlineCallbacks
    def del_course(self, call: Call):
        ids = id_list(required(call.params, "course_id"), _id)
        for course in ids:  # every id first
            yield self.core.schedules.get(call.principal, course)
        for course in ids:
            yield self.core.schedules.delete(call.principal, course)
        return self.ok(transmit="OK")

    @defer.inlineCallbacks
    def play_camera(self, call: Call):
        """The URL of the player page (an offline camera's too: the page says it is offline)."""
        p = call.params
        dev_id, channel_no = channel_of_camera(required(p, "camera_id"))
        width, height = integer(p, "width", 850, 16, 4096), integer(p, "height", 550, 16, 4096)
        yield self.core.integration.camera(call.principal, dev_id, channel_no)
        yield self.core.integration.clicked(dev_id, channel_no)
        return self.ok(play_url=self.player.url(camera_id(dev_id, channel_no), width, height))

    @defer.inlineCallbacks
    def play_record(self, call: Call):
        """The URL of the player page of a recording (VOD: seekable in the page)."""
        p = call.params
        recording_id = _id(required(p, "record_id"))
        width, height = integer(p, "width", 850, 16, 4096), integer(p, "height", 550, 16, 4096)
        found = yield self.core.recordings.get(call.principal, recording_id)
        if not found.complete:
            raise Refusal(results.BAD_PARAMETER, "record %d is still being recorded" % recording_id)
        yield self.core.integration.record_clicked(recording_id)
        return self.ok(play_url=self.player.record_url(recording_id, width, height))
