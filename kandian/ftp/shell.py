"""One logged-in device's file system (Twisted's ``IFTPShell``), over the core.

The tree is :mod:`.paths`'s; the files are under ``[files] root``
(:class:`kandian.core.files.Layout`).  An upload is written to a temporary
file in ``tmp/`` (hashed and counted as it arrives, stopped at the room
:meth:`kandian.core.files.Files.room` gives: the realm keeps what each
device with a session here has on disk), and only once it ended cleanly
(and, for a picture, is a whole JPEG) is it flushed, renamed into place and
recorded (:meth:`kandian.core.files.Files.stored`): a cut upload leaves
nothing visible.  A download is the device's assigned firmware image and
nothing else (the realm's ``firmware_for``).

Blocking I/O on the reactor thread is bounded: a write is one received chunk
(at most the socket's read size, 64 KiB), a read one 16 KiB FileSender chunk
pulled as the data connection drains; with ``[files] fsync`` on, the calls
that can wait on the disk for long run in the thread pool (*blocking*):
creating the temporary file (the journal may be busy with others' flushes),
and ``fsync`` with the close and rename after it (without fsync, those are
single metadata calls, made in place).
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets

from twisted.internet import defer
from twisted.protocols import basic, ftp
from twisted.python import filepath
from zope.interface import implementer

from ..core import errors
from . import paths
from .results import IncompletePicture, NoSpace, NotAPicture

_DIR_READ = filepath.Permissions(0o40555)
_DIR_WRITE = filepath.Permissions(0o40333)  # upload-only: the device cannot list what it sent
_FILE_READ = filepath.Permissions(0o100444)

JPEG_START = b"\xff\xd8\xff"
JPEG_END = b"\xff\xd9"
_TAIL = 64  # bytes kept of an upload's end: JPEG_END may be followed by NUL padding


def _refused(error: BaseException) -> defer.Deferred:
    return defer.fail(error)


@implementer(ftp.IFTPShell)
class DeviceShell:
    """The shell of *dev_id*'s session; *realm* holds what sessions share."""

    def __init__(self, realm, dev_id: str):
        self.realm = realm
        self.dev_id = dev_id
        self.uploads: set[Upload] = set()
        self.closed = False

    def logout(self) -> None:
        if self.closed:
            return
        self.closed = True
        for upload in list(self.uploads):
            upload.discard()
        self.realm.logged_out(self)

    # -- what is refused

    def makeDirectory(self, path):
        return _refused(paths.NotHere("/".join(path)))

    removeDirectory = removeFile = makeDirectory

    def rename(self, fromPath, toPath):
        return _refused(paths.NotHere("/".join(fromPath)))

    # -- the tree

    def access(self, path):
        try:
            paths.directory(path)
        except paths.NotHere as e:
            return _refused(e)
        return defer.succeed(None)

    @defer.inlineCallbacks
    def list(self, path, keys=()):
        try:
            where = paths.directory(path)
        except paths.NotHere:
            where = None
        if where == "":
            return [(name, self._dir_stat(name, keys)) for name in paths.DIRECTORIES]
        if where in ("pictures", "logs"):
            return []
        image = yield self._firmware()
        if where == "firmware":
            return [(image[0], self._file_stat(image[1], keys))] if image is not None else []
        name = self._download_name(path)
        if image is None or name != image[0]:
            raise paths.NotHere("/".join(path))
        return [(name, self._file_stat(image[1], keys))]

    @defer.inlineCallbacks
    def stat(self, path, keys=()):
        try:
            where = paths.directory(path)
        except paths.NotHere:
            where = None
        if where is not None:
            return self._dir_stat(where or "/", keys)
        image = yield self._firmware()
        if image is None or self._download_name(path) != image[0]:
            raise paths.NotHere("/".join(path))
        return self._file_stat(image[1], keys)

    def _dir_stat(self, name: str, keys) -> list:
        now = self.realm.clock.seconds()
        values = {"size": 0, "directory": True, "hardlinks": 2, "modified": now, "owner": self.dev_id,
                  "group": "kandian",
                  "permissions": _DIR_WRITE if name in ("pictures", "logs") else _DIR_READ}
        return [values[k] for k in keys]

    def _file_stat(self, path: str, keys) -> list:
        try:
            st = os.stat(path)
        except OSError:
            raise paths.NotHere(os.path.basename(path)) from None
        values = {"size": st.st_size, "directory": False, "hardlinks": 1, "modified": st.st_mtime,
                  "owner": self.dev_id, "group": "kandian", "permissions": _FILE_READ}
        return [values[k] for k in keys]

    @staticmethod
    def _download_name(path) -> str | None:
        try:
            return paths.download(path)
        except paths.NotHere:
            return None

    def _firmware(self) -> defer.Deferred:
        return self.realm.firmware_for(self.dev_id)

    # -- RETR

    @defer.inlineCallbacks
    def openForReading(self, path):
        name = paths.download(path)
        image = yield self._firmware()
        if image is None or name != image[0]:
            raise paths.NotHere("/".join(path))
        try:
            f = open(image[1], "rb")
        except OSError:
            raise paths.NotHere("/".join(path)) from None
        return Download(self, image[0], f, os.fstat(f.fileno()).st_size)

    # -- STOR

    @defer.inlineCallbacks
    def openForWriting(self, path):
        target = paths.upload(path, self.dev_id, self.realm.timezone)
        held = sum(u.limit for u in self.realm.uploads_of(self.dev_id))
        limit = self.realm.files.room(self.realm.used.get(self.dev_id, 0), held)
        quota_bound = limit < self.realm.files.max_file_size
        tmp = os.path.join(self.realm.layout.tmp, "%s-%s.part" % (self.dev_id, secrets.token_hex(8)))
        f = (yield self.realm.blocking(_create, tmp)) if self.realm.fsync else _create(tmp)
        upload = Upload(self, target, tmp, f, limit, quota_bound)
        if self.closed:  # the session ended meanwhile
            upload.discard()
            raise paths.NotHere("/".join(path))
        self.uploads.add(upload)
        return upload


@implementer(ftp.IReadFile)
class Download:
    def __init__(self, shell: DeviceShell, name: str, f, size: int):
        self.shell = shell
        self.name = name
        self.f = f
        self.size = size

    def send(self, consumer) -> defer.Deferred:
        """Send the file through *consumer* (the data channel); fires once the
        last byte was handed to it."""
        d = basic.FileSender().beginFileTransfer(self.f, consumer)

        def close(result):
            self.f.close()
            return result
        return d.addBoth(close)


@implementer(ftp.IWriteFile)
class Upload:
    """A file being uploaded: :meth:`write` as bytes arrive (via the data
    channel), then :meth:`commit` at a clean end or :meth:`discard`."""

    def __init__(self, shell: DeviceShell, target: paths.Upload, tmp: str, f, limit: int, quota_bound: bool):
        self.shell = shell
        self.target = target
        self.tmp = tmp
        self.f = f
        self.limit = limit
        self.quota_bound = quota_bound
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.head = b""
        self.tail = b""
        self.committing = False
        self.finished = False

    # IWriteFile, for the interface's sake: the protocol writes through :meth:`write`
    def receive(self):
        return defer.succeed(self)

    def close(self):
        return self.commit()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            if self.quota_bound:
                raise errors.OverQuota("%s: upload past the quota" % (self.shell.dev_id,))
            raise errors.FileTooLarge("%s: upload past %d bytes" % (self.shell.dev_id, self.limit))
        try:
            self.f.write(data)
        except OSError as e:
            raise _no_space(e) from None
        self.sha256.update(data)
        if len(self.head) < len(JPEG_START):
            self.head = (self.head + data[:len(JPEG_START)])[:len(JPEG_START)]
        self.tail = (self.tail + data[-_TAIL:])[-_TAIL:]

    @defer.inlineCallbacks
    def commit(self):
        """Check, flush, rename into place and record; the error that refused it
        (the temporary file is then gone)."""
        realm, dev_id, target = self.shell.realm, self.shell.dev_id, self.target
        final = realm.layout.file(target.area, dev_id, target.name)
        self.committing = True  # whole: kept even if the session ends meanwhile
        try:
            if target.area == "pictures":
                if self.head != JPEG_START:
                    raise NotAPicture(target.name)
                if not self.tail.rstrip(b"\x00").endswith(JPEG_END):
                    raise IncompletePicture(target.name)
            try:
                if realm.fsync:
                    yield realm.blocking(_flush_and_rename, self.f, self.tmp, final, True)
                else:
                    _flush_and_rename(self.f, self.tmp, final, False)
            except OSError as e:
                raise _no_space(e) from None
        except BaseException:
            self.committing = False
            self.discard()
            raise
        self.finished = True
        self.shell.uploads.discard(self)
        digest = self.sha256.hexdigest()
        try:
            yield realm.files.stored(dev_id, target.area, target.name, self.size, digest)
        except BaseException:
            # not recorded, so not counted in the quota nor linked: not kept either (the device retries)
            _remove(final)
            raise
        if dev_id in realm.used:
            realm.used[dev_id] += self.size
        if target.area == "logs":
            yield realm.log_stored(dev_id, target.name, self.size, digest)
        return self.size, digest

    def discard(self) -> None:
        if self.finished or self.committing:
            return
        self.finished = True
        self.shell.uploads.discard(self)
        try:
            self.f.close()
        finally:
            _remove(self.tmp)


def _create(tmp: str):
    """In a thread: a new file (creating one can wait on the file system's journal while others are flushed)."""
    return os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640), "wb")


def _flush_and_rename(f, tmp: str, final: str, fsync: bool = True) -> None:
    """In a thread: the bytes on disk, then the name (so a crash leaves the old file or the whole new one)."""
    try:
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    finally:
        f.close()
    try:
        os.replace(tmp, final)
    except FileNotFoundError:  # the device's first file: its directory first
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(tmp, final)


def _no_space(e: OSError) -> Exception:
    """A full file system is the table's 452; any other OSError stays itself (451, logged)."""
    return NoSpace(str(e)) if e.errno in (errno.ENOSPC, errno.EDQUOT) else e


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
