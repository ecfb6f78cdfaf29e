"""Firmware, upgrade campaigns, device logs and DevKey SMS as the portal offers them (§2.2 remote upgrade and logs,
§4.16, §4.17, §7.5.17, §7.5.35).

The portal's face of :mod:`.firmware`, :mod:`.upgrades`, :mod:`.devlogs` and
:class:`.notify.DevKeySms`, with the portal's authorization
(:mod:`.access`): operators see the catalogue, the campaigns and the
device logs; admins upload images, start, pause, resume and cancel
campaigns and ask for logs; one device's upgrade goes through
:meth:`Upgrades.upgrade_one` (a campaign of one, so the FTP server serves the
image); a DevKey goes by SMS to the owner of a device — asked by that owner
or by an admin operator.
"""

from __future__ import annotations

from twisted.internet import defer, threads
from twisted.logger import Logger

from . import errors
from .access import Principal, require_operator

log = Logger()


class FirmwareAdmin:
    def __init__(self, store, *, access, catalogue, upgrades, devlogs, devkeys, blocking=threads.deferToThread):
        """*blocking(f, *args)* runs an image's copy and hash off the reactor (a thread)."""
        self.store = store
        self.access = access
        self.catalogue = catalogue
        self.upgrades = upgrades
        self.devlogs = devlogs
        self.devkeys = devkeys
        self.blocking = blocking

    # -- the catalogue

    def firmware(self, principal: Principal) -> defer.Deferred:
        require_operator(principal)
        return self.catalogue.list()

    def may_upload(self, principal: Principal) -> None:
        """Forbidden unless *principal* may add firmware (checked before an upload is read)."""
        require_operator(principal, write=True)

    @defer.inlineCallbacks
    def add_firmware(self, principal: Principal, source: str, manufacturer_no, model, dev_ver):
        """Catalogue the image at *source* (copied, hashed in a thread): the new row."""
        require_operator(principal, write=True)
        if not all(isinstance(v, str) for v in (manufacturer_no, model, dev_ver)):
            raise errors.BadValue("manufacturer, model and version are required strings")
        row = yield self.catalogue.add(source, manufacturer_no, model, dev_ver, blocking=self.blocking)
        log.info("{who} uploaded firmware {id} ({version})", who=principal.name, id=row.firmware_id,
                 version=row.dev_ver)
        return row

    # -- campaigns

    def start(self, principal: Principal, firmware_id, *, dev_ids=None, model=None, batch=None,
              max_failures=None) -> defer.Deferred:
        require_operator(principal, write=True)
        if not _int(firmware_id):
            return defer.fail(errors.BadValue("firmware is a firmware id (an integer)"))
        if dev_ids is not None and (not isinstance(dev_ids, list) or not all(isinstance(d, str) for d in dev_ids)
                                    or len(dev_ids) > 100_000):
            return defer.fail(errors.BadValue("devices is a list of DevIDs"))
        if model is not None and not isinstance(model, str):
            return defer.fail(errors.BadValue("model is a string"))
        options = {}
        for name, value in (("batch", batch), ("max_failures", max_failures)):
            if value is not None:
                if not _int(value):
                    return defer.fail(errors.BadValue("%s is an integer" % name))
                options[name] = value
        d = self.upgrades.start(firmware_id, dev_ids=dev_ids or None, model=model, **options)
        d.addCallback(lambda started: _logged(started, "{who} started campaign {id} of firmware {fw}",
                                              who=principal.name, id=started.campaign_id, fw=firmware_id))
        return d

    def campaigns(self, principal: Principal) -> defer.Deferred:
        require_operator(principal)
        return self.upgrades.campaigns()

    def campaign(self, principal: Principal, campaign_id: int) -> defer.Deferred:
        require_operator(principal)
        return self.upgrades.status(campaign_id)

    def steer(self, principal: Principal, campaign_id: int, action: str) -> defer.Deferred:
        """Pause, resume or cancel a campaign (CampaignClosed once it is over)."""
        require_operator(principal, write=True)
        if action not in ("pause", "resume", "cancel"):
            raise ValueError(action)
        d = getattr(self.upgrades, action)(campaign_id)
        d.addCallback(lambda _: log.info("{who}: {action} campaign {id}", who=principal.name, action=action,
                                         id=campaign_id))
        return d

    @defer.inlineCallbacks
    def upgrade(self, dev_id: str, wanted: str | None = None):
        """The model's newest firmware to *dev_id* now, as a campaign of one (the REST ``upgrade`` command,
        whose caller's access :class:`~kandian.core.commands.Commands` checked): (campaign id — None when
        an upgrade of the device is already in flight —, its DevVer).  *wanted*, when given, must be that
        DevVer (BadValue).  NoSuchDevice, NoNewerFirmware, DeviceOffline, DeviceRefused."""
        found = yield self.store.upgrades.devices([dev_id])
        if not found:
            raise errors.NoSuchDevice("no device %s" % (dev_id,))
        device = found[0]
        newest = yield self.catalogue.newest(device.manufacturer_no, device.model or "")
        if wanted is not None and (newest is None or newest.dev_ver != wanted):
            raise errors.BadValue("NewDevVer %r is not the newest catalogued firmware of %s %s (%s)" % (
                str(wanted)[:40], device.manufacturer_no, device.model or "-",
                newest.dev_ver if newest else "none"))
        campaign_id = yield self.upgrades.upgrade_one(dev_id, device.manufacturer_no, device.model or "",
                                                      device.dev_ver)
        return campaign_id, newest.dev_ver

    # -- device logs (§7.5.35)

    @defer.inlineCallbacks
    def logs(self, principal: Principal, dev_id: str):
        require_operator(principal)
        yield self.access.device(principal, dev_id, "view")
        return (yield self.devlogs.files(dev_id))

    @defer.inlineCallbacks
    def request_logs(self, principal: Principal, dev_id: str):
        """A log request the daemon holding the device's link sends at its next round: its id."""
        yield self.access.device(principal, dev_id, "operator")
        request_id = yield self.devlogs.request(dev_id)
        log.info("{who} asked for the logs of {dev_id} (request {id})", who=principal.name, dev_id=dev_id,
                 id=request_id)
        return request_id

    def log_request(self, principal: Principal, request_id: int) -> defer.Deferred:
        require_operator(principal)
        return self.devlogs.request_state(request_id)

    # -- §4.17 DevKey by SMS

    @defer.inlineCallbacks
    def send_key(self, principal: Principal, dev_id: str):
        """The device's DevKey by SMS to its owner: the owner's mobile.  SmsNotSent, NotBound."""
        yield self.access.device(principal, dev_id, "own")
        mobile, _ = yield self.devkeys.send(dev_id)
        log.info("{who} sent the DevKey of {dev_id} to its owner", who=principal.name, dev_id=dev_id)
        return mobile


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _logged(result, text, **fields):
    log.info(text, **fields)
    return result
