"""One logged-in device's file system (Twisted's ``IFTPShell``), over the core.

The tree is :mod:`.paths`'s; the files are under ``[files] root``
(:class:`kandian.core.files.Layout`).  An upload is counted as it arrives,
stopped at the room :meth:`kandian.core.files.Files.room` gives (the realm
keeps what each device with a session here has on disk), and held in
memory up to :data:`IN_MEMORY` bytes (past that, in a temporary file in
this node's ``tmp/``, hashed as it arrives).  Only once it ended cleanly
(and, for a picture, is a whole JPEG) is it written out whole (and hashed,
if it was held in memory), flushed, renamed into place and
recorded (:meth:`kandian.core.files.Files.stored`): a cut upload leaves
nothing visible.  A download is the device's assigned firmware image and
nothing else (the realm's ``firmware_for``).

Blocking I/O on the reactor thread is bounded: with ``[files] fsync`` on,
the landing of an upload (creating its file, writing it, ``fsync``, close,
rename, ``fsync`` of the directory it went into: only then is its name
durable) is one call in a landing thread (:class:`Lander`), as many side by
side as there are threads, so a burst's flushes go to the file system
together (one journal commit for many); the uploads that land while the
reactor has not yet taken the previous ones are handed back together, and
their records go to the database in one transaction
(:meth:`~kandian.core.files.GroupCommit.held`); without fsync it is done
in place.  A write to the temporary file of a large
upload is one received chunk (at most the socket's read size, 64 KiB), a
read one 16 KiB FileSender chunk pulled as the data connection drains.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import os
import queue
import threading
from collections.abc import Callable

from twisted.internet import defer
from twisted.logger import Logger
from twisted.protocols import basic, ftp
from twisted.python import failure, filepath
from zope.interface import implementer

from ..core import errors
from . import paths
from .results import IncompletePicture, NoSpace, NotAPicture

log = Logger()

_DIR_READ = filepath.Permissions(0o40555)
_DIR_WRITE = filepath.Permissions(0o40333)  # upload-only: the device cannot list what it sent
_FILE_READ = filepath.Permissions(0o100444)

JPEG_START = b"\xff\xd8\xff"
JPEG_END = b"\xff\xd9"
_TAIL = 64  # bytes kept of an upload's end: JPEG_END may be followed by NUL padding
IN_MEMORY = 1 << 20  # an upload up to this size is held in memory until it ends (a picture always is)
LANDING_THREADS = 16  # uploads landing at once (fsync on), each in a thread of its own (:class:`Lander`)
_IOV_MAX = 1024  # buffers one writev takes (Linux's IOV_MAX)


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

    def openForWriting(self, path):
        try:
            target = paths.upload(path, self.dev_id, self.realm.timezone)
            held = sum(u.limit for u in self.realm.uploads_of(self.dev_id))
            limit = self.realm.files.room(self.realm.used.get(self.dev_id, 0), held)
        except Exception as e:
            return defer.fail(e)
        upload = Upload(self, target, limit, limit < self.realm.files.max_file_size)
        self.uploads.add(upload)
        return defer.succeed(upload)


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

    def __init__(self, shell: DeviceShell, target: paths.Upload, limit: int, quota_bound: bool):
        self.shell = shell
        self.target = target
        self.limit = limit
        self.quota_bound = quota_bound
        self.size = 0
        self.sha256 = None  # hashed as it arrives once it goes to a temporary file; held in memory, when landing
        self.head = b""
        self.tail = b""
        self.chunks: list[bytes] = []  # what arrived, while it is at most IN_MEMORY bytes
        self.tmp: str | None = None  # past that: the temporary file it is written to
        self.f = None
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
        if self.f is None and self.size <= IN_MEMORY:
            self.chunks.append(data)
        else:
            try:
                if self.f is None:  # a large file (a device log): on to disk from here
                    self.tmp = self.shell.realm.tmp_name(self.shell.dev_id)
                    self.f = _create(self.tmp)
                    self.f.writelines(self.chunks)
                    self.sha256 = _digest(self.chunks)
                    self.chunks = []
                self.f.write(data)
            except OSError as e:
                raise _no_space(e) from None
            self.sha256.update(data)
        if len(self.head) < len(JPEG_START):
            self.head = (self.head + data[:len(JPEG_START)])[:len(JPEG_START)]
        self.tail = (self.tail + data[-_TAIL:])[-_TAIL:]

    def commit(self) -> defer.Deferred:
        """Check, write out, flush, rename into place and record: fires with
        (size, sha256), or fails with the error that refused it (nothing of it
        is then left)."""
        realm, target = self.shell.realm, self.target
        self.committing = True  # whole: kept even if the session ends meanwhile
        try:
            final = realm.layout.file(target.area, self.shell.dev_id, target.name)
            if target.area == "pictures":
                if self.head != JPEG_START:
                    raise NotAPicture(target.name)
                if not self.tail.rstrip(b"\x00").endswith(JPEG_END):
                    raise IncompletePicture(target.name)
            landing = Landing(self.chunks, self.f, self.tmp or realm.tmp_name(self.shell.dev_id), final, self.sha256)
            self.chunks, self.f = [], None
            if realm.fsync:
                d = realm.land(landing)
            else:
                land(landing, False)
                d = defer.succeed(None)
        except Exception:
            return defer.fail(self._not_landed(failure.Failure()))
        return d.addCallbacks(self._landed, self._not_landed, callbackArgs=(landing,))

    def _not_landed(self, why: failure.Failure) -> failure.Failure:
        self.committing = False
        self.discard()
        if why.check(OSError):
            return failure.Failure(_no_space(why.value))
        return why

    def _landed(self, _, landing: Landing) -> defer.Deferred:
        self.finished = True
        self.shell.uploads.discard(self)
        digest = landing.sha256.hexdigest()
        target = self.target
        d = defer.maybeDeferred(self.shell.realm.files.stored, self.shell.dev_id, target.area, target.name, self.size,
                                digest, target.picture)
        return d.addCallbacks(self._recorded, self._not_recorded, callbackArgs=(digest,), errbackArgs=(landing,))

    @staticmethod
    def _not_recorded(why: failure.Failure, landing: Landing) -> failure.Failure:
        # not recorded, so not counted in the quota nor linked: not kept either (the device retries)
        _remove(landing.final)
        return why

    def _recorded(self, _, digest: str):
        realm, dev_id = self.shell.realm, self.shell.dev_id
        if dev_id in realm.used:
            realm.used[dev_id] += self.size
        if self.target.area == "logs":
            return realm.log_stored(dev_id, self.target.name, self.size, digest).addCallback(
                lambda _: (self.size, digest))
        return self.size, digest

    def discard(self) -> None:
        if self.finished or self.committing:
            return
        self.finished = True
        self.shell.uploads.discard(self)
        self.chunks = []
        f, self.f = self.f, None
        if f is not None:
            try:
                f.close()
            finally:
                _remove(self.tmp)


class Landing:
    """An upload that ended well, on its way to *final*: its bytes (*chunks*,
    or the open temporary file *f*) written to *tmp*, flushed and renamed;
    *sha256* the hash of its bytes (for *chunks*: made as they are written out,
    off the reactor thread when that is where it lands)."""

    __slots__ = ("chunks", "f", "tmp", "final", "sha256")

    def __init__(self, chunks: list[bytes], f, tmp: str, final: str, sha256=None):
        self.chunks = chunks
        self.f = f
        self.tmp = tmp
        self.final = final
        self.sha256 = sha256


def land(landing: Landing, fsync: bool = True) -> None:
    """Land one upload (in a landing thread when *fsync*): its bytes written
    out and, with *fsync*, flushed to disk, then renamed into place, then the
    directories its name went into flushed (the name of a file is durable only
    once its directory is).  Raises the OSError that stopped it, and then
    nothing of it is left: neither the temporary file nor a name that a crash
    could lose."""
    try:
        _write_and_close(landing, fsync)
        directories = _rename(landing.tmp, landing.final)
    except OSError:
        _remove(landing.tmp)
        raise
    if fsync:
        try:
            for directory in directories:
                _sync_directory(directory)
        except OSError:
            _remove(landing.final)  # on disk, but its name may not survive a crash: not stored
            raise


class Lander:
    """Lands uploads (:func:`land`) in the threads of :data:`_THREADS`, one
    call an upload, and hands back the outcomes on the reactor thread: those
    that end while the reactor has not yet taken the previous ones, together
    in one call (*call_from_thread*), within *delivering* (so their records go
    in one transaction, :meth:`kandian.core.files.GroupCommit.held`).

    Uploads landing side by side is what makes a burst cheap in wall time:
    the file system commits concurrent flushes together, where one after the
    other each waits for its own (by hand, 25 new 200 KB files: 4–15 ms side
    by side against 80–115 ms one after the other).  One thread call per
    upload, each doing its whole landing, is the least thread traffic that
    gives that: a Twisted thread-pool call per batch, fanned out per file and
    again per directory, cost the reactor thread about a fifth more CPU an
    upload (docs/benchmarks.md, "FTP uploads").

    *submit(f, *args)* runs a call in a landing thread; *call_from_thread(f)*
    has the reactor thread call *f* (``reactor.callFromThread``).  Tests give
    both as synchronous calls."""

    def __init__(self, call_from_thread: Callable, delivering=None, fsync: bool = True, submit: Callable | None = None):
        self.call_from_thread = call_from_thread
        self.delivering = delivering
        self.fsync = fsync
        self.submit = submit if submit is not None else _THREADS.submit
        self._ended: collections.deque[tuple[defer.Deferred, Exception | None]] = collections.deque()
        self._scheduled = False
        self.calls = 0  # uploads landed, and the reactor-thread calls that handed them back: for the benchmark
        self.batches = 0

    def land(self, landing: Landing) -> defer.Deferred:
        """Fires once *landing* is in place (durable with fsync), fails with its OSError."""
        d: defer.Deferred = defer.Deferred()
        self.calls += 1
        self.submit(self._land, landing, d)
        return d

    def _land(self, landing: Landing, d: defer.Deferred) -> None:
        # in a landing thread
        try:
            land(landing, self.fsync)
            outcome = None
        except Exception as e:  # an OSError refuses the upload; anything else is a 451, logged
            outcome = e
        self._ended.append((d, outcome))
        if not self._scheduled:  # (two threads may both ask: the second call finds nothing, harmlessly)
            self._scheduled = True
            self.call_from_thread(self._deliver)

    def _deliver(self) -> None:
        self._scheduled = False  # before taking them: one that ends from here on asks again
        ended = []
        while self._ended:
            ended.append(self._ended.popleft())
        if not ended:
            return
        self.batches += 1
        with self.delivering() if self.delivering is not None else contextlib.nullcontext():
            for d, outcome in ended:
                if outcome is None:
                    d.callback(None)
                else:
                    d.errback(outcome)


class _Threads:
    """*size* daemon threads (started with the first call) that run the calls
    handed to :meth:`submit`, in turn, from one queue.  Less than a
    ``ThreadPoolExecutor``: no Future, and no semaphore to tell whether a
    thread is idle — each costs the reactor thread locks to take and threads
    to wake, for every upload."""

    def __init__(self, size: int, name: str):
        self.size = size
        self.name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._started = False

    def submit(self, f: Callable, *args) -> None:
        if not self._started:
            self._started = True
            for i in range(self.size):
                threading.Thread(target=self._run, name="%s-%d" % (self.name, i), daemon=True).start()
        self._queue.put((f, args))

    def _run(self) -> None:
        take = self._queue.get
        while True:
            f, args = take()
            try:
                f(*args)
            except Exception:
                log.failure("{name}: a call failed", name=self.name)


# The landing threads of every FTP listener of the process: as many uploads land at once.
_THREADS = _Threads(LANDING_THREADS, "kandian-landing")


def _digest(chunks: list[bytes]):
    # one update over the joined bytes: hashlib lets go of the GIL for each update of 2 KB or more, and a
    # landing thread that takes it back while the reactor thread holds it waits and switches (a 200 KB
    # upload comes in some five chunks; the copy costs less than four switches)
    return hashlib.sha256(chunks[0] if len(chunks) == 1 else b"".join(chunks))


def _create(tmp: str):
    """A new file (creating one can wait on the file system's journal while others are flushed)."""
    return os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640), "wb", buffering=IN_MEMORY)


def _write_and_close(landing: Landing, fsync: bool = True) -> None:
    """The bytes in the temporary file (created here when they were held in
    memory: written straight from the chunks, no copy), on disk too with
    *fsync*, and the file closed."""
    if landing.f is None:
        chunks, landing.chunks = landing.chunks, []
        landing.sha256 = _digest(chunks)
        fd = os.open(landing.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            _write_all(fd, chunks)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        return
    f, landing.f = landing.f, None
    try:
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    finally:
        f.close()


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """*chunks* written to *fd* by ``writev`` (at most :data:`_IOV_MAX` at a time; a short write goes on)."""
    views = [memoryview(c) for c in chunks if c]
    i = 0  # the first view not wholly written
    while i < len(views):
        written = os.writev(fd, views[i:i + _IOV_MAX])
        while i < len(views) and written >= len(views[i]):
            written -= len(views[i])
            i += 1
        if written:
            views[i] = views[i][written:]


def _rename(tmp: str, final: str) -> list[str]:
    """The file (written out, flushed and closed by now) to its place; the
    directories whose entries that changed (a device's first file: its own
    directory, made here, and the one that directory is in)."""
    try:
        os.replace(tmp, final)
        return [os.path.dirname(final)]
    except FileNotFoundError:
        directory = os.path.dirname(final)
        os.makedirs(directory, exist_ok=True)
        os.replace(tmp, final)
        return [directory, os.path.dirname(directory)]


def _sync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _no_space(e: OSError) -> Exception:
    """A full file system is the table's 452; any other OSError stays itself (451, logged)."""
    return NoSpace(str(e)) if e.errno in (errno.ENOSPC, errno.EDQUOT) else e


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
