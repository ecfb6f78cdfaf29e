"""Devices and channels as the integrators' APIs list and change them (PRODUCT.md "Compatibility APIs").

spec/002 calls a device a gather (采集端) and a channel a camera (通道): it
pages through them, renames them, keeps per-device settings kandian does
not use (kept as given, :mod:`kandian.store.integration`), opens and closes a
channel's streams (§10.2: a closed stream is refused by the relay) and
counts its plays.  Only operators (an API key acts as an admin) may;
:func:`kandian.core.access.require_operator` is asked first.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import Logger

from ..store.integration import GATHER_SETTINGS
from . import errors
from .access import Principal, require_operator
from .fleet import Page, paging

log = Logger()

# each setting's range (spec/002 §3.4)
RANGES = {"main_rate": (0, 1_000_000), "sub_rate": (0, 1_000_000), "auto_dvr": (0, 1), "auto_fds": (0, 1),
          "slice_val": (0, 30), "inter_val": (0, 3), "snap_val": (0, 1440)}
MAX_NAME = 64


def _name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
        raise errors.BadValue("a name is 1 to %d characters" % MAX_NAME)
    return name.strip()


class Integration:
    def __init__(self, store, clock, *, devices, layout=None):
        """*devices*: :class:`kandian.core.devices.Devices` (whether a device is online now);
        *layout*: :class:`kandian.core.files.Layout` (where pictures are)."""
        self.store = store
        self.clock = clock
        self.devices = devices
        self.layout = layout

    def now(self) -> float:
        return self.clock.seconds()

    def _live(self, row):
        if not row.online and self.devices.online(row.dev_id):
            return row._replace(online=True)
        return row

    # -- devices

    @defer.inlineCallbacks
    def gathers(self, principal: Principal, page: int, per_page: int):
        require_operator(principal)
        offset, limit = paging(page, per_page)
        total, rows = yield self.store.integration.gathers(offset, limit)
        return Page(total, page, per_page, [self._live(r) for r in rows])

    @defer.inlineCallbacks
    def gather(self, principal: Principal, dev_id: str):
        require_operator(principal)
        row = yield self.store.integration.gather(dev_id)
        if row is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        return self._live(row)

    @defer.inlineCallbacks
    def set_gather(self, principal: Principal, dev_id: str, name: str | None, settings: dict):
        """Rename a device and change its kept settings (None: unchanged); BadValue, NoSuchDevice."""
        require_operator(principal, write=True)
        unknown = set(settings) - set(GATHER_SETTINGS)
        if unknown:
            raise errors.BadValue("no setting %s" % ", ".join(sorted(unknown)))
        for key, value in settings.items():
            low, high = RANGES[key]
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not low <= value <= high):
                raise errors.BadValue("%s is an integer from %d to %d" % (key, low, high))
        found = yield self.store.integration.set_gather(dev_id, None if name is None else _name(name), settings,
                                                        self.now())
        if not found:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        log.info("{who} changed device {dev_id}", who=principal.name, dev_id=dev_id)

    # -- channels

    @defer.inlineCallbacks
    def cameras(self, principal: Principal, page: int, per_page: int):
        require_operator(principal)
        offset, limit = paging(page, per_page)
        total, rows = yield self.store.integration.cameras(offset, limit)
        return Page(total, page, per_page, [self._live(r) for r in rows])

    @defer.inlineCallbacks
    def camera(self, principal: Principal, dev_id: str, channel_no: int):
        require_operator(principal)
        row = yield self.store.integration.camera(dev_id, channel_no)
        if row is None:
            raise errors.NoSuchChannel("no channel %s of %s" % (channel_no, dev_id))
        return self._live(row)

    @defer.inlineCallbacks
    def rename_camera(self, principal: Principal, dev_id: str, channel_no: int, name: str):
        require_operator(principal, write=True)
        found = yield self.store.integration.rename_camera(dev_id, channel_no, _name(name), self.now())
        if not found:
            raise errors.NoSuchChannel("no channel %s of %s" % (channel_no, dev_id))

    @defer.inlineCallbacks
    def set_enabled(self, principal: Principal, dev_id: str, channel_no: int, enabled: bool):
        """Open or close the channel's streams (§10.2: a closed one is refused, 403)."""
        require_operator(principal, write=True)
        found = yield self.store.integration.set_enabled(dev_id, channel_no, bool(enabled), self.now())
        if not found:
            raise errors.NoSuchChannel("no channel %s of %s" % (channel_no, dev_id))
        log.info("{who} {what} channel {channel} of {dev_id}", who=principal.name,
                 what="opened" if enabled else "closed", channel=channel_no, dev_id=dev_id)

    def clicked(self, dev_id: str, channel_no: int) -> defer.Deferred:
        """One more play of the channel."""
        return self.store.integration.clicked(dev_id, channel_no, self.now())

    def listed_under(self, dev_id: str, channel_no: int, gather_dev_id: str) -> defer.Deferred:
        """List a (stream-proxy) channel under another device."""
        return self.store.integration.set_camera_gather(dev_id, channel_no, gather_dev_id, self.now())

    def record_clicks(self, recording_ids: list[int]) -> defer.Deferred:
        """{recording_id: plays} of those played."""
        return self.store.integration.record_clicks(recording_ids)

    def record_clicked(self, recording_id: int) -> defer.Deferred:
        return self.store.integration.record_clicked(recording_id)

    @defer.inlineCallbacks
    def picture(self, picture_id: int):
        """The absolute path of a picture on disk; NoPicture."""
        found = yield self.store.integration.picture(picture_id)
        if found is None or self.layout is None:
            raise errors.NoPicture("no picture %s" % (picture_id,))
        return self.layout.picture(*found)
