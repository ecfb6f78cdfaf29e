"""Files devices upload and fetch by FTP (§7.2, §7.5.17, §7.5.27, §7.5.35; PRODUCT.md "FTP").

Where they live under ``[files] root`` (:class:`Layout`)::

    pictures/<DevID>/<name>     §7.5.27 DevID_ChannelNo_YYYYMMDDHHMMSS.jpg
    logs/<DevID>/<name>         §7.5.35, names of the vendor's choosing
    firmware/<id>/<file_name>   §7.5.17, written by the firmware catalogue
    tmp/<node>/                 uploads in progress on one node (renamed into place when whole)

Each device has its own FTP account: its DevID, with a password derived from
the platform secret, the DevID and a rotation counter (:mod:`.keys`), never
stored and never the DevKey.  :meth:`Files.login` checks one, counting
failures in a :class:`kandian.throttle.FailureThrottle`, and says how much
of its quota the device uses (the logins that arrive while a lookup is under
way are looked up together, :class:`~kandian.batching.Batcher`); :meth:`Files.room` is what the next upload may
take under the per-file cap and that quota;
:meth:`Files.stored` records an upload once it is on disk (a picture is then
linked to its alarm, :mod:`kandian.store.files`), in batches when many
arrive at once (:class:`GroupCommit`).
"""

from __future__ import annotations

import contextlib
import hmac
import os
import re
import shutil
from collections.abc import Callable

import attrs
from twisted.internet import defer

from ..batching import Batcher
from ..store.devices import DEV_ID
from ..store.files import Upload
from ..wiretime import format_time, parse_time
from . import errors

AREAS = ("pictures", "logs")
STALE = 3600  # seconds after which a temporary file directly in tmp/ is a crash's leftover

_PICTURE = re.compile(r"^([0-9]{11})_([0-9]{1,3})_([0-9]{14})\.(jpg|jpeg)$", re.IGNORECASE)
# a log file's name: one path segment a shell, a URL and every file system take as it is
_LOG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@attrs.frozen
class PictureName:
    """What a §7.5.27 picture name says: whose, which channel, when (POSIX seconds)."""
    dev_id: str
    channel_no: int
    taken_at: float


def picture_name(name: str, timezone) -> PictureName:
    """Parse ``DevID_ChannelNo_YYYYMMDDHHMMSS.jpg`` (``.jpeg`` too, any case;
    the time in the platform's *timezone*, as devices are told in LOGIN_RES);
    :class:`~.errors.BadFileName` for anything else."""
    match = _PICTURE.match(name)
    if match is None:
        raise errors.BadFileName("not DevID_ChannelNo_YYYYMMDDHHMMSS.jpg")
    dev_id, channel, stamp, _ = match.groups()
    try:
        taken = parse_time(stamp, timezone)
    except ValueError:
        raise errors.BadFileName("no such time: %s" % (stamp,)) from None
    return PictureName(dev_id, int(channel), taken.timestamp())


def format_picture_name(dev_id: str, channel_no: int, when: float, timezone, ext: str = "jpg") -> str:
    return "%s_%d_%s.%s" % (dev_id, channel_no, format_time(when, timezone), ext)


def log_name(name: str) -> str:
    """A log file's name as given, or :class:`~.errors.BadFileName`."""
    if not _LOG.match(name) or ".." in name:
        raise errors.BadFileName("a log name is 1-128 of A-Z a-z 0-9 . _ - (not starting with . or -)")
    return name


class Layout:
    """Paths under ``[files] root``; every name handed in has passed its rule
    (:func:`picture_name`, :func:`log_name`, the catalogue's), so none climbs out.

    Several nodes may share one root: each keeps its uploads in progress in
    its own ``tmp/<node>/`` (*node*: ``[platform] public_host``), which only
    it empties (:meth:`prepare`)."""

    def __init__(self, root: str, node: str = ""):
        self.root = os.path.abspath(root)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", node).strip(".") or "node"
        self.tmp = os.path.join(self.root, "tmp", name)

    def area(self, area: str, dev_id: str) -> str:
        if area not in AREAS or not DEV_ID.match(dev_id):
            raise ValueError("no such area directory: %r %r" % (area, dev_id))
        return os.path.join(self.root, area, dev_id)

    def file(self, area: str, dev_id: str, name: str) -> str:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError("not a file name: %r" % (name,))
        return os.path.join(self.area(area, dev_id), name)

    def picture(self, dev_id: str, name: str) -> str:
        return self.file("pictures", dev_id, name)

    def log(self, dev_id: str, name: str) -> str:
        return self.file("logs", dev_id, name)

    def firmware(self, firmware_id: int, file_name: str) -> str:
        if not file_name or "/" in file_name or file_name in (".", ".."):
            raise ValueError("not a file name: %r" % (file_name,))
        return os.path.join(self.root, "firmware", str(int(firmware_id)), file_name)

    def prepare(self, now: float) -> None:
        """Create the top directories and empty this node's ``tmp/<node>/``
        (uploads a crash of this node cut short; other nodes' are theirs),
        and remove the files directly in ``tmp/`` last changed more than
        :data:`STALE` seconds before *now* (the API's temporaries and an older
        layout's, which a crash left: none in use lasts that long).
        Blocking: run once at start-up, before the FTP listener opens; it holds
        at most the uploads that were in progress."""
        for name in (*AREAS, "firmware"):
            os.makedirs(os.path.join(self.root, name), exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        os.makedirs(self.tmp, exist_ok=True)
        top = os.path.dirname(self.tmp)
        with os.scandir(top) as entries:
            for entry in entries:
                try:
                    if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < now - STALE:
                        os.unlink(entry.path)
                except FileNotFoundError:
                    pass


class GroupCommit:
    """Writes records in batches: the first at once, and those that arrive
    while a batch is being written all together in the next one (group
    commit: one transaction, and one WAL flush, for many uploads, with no
    timer and no added wait when they come one at a time).  Each record's
    Deferred fires once its batch committed; a batch that fails is written
    again record by record, so one bad record fails only itself."""

    def __init__(self, write_many: Callable[[list], defer.Deferred]):
        self.write_many = write_many
        self._pending: list[tuple[object, defer.Deferred]] = []
        self._writing = False
        self._holds = 0
        self.batches = 0

    def add(self, record) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self._pending.append((record, d))
        if not self._writing and not self._holds:
            self._next()
        return d

    @contextlib.contextmanager
    def held(self):
        """The records added within go in one batch (the uploads that landed together)."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if not self._holds and not self._writing:
                self._next()

    def _next(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            self._writing = False
            return
        self._writing = True
        self.batches += 1
        written = defer.maybeDeferred(self.write_many, [record for record, _ in batch])
        written.addCallbacks(self._done, self._failed, callbackArgs=(batch,), errbackArgs=(batch,))
        written.addBoth(lambda _: self._next())

    @staticmethod
    def _done(_, batch) -> None:
        for _, d in batch:
            d.callback(None)

    def _failed(self, why, batch) -> defer.Deferred | None:
        if len(batch) == 1:
            batch[0][1].errback(why)
            return None
        return defer.DeferredList([self._alone(record, d) for record, d in batch])

    def _alone(self, record, d) -> defer.Deferred:
        written = defer.maybeDeferred(self.write_many, [record])
        return written.addCallbacks(lambda _: d.callback(None), d.errback)


@attrs.frozen
class FtpLogin:
    """A device logged in by FTP, and the bytes of its files on disk then."""
    dev_id: str
    used: int


@attrs.frozen
class FtpCredentials:
    """What REGISTER_RES, UPGRADE_REQ and LOG_UPLOAD_REQ carry (FtpIP … FtpPassword)."""
    ip: str
    port: int
    account: str
    password: str = attrs.field(repr=False)


class Files:
    """*address()* is where devices reach the FTP listener (host, port);
    *throttle* counts failed logins; *max_file_size* and *quota* are bytes."""

    def __init__(self, store, keys, clock, layout: Layout, *, address: Callable[[], tuple], throttle,
                 max_file_size: int, quota: int, timezone):
        self.store = store
        self.keys = keys
        self.clock = clock
        self.layout = layout
        self.address = address
        self.throttle = throttle
        self.max_file_size = max_file_size
        self.quota = quota
        self.timezone = timezone
        self.records = GroupCommit(store.files.stored_many)
        self.lookups = Batcher(self._accounts, concurrency=2)

    def now(self) -> float:
        return self.clock.seconds()

    # -- credentials

    @defer.inlineCallbacks
    def credentials(self, dev_id: str):
        """The device's :class:`FtpCredentials`; NoSuchDevice."""
        account = yield self.store.files.account(dev_id)
        if account is None:
            raise errors.NoSuchDevice(dev_id)
        ip, port = self.address()
        return FtpCredentials(ip, port, dev_id, self.keys.ftp_password(dev_id, account[0]))

    def rotate(self, dev_id: str) -> defer.Deferred:
        """A new password for the device (the old one stops working); the new generation."""
        return self.store.files.rotate(dev_id)

    @defer.inlineCallbacks
    def login(self, account: str, password: str, address: str):
        """Check an FTP login from *address*: its :class:`FtpLogin`, or
        TooManyFailures (before any check) or WrongPassword (an unknown account too)."""
        known = bool(DEV_ID.match(account))
        key = account if known else None
        if not self.throttle.allowed(address, key):
            raise errors.TooManyFailures("FTP login", self.throttle.retry_after(address, key))
        row = (yield self.lookups.add(account)) if known else None
        expected = self.keys.ftp_password(account, row[0]) if row is not None else ""
        if not expected or not hmac.compare_digest(expected.encode("utf-8"),
                                                   password.encode("utf-8", "replace")):
            self.throttle.failed(address, key)
            raise errors.WrongPassword("FTP login")
        self.throttle.succeeded(address, key)
        return FtpLogin(account, row[1])

    @defer.inlineCallbacks
    def _accounts(self, dev_ids: list[str]):
        rows = yield self.store.files.accounts(dev_ids)
        return [rows.get(d) for d in dev_ids]

    # -- uploads

    def room(self, used: int, held: int = 0) -> int:
        """Bytes a device's next upload may take: the per-file cap, or what its
        quota leaves after *used* (its files on disk) and *held* (its other
        uploads in progress); OverQuota when nothing is left."""
        left = self.quota - used - held
        if left <= 0:
            raise errors.OverQuota("%d of %d bytes used" % (used + held, self.quota))
        return min(self.max_file_size, left)

    def stored(self, dev_id: str, area: str, name: str, size: int, sha256: str,
               picture: PictureName | None = None) -> defer.Deferred:
        """An upload is on disk at ``layout.file(area, dev_id, name)``: record it
        (a picture is linked to its alarm; *picture*: what its name says, if
        already parsed).  Fires once committed."""
        channel_no = taken_at = None
        if area == "pictures":
            if picture is None:
                try:
                    picture = picture_name(name, self.timezone)
                except errors.BadFileName as e:
                    return defer.fail(e)
            channel_no, taken_at = picture.channel_no, picture.taken_at
        return self.records.add(Upload(dev_id, area, name, size, sha256, self.now(), channel_no, taken_at))
