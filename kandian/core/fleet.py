"""Devices, alarms and exceptions as a principal of the portal sees them (§2.1, §2.2, §8.5, §8.6).

Operators list, add, edit, import and delete devices; users list the devices
bound to them, add one with its DevKey (§8.5's checks, the group platform's
§6.5 included) and remove it (§8.6: the owner's removal unbinds every share and
resets an online camera; a share's removal ends only that share).  Every
call checks access first (:class:`kandian.core.access.Access`).
"""

from __future__ import annotations

from typing import NamedTuple

from twisted.internet import defer
from twisted.logger import Logger

from ..store.devices import DEV_ID, DEV_TYPES, DeviceExists
from ..store.fleet import SORTS, DeviceFilter

__all__ = ["DeviceFilter", "Fleet", "ImportRow", "Page", "paging", "sorting"]
from . import errors
from .access import Principal, require_operator
from .listcache import ListCache

log = Logger()

MAX_PER_PAGE = 200
MAX_IMPORT = 10_000


class Page(NamedTuple):
    total: int
    page: int
    per_page: int
    items: list


class ImportRow(NamedTuple):
    line: int
    dev_id: str
    outcome: str  # added | exists | invalid
    message: str


def paging(page: int, per_page: int) -> tuple[int, int]:
    if page < 1:
        raise errors.BadValue("page counts from 1")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise errors.BadValue("per_page is 1 to %d" % MAX_PER_PAGE)
    return (page - 1) * per_page, per_page


def sorting(sort: str, allowed) -> tuple[str, bool]:
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in allowed:
        raise errors.BadValue("sort by one of %s (a leading - for descending)" % ", ".join(sorted(allowed)))
    return key, descending


def _query(principal: Principal, f: DeviceFilter, sort: str, page: int, per_page: int):
    """(filter, sort key, descending, offset, limit) of a page of devices: a user's are only theirs."""
    offset, limit = paging(page, per_page)
    key, descending = sorting(sort, SORTS)
    if not principal.operator:
        f = DeviceFilter(f.online, f.q, f.manufacturer_no, f.model, f.dev_ver, principal.id)
    return f, key, descending, offset, limit


class Fleet:
    def __init__(self, store, clock, *, access, devices, bindings, alarms=None, list_ttl: float = 1.0,
                 list_size: int = 512):
        """*devices*: :class:`kandian.core.devices.Devices` (online state, the
        factory reset); *bindings*: :class:`kandian.core.bindings.Bindings` (§8.5);
        *alarms*: :class:`kandian.core.alarms.Alarms` (its ``picture(alarm_id)``, once the FTP server stores them);
        *list_ttl*, *list_size*: the pages of :meth:`page_json` kept (:class:`kandian.core.listcache.ListCache`;
        0 seconds: none)."""
        self.store = store
        self.clock = clock
        self.access = access
        self.devices = devices
        self.bindings = bindings
        self.alarms_core = alarms
        self.list_cache = ListCache(clock, list_ttl, list_size)
        self._watching = None  # the store's notifications, heard from the first list on

    def now(self) -> float:
        return self.clock.seconds()

    def _live(self, summary):
        # the stored flag lags a login by a write; the router knows now
        if not summary.online and self.devices.online(summary.dev_id):
            return summary._replace(online=True)
        return summary

    @defer.inlineCallbacks
    def page(self, principal: Principal, f: DeviceFilter, sort: str = "dev_id", page: int = 1,
             per_page: int = 50):
        f, key, descending, offset, limit = _query(principal, f, sort, page, per_page)
        total, rows = yield self.store.fleet.page(f, key, descending, offset, limit)
        return Page(total, page, per_page, [self._live(r) for r in rows])

    @defer.inlineCallbacks
    def page_json(self, principal: Principal, f: DeviceFilter, sort: str, page: int, per_page: int, zone: str):
        """(total, [(online, item JSON text without "online")]) of the page :meth:`page` answers, its items
        built by the store (times as ISO 8601 in *zone*); online as the router knows it.  The store's answer may
        come from the node's cache (:mod:`kandian.core.listcache`): at most *list_ttl* seconds old, and never
        older than the last change of what a page shows but online and last_seen_at."""
        f, key, descending, offset, limit = _query(principal, f, sort, page, per_page)
        cache = self.list_cache
        if self._watching is None:
            self.watch()
        total, rows = yield cache.get((f, key, descending, offset, limit, zone),
                                      lambda: self.store.fleet.page_json(f, key, descending, offset, limit, zone))
        online = self.devices.online
        return total, [(stored or online(dev_id), item) for dev_id, stored, item in rows]

    def watch(self) -> None:
        """Hear the store's notifications of the list's changes, which keep the cache right (from the first list
        on: the cache stays off, and a node needs no listening connection, until a list is asked for)."""
        if self._watching is None and self.list_cache.ttl > 0:
            # None: the store has no notifications (in memory), and so no cache
            self._watching = self.store.fleet.watch(self.list_cache.changed, self.list_cache.reset) or False

    @defer.inlineCallbacks
    def detail(self, principal: Principal, dev_id: str):
        """(DeviceDetail, access) — access is (share_flag, can_control) for a user, None for an operator."""
        bound = yield self.access.device(principal, dev_id, "view")
        detail = yield self.store.fleet.detail(dev_id)
        if detail is None:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        summary = self._live(detail.summary)
        if bound is not None:
            summary = summary._replace(share_flag=bound[0], can_control=bound[1])
            if bound[0] != 0:
                detail = detail._replace(shares=[])  # who else it is shared with is the owner's business
        return detail._replace(summary=summary), bound

    @defer.inlineCallbacks
    def update(self, principal: Principal, dev_id: str, fields: dict):
        """Operators (admin) edit name, model, dev_key, dev_type; a user renames a device they own."""
        allowed = ("name", "model", "dev_key", "dev_type") if principal.operator else ("name",)
        yield self.access.device(principal, dev_id, "own" if not principal.operator else "control")
        unknown = sorted(set(fields) - set(allowed))
        if unknown:
            raise errors.BadValue("cannot change %s" % ", ".join(unknown))
        for name in ("name", "model", "dev_key"):
            if name in fields:
                value = fields[name]
                if not isinstance(value, str) or len(value) > 64 or (name == "dev_key" and not value.strip()):
                    raise errors.BadValue("%s is a string of at most 64 characters" % name)
                fields[name] = value.strip()
        if "dev_type" in fields and fields["dev_type"] not in DEV_TYPES:
            raise errors.BadValue("dev_type is 1 (IPC), 2 (DVR) or 3 (NVR)")
        found = yield self.store.fleet.update(dev_id, **fields)
        if not found:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        log.info("{who} changed device {dev_id}: {fields}", who=principal.name, dev_id=dev_id,
                 fields=", ".join(sorted(fields)))

    @defer.inlineCallbacks
    def add(self, principal: Principal, dev_id: str, dev_key: str, *, dev_type: int = 1, model: str = "",
            channels: int = 1, source: str | None = None):
        """An operator provisions a device; a user binds one with its DevKey (§8.5)."""
        if not isinstance(dev_id, str) or not isinstance(dev_key, str):
            raise errors.BadValue("dev_id and dev_key are strings")
        if not principal.operator:
            yield self.bindings.bind(principal.id, principal.name, dev_id, dev_key, source)
            return
        require_operator(principal, write=True)
        yield self._provision(dev_id, dev_key, dev_type, model, channels)
        log.info("{who} added device {dev_id}", who=principal.name, dev_id=dev_id)

    @defer.inlineCallbacks
    def _provision(self, dev_id, dev_key, dev_type, model, channels):
        if not isinstance(dev_type, int) or not isinstance(channels, int) or not isinstance(model, str):
            raise errors.BadValue("dev_type and channels are integers, model a string")
        try:
            yield self.store.devices.add(dev_id, dev_key, dev_type, model, channels)
        except DeviceExists:
            raise errors.DeviceExists("device %s already exists" % (dev_id,)) from None
        except ValueError as e:
            raise errors.BadValue(str(e)) from None

    @defer.inlineCallbacks
    def import_rows(self, principal: Principal, rows):
        """Provision many devices: *rows* are (line, {dev_id, dev_key, dev_type, model, channels}); one
        ImportRow each.  A bad row does not stop the others."""
        require_operator(principal, write=True)
        if len(rows) > MAX_IMPORT:
            raise errors.BadValue("at most %d devices an import" % MAX_IMPORT)
        done = []
        for line, row in rows:
            dev_id = row.get("dev_id", "")
            unknown = sorted(set(row) - {"dev_id", "dev_key", "dev_type", "model", "channels"})
            if unknown:
                done.append(ImportRow(line, dev_id, "invalid", "unexpected columns: %s" % ", ".join(unknown)))
                continue
            try:
                yield self._provision(dev_id, row.get("dev_key", ""), row.get("dev_type", 1), row.get("model", ""),
                                      row.get("channels", 1))
            except errors.DeviceExists as e:
                done.append(ImportRow(line, dev_id, "exists", str(e)))
            except errors.BadValue as e:
                done.append(ImportRow(line, dev_id, "invalid", str(e)))
            else:
                done.append(ImportRow(line, dev_id, "added", ""))
        log.info("{who} imported devices: {added} added of {rows}", who=principal.name,
                 added=sum(1 for r in done if r.outcome == "added"), rows=len(done))
        return done

    @defer.inlineCallbacks
    def delete(self, principal: Principal, dev_id: str):
        """An admin deletes the device and all of it; its owner removes it
        (§8.6); a share is ended by the one it was shared with."""
        if principal.operator:
            require_operator(principal, write=True)
            found = yield self.store.fleet.delete(dev_id)
            if not found:
                raise errors.NoSuchDevice("no device %s" % (dev_id,))
            log.info("{who} deleted device {dev_id}", who=principal.name, dev_id=dev_id)
            return
        share_flag, _ = yield self.access.device(principal, dev_id, "view")
        if share_flag != 0:
            yield self.store.user_admin.unshare(principal.id, dev_id)
            return
        yield self.store.bindings.unbind_all(dev_id)
        log.info("{who} removed device {dev_id}", who=principal.name, dev_id=dev_id)
        if self.devices.online(dev_id):
            self.devices.reset_default(dev_id).addErrback(
                lambda f: log.warn("device {dev_id}: RESET_DEFAULT failed: {why}", dev_id=dev_id,
                                   why=f.getErrorMessage()))

    @defer.inlineCallbacks
    def exceptions(self, principal: Principal, dev_id: str | None, page: int = 1, per_page: int = 50):
        offset, limit = paging(page, per_page)
        if dev_id:
            yield self.access.device(principal, dev_id, "view")
        else:
            require_operator(principal)
        total, rows = yield self.store.fleet.exceptions(dev_id, offset, limit)
        return Page(total, page, per_page, rows)

    # -- alarms

    @defer.inlineCallbacks
    def alarms(self, principal: Principal, dev_id: str | None, since: float | None, until: float | None,
               page: int = 1, per_page: int = 50):
        offset, limit = paging(page, per_page)
        if dev_id:
            if not DEV_ID.match(dev_id):
                raise errors.BadValue("devid is 11 digits")
            yield self.access.device(principal, dev_id, "view")
        user = None if principal.operator else principal.id
        total, rows = yield self.store.fleet.alarms(user, dev_id, since, until, offset, limit)
        return Page(total, page, per_page, rows)

    @defer.inlineCallbacks
    def alarm(self, principal: Principal, alarm_id: int):
        """The AlarmRow if *principal* may see it; NoSuchAlarm otherwise (another user's is not there)."""
        row = yield self.store.fleet.alarm(alarm_id)
        if row is None:
            raise errors.NoSuchAlarm("no alarm %s" % (alarm_id,))
        try:
            yield self.access.device(principal, row.dev_id, "view")
        except errors.NotBound:
            raise errors.NoSuchAlarm("no alarm %s" % (alarm_id,)) from None
        return row

    @defer.inlineCallbacks
    def alarm_picture(self, principal: Principal, alarm_id: int):
        """The picture of an alarm *principal* may see: a row with ``.path``
        (absolute), ``.size``, ``.sha256``, ``.taken_at``; NoPicture until it arrived."""
        yield self.alarm(principal, alarm_id)
        picture = getattr(self.alarms_core, "picture", None)
        found = (yield picture(alarm_id)) if picture is not None else None
        if found is None:
            raise errors.NoPicture("alarm %s has no picture yet" % (alarm_id,))
        return found

    # -- manufacturers (§2.2 厂商管理)

    def manufacturers(self, principal: Principal) -> defer.Deferred:
        require_operator(principal)
        return self.store.fleet.manufacturers()

    @defer.inlineCallbacks
    def add_manufacturer(self, principal: Principal, manufacturer_no: str, name: str):
        require_operator(principal, write=True)
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise errors.BadValue("a manufacturer's name is 1 to 64 characters")
        if not isinstance(manufacturer_no, str) or len(manufacturer_no) != 3 or not manufacturer_no.isdigit():
            raise errors.BadValue("a manufacturer number is three digits")
        return (yield self.store.fleet.add_manufacturer(manufacturer_no, name.strip()))
