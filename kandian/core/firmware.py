"""The firmware catalogue (§7.5.17 UPGRADE_REQ, §8.14 GetFirmwareVersion, §8.15 NotifyUpgrade).

An operator adds an image for a manufacturer, model and DevVer
(``kandianctl firmware add``): it is copied under
``[files] root/firmware/<firmware_id>/<file_name>`` with its size and
sha256, and the row is committed only once the copy is in place.  Devices
fetch it by FTP — UPGRADE_REQ's FtpFileName is the file name, found in the
login directory and as ``firmware/<file_name>`` — while an upgrade to it is
in flight (:mod:`kandian.core.upgrades`).

Versions: DevVer reads ``V<protocol>_<release date>`` (§7.5.1, e.g.
``V1.5_20131210``); :func:`compare` orders two of them by protocol version,
then date, and says None when either is not in that form — an upgrade is
only ever sent to a version :func:`compare` calls newer.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from typing import NamedTuple

from twisted.internet import defer
from twisted.logger import Logger

from . import errors

log = Logger()

__all__ = ["FtpLogin", "Image", "Catalogue", "compare", "version_key", "FIRMWARE_DIR", "stage_image"]

FIRMWARE_DIR = "firmware"  # under [files] root: firmware/<firmware_id>/<file_name>
_VERSION = re.compile(r"^[Vv](\d+(?:\.\d+)*)_(\d{8})")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MANUFACTURER = re.compile(r"^[0-9]{3}$")
_CHUNK = 1 << 20


class FtpLogin(NamedTuple):
    """Where and as whom a device reaches the platform's FTP server (UPGRADE_REQ, LOG_UPLOAD_REQ)."""
    host: str
    port: int
    account: str
    password: str


def version_key(dev_ver: str | None) -> tuple | None:
    """(protocol numbers, release date) of a DevVer, or None when it is not ``V<n.n>_<YYYYMMDD>…``."""
    match = _VERSION.match((dev_ver or "").strip())
    if match is None:
        return None
    return tuple(int(n) for n in match.group(1).split(".")), match.group(2)


def compare(candidate: str | None, current: str | None) -> int | None:
    """1 when *candidate* is newer than *current*, 0 when as new, -1 when older; None when not comparable."""
    a, b = version_key(candidate), version_key(current)
    if a is None or b is None:
        return None
    return (a > b) - (a < b)


class Image(NamedTuple):
    """An image copied into the catalogue's staging directory, not yet placed."""
    directory: str  # holds file_name; renamed to root/firmware/<firmware_id> when placed
    file_name: str
    size: int
    sha256: str


def stage_image(root: str, source: str) -> Image:
    """Copy *source* into a staging directory under *root*/firmware, hashing
    as it goes (blocking: run it where blocking is fine, see Catalogue.add)."""
    file_name = os.path.basename(source)
    if not _FILE_NAME.match(file_name):
        raise errors.BadValue("firmware file name %r: letters, digits, '.', '_' and '-' only, at most 128" % (
            file_name,))
    parent = os.path.join(root, FIRMWARE_DIR)
    os.makedirs(parent, exist_ok=True)
    directory = tempfile.mkdtemp(prefix=".incoming-", dir=parent)
    digest, size = hashlib.sha256(), 0
    try:
        with open(source, "rb") as src, open(os.path.join(directory, file_name), "xb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Image(directory, file_name, size, digest.hexdigest())


def _blocking(f, *args):
    return defer.maybeDeferred(f, *args)


class Catalogue:
    """The catalogue over ``store.firmware``, its images under *files_root*."""

    def __init__(self, store, files_root: str, clock):
        self.store = store
        self.root = files_root
        self.clock = clock

    def image_path(self, firmware_id: int, file_name: str) -> str:
        return os.path.join(self.root, FIRMWARE_DIR, str(firmware_id), file_name)

    @defer.inlineCallbacks
    def add(self, source: str, manufacturer_no: str, model: str, dev_ver: str, *, blocking=_blocking):
        """Catalogue the image at *source*; the new row.  *blocking(f, *args)*
        runs the file copy and its hash (a Deferred of f's result): the
        default runs it at once, which suits kandianctl; a daemon passes a
        thread.  Fails BadValue or FirmwareExists."""
        model, dev_ver = model.strip(), dev_ver.strip()
        if not _MANUFACTURER.match(manufacturer_no or ""):
            raise errors.BadValue("manufacturer must be 3 digits (§7.2): %r" % (manufacturer_no,))
        if not model:
            raise errors.BadValue("the model must not be empty")
        if version_key(dev_ver) is None:
            raise errors.BadValue("version %r is not a DevVer such as V1.5_20131210 (§7.5.1)" % (dev_ver,))
        if not os.path.isfile(source):
            raise errors.BadValue("%s: not a file" % (source,))
        image = yield blocking(stage_image, self.root, source)

        def place(firmware_id: int) -> None:
            os.rename(image.directory, os.path.join(self.root, FIRMWARE_DIR, str(firmware_id)))

        try:
            firmware_id = yield self.store.firmware.add(
                manufacturer_no, model, dev_ver, image.file_name, self.clock.seconds(), image.size, image.sha256,
                place=place)
        except ValueError as e:
            raise errors.BadValue(str(e)) from None
        finally:
            if os.path.isdir(image.directory):  # not placed: the row was refused
                shutil.rmtree(image.directory, ignore_errors=True)
        log.info("firmware {id} catalogued: {manufacturer} {model} {version} {name} ({size} bytes, sha256 {sha})",
                 id=firmware_id, manufacturer=manufacturer_no, model=model, version=dev_ver, name=image.file_name,
                 size=image.size, sha=image.sha256)
        return (yield self.store.firmware.get(firmware_id))

    def list(self) -> defer.Deferred:
        return self.store.firmware.list()

    @defer.inlineCallbacks
    def get(self, firmware_id: int):
        firmware = yield self.store.firmware.get(firmware_id)
        if firmware is None:
            raise errors.NoSuchFirmware("no firmware %s" % (firmware_id,))
        return firmware

    @defer.inlineCallbacks
    def newest(self, manufacturer_no: str | None, model: str):
        """The model's firmware of the highest version (the last added among
        versions that do not compare), or None."""
        rows = yield self.store.firmware.for_model(manufacturer_no, model)
        if not rows:
            return None
        return max(rows, key=lambda f: (version_key(f.dev_ver) is not None, version_key(f.dev_ver) or (),
                                        f.firmware_id))

    @defer.inlineCallbacks
    def version(self, manufacturer_no: str | None, model: str, dev_ver: str | None):
        """§8.14: (CurDevVer, NewDevVer) — the newest catalogued version when
        :func:`compare` calls it newer (what NotifyUpgrade would send), else the current one."""
        newest = yield self.newest(manufacturer_no, model)
        current = dev_ver or ""
        return current, newest.dev_ver if newest is not None and compare(newest.dev_ver, current) == 1 else current
