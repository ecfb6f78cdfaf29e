"""Pictures and objects stored through the device-cloud video API, and the storage used (spec/001 §5, §16, §18).

Files live under ``[files] root``::

    api-pictures/<DevID>/<ChannelNo>/<name>.<jpg|png>   §5 (uploaded, or snapped by the platform)
    api-objects/<name>                                  §16 the product's public objects
    tmp/                                                uploads being written

An upload is at most ``max_size`` bytes (the interface refuses a larger body
before reading it).  It is copied from the request's body to ``tmp/`` in a
thread — never on the reactor — hashed on the way, flushed, and renamed into
place before its row is written; a refused row removes the file again.
Names are checked here (one path segment, letters, digits, ``._-``), so no
name climbs out of its directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from typing import NamedTuple

from twisted.internet import defer, threads
from twisted.logger import Logger

from ..store.apifiles import NameTaken, ObjectRow, PictureRow
from ..store.devices import DEV_ID
from . import errors
from .devicekeys import Grant
from .profiles import paging

log = Logger()

PICTURES, OBJECTS, TMP = "api-pictures", "api-objects", "tmp"
FORMATS = ("jpg", "png")
PICTURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
OBJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_OBJECT_NAME = 256  # §16 1002
MAX_DESC = 1024  # §16 1003


class BadObjectName(errors.BadValue):
    """§16's 1001: a name with a character other than letters, digits and ``._-``."""


class ObjectNameTooLong(errors.BadValue):
    """§16's 1002."""


class ObjectDescTooLong(errors.BadValue):
    """§16's 1003."""


class Stored(NamedTuple):
    size: int
    sha256: str


def _copy(source, path: str, tmp_dir: str, limit: int, fsync: bool) -> Stored:
    """Copy *source* (a readable binary file) to *path* through *tmp_dir*; runs in a thread."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.makedirs(tmp_dir, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="api-")
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = source.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise errors.FileTooLarge("over %d bytes" % limit)
                digest.update(chunk)
                out.write(chunk)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return Stored(size, digest.hexdigest())


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class ApiFiles:
    def __init__(self, store, clock, root: str, *, max_size: int = 8 * 1024 * 1024, capacity: int = 0,
                 fsync: bool = True, to_thread=threads.deferToThread):
        """*root*: ``[files] root``; *capacity*: §18.1's total in bytes (0: the file system's size)."""
        self.store = store
        self.clock = clock
        self.root = root
        self.max_size = max_size
        self.total_capacity = capacity
        self.fsync = fsync
        self.to_thread = to_thread

    def now(self) -> float:
        return self.clock.seconds()

    # -- paths

    def picture_path(self, row: PictureRow) -> str:
        return os.path.join(self.root, PICTURES, row.dev_id, str(row.channel_no), "%s.%s" % (row.name, row.format))

    def object_path(self, name: str) -> str:
        return os.path.join(self.root, OBJECTS, name)

    def device_dirs(self) -> tuple[str, ...]:
        """Where a device's files are, each ``<dir>/<DevID>`` (for the removal of a deleted device)."""
        return (os.path.join(self.root, PICTURES), os.path.join(self.root, "pictures"))

    @defer.inlineCallbacks
    def _store(self, source, path: str):
        try:
            stored = yield self.to_thread(_copy, source, path, os.path.join(self.root, TMP), self.max_size,
                                          self.fsync)
        except OSError as e:
            log.error("API upload to {path} failed: {why}", path=path, why=e.strerror or str(e))
            raise errors.DeviceRefused("the file could not be stored") from None
        return stored

    # -- §5 pictures

    @defer.inlineCallbacks
    def add_picture(self, grant: Grant, dev_id: str, channel_no: int, fmt: str, name: str, desc: str, source):
        """Store a picture read from *source*; FileExists for a name the channel has, NoSuchChannel."""
        grant.device(dev_id)
        if fmt not in FORMATS:
            raise errors.BadValue("format is jpg or png")
        if not isinstance(name, str) or not PICTURE_NAME.match(name):
            raise errors.BadValue("name is 1 to 128 letters, digits and ._- (not starting with . _ -)")
        if not isinstance(desc, str) or len(desc) > MAX_DESC or not desc.isprintable():
            raise errors.BadValue("desc is at most %d characters" % MAX_DESC)
        if not DEV_ID.match(dev_id):
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        if (yield self.store.api_files.picture(dev_id, channel_no, name)) is not None:
            raise errors.FileExists("the channel has a picture named %s" % (name,))
        row = PictureRow(dev_id, channel_no, name, fmt, 0, "", desc, self.now())
        path = self.picture_path(row)
        stored = yield self._store(source, path + ".new")
        row = row._replace(size=stored.size, sha256=stored.sha256)
        try:
            added = yield self.store.api_files.add_picture(row)
        except NameTaken:
            yield self.to_thread(_unlink, path + ".new")
            raise errors.FileExists("the channel has a picture named %s" % (name,)) from None
        except BaseException:
            yield self.to_thread(_unlink, path + ".new")
            raise
        if not added:
            yield self.to_thread(_unlink, path + ".new")
            raise errors.NoSuchChannel("%s has no channel %s" % (dev_id, channel_no))
        yield self.to_thread(os.replace, path + ".new", path)
        log.info("{who} stored picture {name} of {dev_id} channel {channel} ({size} bytes)", who=grant.name,
                 name=name, dev_id=dev_id, channel=channel_no, size=stored.size)
        return row

    @defer.inlineCallbacks
    def pictures(self, grant: Grant, dev_id: str, channel_no: int, since, until, page: int, per_page: int):
        grant.device(dev_id)
        offset = paging(page, per_page, max_per_page=1000)
        return (yield self.store.api_files.pictures(dev_id, channel_no, since, until, offset, per_page))

    @defer.inlineCallbacks
    def picture(self, grant: Grant | None, dev_id: str, channel_no: int, name: str):
        """The PictureRow; NoSuchFile.  *grant* None: a signed URL already said who may."""
        if grant is not None:
            grant.device(dev_id)
        row = yield self.store.api_files.picture(dev_id, channel_no, name)
        if row is None:
            raise errors.NoSuchFile("no picture %s" % (name[:128],))
        return row

    @defer.inlineCallbacks
    def delete_picture(self, grant: Grant, dev_id: str, channel_no: int, name: str):
        grant.device(dev_id)
        row = yield self.store.api_files.delete_picture(dev_id, channel_no, name)
        if row is None:
            raise errors.NoSuchFile("no picture %s" % (name[:128],))
        yield self.to_thread(_unlink, self.picture_path(row))
        log.info("{who} deleted picture {name} of {dev_id}", who=grant.name, name=name, dev_id=dev_id)

    # -- §16 objects

    @staticmethod
    def _object_name(name) -> str:
        if not isinstance(name, str) or not name:
            raise errors.BadValue("name is required")
        if len(name) > MAX_OBJECT_NAME:
            raise ObjectNameTooLong("a name is %d characters at most" % MAX_OBJECT_NAME)
        if not OBJECT_NAME.match(name):
            raise BadObjectName("a name is letters, digits and ._- (not starting with . _ -)")
        return name

    @defer.inlineCallbacks
    def put_object(self, grant: Grant, name: str, desc: str, source):
        grant.require_master()
        name = self._object_name(name)
        if not isinstance(desc, str) or len(desc) > MAX_DESC:
            raise ObjectDescTooLong("desc is %d characters at most" % MAX_DESC)
        if (yield self.store.api_files.object(name)) is not None:
            raise errors.FileExists("an object named %s exists" % (name,))
        path = self.object_path(name)
        stored = yield self._store(source, path + ".new")
        try:
            yield self.store.api_files.add_object(ObjectRow(name, stored.size, stored.sha256, desc, self.now()))
        except NameTaken:
            yield self.to_thread(_unlink, path + ".new")
            raise errors.FileExists("an object named %s exists" % (name,)) from None
        except BaseException:
            yield self.to_thread(_unlink, path + ".new")
            raise
        yield self.to_thread(os.replace, path + ".new", path)
        log.info("{who} stored object {name} ({size} bytes)", who=grant.name, name=name, size=stored.size)

    @defer.inlineCallbacks
    def object(self, grant: Grant, name: str):
        grant.require_master()
        row = yield self.store.api_files.object(self._object_name(name))
        if row is None:
            raise errors.NoSuchFile("no object %s" % (name,))
        return row

    @defer.inlineCallbacks
    def objects(self, grant: Grant, prefix: str | None, page: int, per_page: int):
        grant.require_master()
        offset = paging(page, per_page, max_per_page=1000)
        return (yield self.store.api_files.objects(prefix or None, offset, per_page))

    @defer.inlineCallbacks
    def delete_object(self, grant: Grant, name: str):
        grant.require_master()
        name = self._object_name(name)
        if not (yield self.store.api_files.delete_object(name)):
            raise errors.NoSuchFile("no object %s" % (name,))
        yield self.to_thread(_unlink, self.object_path(name))
        log.info("{who} deleted object {name}", who=grant.name, name=name)

    # -- §18 storage

    @defer.inlineCallbacks
    def capacity(self, grant: Grant):
        """(total, used) bytes."""
        grant.require_master()
        used = yield self.store.api_files.used()
        total = self.total_capacity
        if not total:
            os.makedirs(self.root, exist_ok=True)
            total = (yield self.to_thread(shutil.disk_usage, self.root)).total
        return total, used

    @defer.inlineCallbacks
    def usage(self, grant: Grant, dev_id: str | None, name: str | None, page: int, per_page: int):
        """(total, [Usage]) — a device key sees its device only."""
        offset = paging(page, per_page)
        scope = grant.scope()
        if scope is not None:
            if dev_id and dev_id != scope:
                raise errors.Forbidden("this key may not act on device %s" % (dev_id,))
            dev_id = scope
        return (yield self.store.api_files.usage(dev_id or None, name or None, offset, per_page))
