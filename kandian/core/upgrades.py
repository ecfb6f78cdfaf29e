"""Firmware upgrade campaigns (§7.5.17 UPGRADE_REQ, §7.5.4 ExceptionType 11, §8.15 NotifyUpgrade).

A campaign aims one catalogued firmware at devices of its manufacturer and
model.  Each device moves

    pending → sent → downloaded → done | failed (+ reason)

* **sent**: committed *before* UPGRADE_REQ goes out (so a restart knows it
  may have gone).  At most ``batch_size`` devices of a campaign are in
  flight (sent or downloaded) at once; only devices online on this node
  are sent to — offline ones wait.  A link lost before UPGRADE_RES puts the
  device back to pending; a non-zero UPGRADE_RES or none at all fails it.
* **downloaded**: the FTP server saw the image's RETR complete.
* **done**: the device logged in again reporting the target DevVer.
* **failed**: a refused UPGRADE_RES, EXCEPTION_NOTIFY_REQ type 11 (固件升级失败),
  or no such login within ``timeout`` seconds of the send.  A device never
  gets an older (or incomparable) firmware than it runs: it fails with that
  reason before anything is sent, as does one whose model no longer
  matches; one already at the target is done at once.  Only failures after
  a send count toward ``max_failures``: past it the campaign pauses.

Every state lives in PostgreSQL; :meth:`Upgrades.round` (every
``poll_interval`` seconds, :mod:`kandian.core.rounds`) expires, reconciles
and sends, so a restarted daemon resumes each campaign where it was, and a
campaign that ``kandianctl`` created, paused or resumed is seen at the
next round.  The login hook is the one hot path: a dict lookup per login
(the devices in flight, reloaded every round), a write only for those.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from ..logs import peer_text
from ..store.upgrades import IN_FLIGHT, OPEN, InFlight
from . import errors
from .devices import command
from .errors import log_failure
from .firmware import compare
from .interfaces import IDeviceEvents

log = Logger()

UPGRADE_FAILED = 11  # §7.5.4 ExceptionType 固件升级失败
DEFAULT_BATCH = 50
DEFAULT_MAX_FAILURES = 5


class Started(NamedTuple):
    campaign_id: int
    devices: int
    skipped: dict  # dev_id → the open campaign that already aims at it


class Status(NamedTuple):
    campaign: object  # kandian.store.upgrades.Campaign
    firmware: object  # kandian.store.firmware.Firmware
    tally: object  # kandian.store.upgrades.Tally
    targets: list


@implementer(IDeviceEvents)
class Upgrades:
    """Campaigns over ``store.upgrades``; *router* is the ``IDeviceRouter``
    (commands and who is online), *catalogue* the
    :class:`~kandian.core.firmware.Catalogue`, *ftp_login(dev_id)* a
    Deferred of the device's :class:`~kandian.core.firmware.FtpLogin`.  The
    core's devices tell it of logins and exceptions (``IDeviceEvents``)."""

    def __init__(self, store, router, catalogue, clock, *, ftp_login, timeout: float = 1800.0):
        self.store = store
        self.upgrades = store.upgrades
        self.router = router
        self.catalogue = catalogue
        self.clock = clock
        self.ftp_login = ftp_login
        self.timeout = timeout
        self.in_flight: dict[str, InFlight] = {}
        self.outcomes: Counter[str] = Counter()  # sent, done, failed on this node (for /metrics)

    def now(self) -> float:
        return self.clock.seconds()

    # -- what an operator does (kandianctl upgrade …)

    @defer.inlineCallbacks
    def start(self, firmware_id: int, *, dev_ids: list[str] | None = None, model: str | None = None,
              batch: int = DEFAULT_BATCH, max_failures: int = DEFAULT_MAX_FAILURES):
        """A running campaign of the firmware to *dev_ids*, or else to every
        device of its model; devices an open campaign already aims at are
        skipped.  Fails NoSuchFirmware, NoSuchDevice or BadValue."""
        if batch < 1 or max_failures < 0:
            raise errors.BadValue("the batch must be at least 1 and max failures at least 0")
        firmware = yield self.catalogue.get(firmware_id)
        if model is not None and model != firmware.model:
            raise errors.BadValue("firmware %d is for model %s, not %s" % (firmware_id, firmware.model, model))
        if dev_ids:
            found = yield self.upgrades.devices(dev_ids)
            missing = sorted(set(dev_ids) - {d.dev_id for d in found})
            if missing:
                raise errors.NoSuchDevice("no device %s" % (", ".join(missing),))
            other = [d for d in found if (d.manufacturer_no, d.model) != (firmware.manufacturer_no, firmware.model)]
            if other:
                raise errors.BadValue("firmware %d is for %s %s; not %s" % (
                    firmware_id, firmware.manufacturer_no, firmware.model,
                    ", ".join("%s (%s %s)" % (d.dev_id, d.manufacturer_no, d.model or "-") for d in other)))
        else:
            found = yield self.upgrades.of_model(firmware.manufacturer_no, firmware.model)
        busy = yield self.upgrades.busy([d.dev_id for d in found])
        chosen = [d.dev_id for d in found if d.dev_id not in busy]
        if not chosen:
            raise errors.BadValue("no device to upgrade to firmware %d (%d of model %s, %d in other campaigns)" % (
                firmware_id, len(found), firmware.model, len(busy)))
        campaign_id = yield self.upgrades.create(firmware_id, chosen, batch, max_failures, self.now())
        log.info("campaign {id}: firmware {firmware} ({version}) to {count} devices, {batch} at a time",
                 id=campaign_id, firmware=firmware_id, version=firmware.dev_ver, count=len(chosen), batch=batch)
        return Started(campaign_id, len(chosen), busy)

    @defer.inlineCallbacks
    def status(self, campaign_id: int):
        campaign = yield self._campaign(campaign_id)
        firmware = yield self.store.firmware.get(campaign.firmware_id)
        tally = yield self.upgrades.tally(campaign_id)
        targets = yield self.upgrades.targets(campaign_id)
        return Status(campaign, firmware, tally, targets)

    @defer.inlineCallbacks
    def campaigns(self):
        """[(campaign, tally)] of every campaign, oldest first."""
        found = []
        for campaign in (yield self.upgrades.campaigns()):
            found.append((campaign, (yield self.upgrades.tally(campaign.campaign_id))))
        return found

    @defer.inlineCallbacks
    def pause(self, campaign_id: int, reason: str = "paused by the operator"):
        yield self._campaign(campaign_id)
        if not (yield self.upgrades.set_state(campaign_id, "paused", reason, self.now(), ("running", "paused"))):
            raise errors.CampaignClosed("campaign %d is over" % (campaign_id,))

    @defer.inlineCallbacks
    def resume(self, campaign_id: int):
        """Run again, the failures so far forgiven (max_failures counts anew)."""
        yield self._campaign(campaign_id)
        if not (yield self.upgrades.set_state(campaign_id, "running", "", self.now(), ("running", "paused"))):
            raise errors.CampaignClosed("campaign %d is over" % (campaign_id,))

    @defer.inlineCallbacks
    def cancel(self, campaign_id: int):
        """No more sends; the pending devices fail "cancelled", those in flight are still followed."""
        yield self._campaign(campaign_id)
        if not (yield self.upgrades.cancel(campaign_id, "cancelled", self.now())):
            raise errors.CampaignClosed("campaign %d is over" % (campaign_id,))

    @defer.inlineCallbacks
    def _campaign(self, campaign_id: int):
        campaign = yield self.upgrades.campaign(campaign_id)
        if campaign is None:
            raise errors.NoSuchCampaign("no campaign %s" % (campaign_id,))
        return campaign

    # -- §8.15 NotifyUpgrade: one device, now

    @defer.inlineCallbacks
    def upgrade_one(self, dev_id: str, manufacturer_no: str | None, model: str, dev_ver: str | None):
        """Send the model's newest firmware to *dev_id* as a campaign of one
        (followed like any other): its campaign id.  Fails NoNewerFirmware,
        DeviceOffline or DeviceRefused; an upgrade already in flight is left
        to finish (None)."""
        firmware = yield self.catalogue.newest(manufacturer_no, model)
        if firmware is None or compare(firmware.dev_ver, dev_ver) != 1:
            raise errors.NoNewerFirmware("no newer firmware for %s %s than %s" % (manufacturer_no, model, dev_ver))
        if not self.router.online(dev_id):
            raise errors.DeviceOffline("%s is offline" % (dev_id,))
        if dev_id in self.in_flight:
            return None
        now = self.now()
        campaign_id = yield self.upgrades.create(firmware.firmware_id, [dev_id], 1, 0, now, origin="app")
        if not (yield self.upgrades.claim(campaign_id, [dev_id], now)):
            yield self.upgrades.cancel(campaign_id, "an upgrade of the device was already in flight", now)
            return None
        yield self._send(campaign_id, firmware, dev_id)
        return campaign_id

    # -- one device's send

    @defer.inlineCallbacks
    def _send(self, campaign_id: int, firmware, dev_id: str):
        """UPGRADE_REQ to a device already moved to sent; its outcome recorded, then re-raised."""
        self.in_flight[dev_id] = InFlight(dev_id, campaign_id, firmware.firmware_id, firmware.file_name,
                                          firmware.dev_ver, "sent", self.now(), None, None)
        try:
            login = yield self.ftp_login(dev_id)
            yield command(self.router, dev_id, lambda c: c.upgrade(
                NewDevVer=firmware.dev_ver, FtpIP=login.host, FtpPort=login.port, FtpAccount=login.account,
                FtpPassword=login.password, FtpFileName=firmware.file_name))
        except errors.DeviceOffline:
            yield self._settle(campaign_id, dev_id, "pending", "link lost before UPGRADE_RES", ("sent",))
            raise
        except errors.DeviceRefused as e:
            why = "no answer to UPGRADE_REQ" if e.result is None else "UPGRADE_RES Result %d" % (e.result,)
            yield self._settle(campaign_id, dev_id, "failed", why)
            raise
        except errors.BadValue as e:
            yield self._settle(campaign_id, dev_id, "failed", "UPGRADE_REQ cannot carry it: %s" % (e,))
            raise
        except Exception:
            # not sent (no FTP login: the store is down): try again next round
            log_failure(log, "campaign {id}: UPGRADE_REQ to {dev_id} not sent", id=campaign_id, dev_id=dev_id)
            yield self._settle(campaign_id, dev_id, "pending", "", ("sent",))
            raise
        self.outcomes["sent"] += 1
        log.info("campaign {id}: {dev_id} accepted UPGRADE_REQ to {version}", id=campaign_id, dev_id=dev_id,
                 version=firmware.dev_ver)

    @defer.inlineCallbacks
    def _settle(self, campaign_id: int, dev_id: str, to: str, reason: str, from_states=IN_FLIGHT):
        """Move one device; what it was in flight for is forgotten unless it is still in flight."""
        flight = self.in_flight.get(dev_id)
        if to not in IN_FLIGHT and flight is not None and flight.campaign_id == campaign_id:
            del self.in_flight[dev_id]
        try:
            moved = yield self.upgrades.move(campaign_id, dev_id, to, self.now(), reason, from_states)
        except Exception:
            log_failure(log, "campaign {id}: could not record {dev_id} {state}", id=campaign_id, dev_id=dev_id,
                        state=to)
            return False
        if moved and to in ("done", "failed"):
            self.outcomes[to] += 1
            log.info("campaign {id}: {dev_id} {state}{why}", id=campaign_id, dev_id=dev_id, state=to,
                     why=": " + reason if reason else "")
        return moved

    # -- what devices do (IDeviceEvents, and the FTP server's hooks)

    def logged_in(self, dev_id: str, dev_ver: str) -> None:
        flight = self.in_flight.get(dev_id)
        if flight is not None and (dev_ver or "").strip() == flight.dev_ver:
            self._settle(flight.campaign_id, dev_id, "done", "")

    def exception_reported(self, dev_id: str, exception_type: int, desc: str) -> None:
        if exception_type != UPGRADE_FAILED:
            return
        flight = self.in_flight.get(dev_id)
        if flight is None:
            log.info("device {dev_id} reports a failed upgrade, none was in flight: {desc}", dev_id=dev_id,
                     desc=peer_text(desc or ""))
            return
        self._settle(flight.campaign_id, dev_id, "failed", "EXCEPTION %d: %s" % (
            UPGRADE_FAILED, peer_text(desc or "(no description)")))

    @defer.inlineCallbacks
    def firmware_for(self, dev_id: str):
        """(file_name, absolute path) of the image *dev_id* may download now, or None."""
        flights = yield self.upgrades.in_flight(dev_id)
        if not flights:
            return None
        flight = flights[0]
        return flight.file_name, self.catalogue.image_path(flight.firmware_id, flight.file_name)

    @defer.inlineCallbacks
    def firmware_downloaded(self, dev_id: str, file_name: str):
        """The FTP server sent *dev_id* the whole of *file_name* (RETR complete)."""
        flights = yield self.upgrades.in_flight(dev_id)
        name = file_name.rsplit("/", 1)[-1]
        for flight in flights:
            if flight.file_name == name:
                yield self._settle(flight.campaign_id, dev_id, "downloaded", "", ("sent",))
                log.info("campaign {id}: {dev_id} downloaded {name}", id=flight.campaign_id, dev_id=dev_id,
                         name=name)

    # -- the rounds

    @defer.inlineCallbacks
    def load(self):
        """The devices in flight, from the store (at start-up, before any login)."""
        self.in_flight = {f.dev_id: f for f in (yield self.upgrades.in_flight())}

    @defer.inlineCallbacks
    def round(self):
        """Expire, reconcile, then advance every open campaign."""
        now = self.now()
        for campaign_id, dev_id in (yield self.upgrades.expire(
                now - self.timeout, "no login with the new firmware within %d s" % (self.timeout,), now)):
            self.in_flight.pop(dev_id, None)
            log.info("campaign {id}: {dev_id} failed: no login with the new firmware within {timeout} s",
                     id=campaign_id, dev_id=dev_id, timeout=self.timeout)
        yield self.load()
        for flight in list(self.in_flight.values()):
            # a login this node's hook did not see (another node's, or before a restart)
            if (flight.device_ver or "").strip() == flight.dev_ver and (flight.logged_in_at or 0) >= flight.sent_at:
                yield self._settle(flight.campaign_id, flight.dev_id, "done", "")
        for campaign in (yield self.upgrades.campaigns(open_only=True)):
            yield self._advance(campaign)

    @defer.inlineCallbacks
    def _advance(self, campaign):
        campaign_id = campaign.campaign_id
        tally = yield self.upgrades.tally(campaign_id)
        if tally.unfinished == 0:
            if (yield self.upgrades.set_state(campaign_id, "finished", "", self.now(), OPEN)):
                log.info("campaign {id} finished: {done} done, {failed} failed", id=campaign_id, done=tally.done,
                         failed=tally.failed)
            return
        if campaign.state != "running":
            return
        failures = tally.failures - campaign.failure_base
        if failures > campaign.max_failures:
            reason = "%d failures, more than the %d allowed" % (failures, campaign.max_failures)
            if (yield self.upgrades.set_state(campaign_id, "paused", reason, self.now(), ("running",))):
                log.warn("campaign {id} paused: {reason}", id=campaign_id, reason=reason)
            return
        room = campaign.batch_size - tally.in_flight
        if room <= 0 or tally.pending == 0:
            return
        firmware = yield self.store.firmware.get(campaign.firmware_id)
        sending = []
        while room > 0:
            chosen, refused = [], 0
            for device in (yield self.upgrades.ready(campaign_id, room)):
                if not self.router.online(device.dev_id):
                    continue
                refusal = _refusal(firmware, device)
                if refusal is None:
                    chosen.append(device.dev_id)
                else:
                    refused += 1
                    yield self._settle(campaign_id, device.dev_id, *refusal, ("pending",))
            claimed = yield self.upgrades.claim(campaign_id, chosen, self.now())
            sending += [self._send(campaign_id, firmware, dev_id) for dev_id in claimed]
            room -= len(claimed)
            if not refused:  # nothing left the pending set but what was claimed: no one else is ready
                break
        # the outcomes are recorded by _send; the round waits for them so that
        # sends stay within the batch and a stop waits for what is under way
        yield defer.DeferredList(sending, consumeErrors=True)


def _refusal(firmware, device) -> tuple[str, str] | None:
    """Why *device* is not sent *firmware*: (the state it ends in, the reason), or None to send."""
    if (device.manufacturer_no, device.model) != (firmware.manufacturer_no, firmware.model):
        return "failed", "the device is now a %s %s" % (device.manufacturer_no, device.model or "-")
    current = (device.dev_ver or "").strip()
    if current == firmware.dev_ver:
        return "done", "already at %s" % (current,)
    order = compare(firmware.dev_ver, current)
    if order is None:
        return "failed", "DevVer %s does not compare with %s: not sent" % (peer_text(current) or "-",
                                                                            firmware.dev_ver)
    if order <= 0:
        return "failed", "runs %s, not older than %s: never downgraded" % (peer_text(current), firmware.dev_ver)
    return None
