"""spec/001 §3.1 ``POST /ipc/video/cmds``: one command of §3.2's generic set for one device.

The answer's ``cmd_status`` says how it went (§3.1): 0 the device is not
online, 2 sent (``qos=0``: the platform does not wait for the answer), 3 not
sent (a command no device here can carry, :class:`.cmdset.Unsupported`; or a
user-defined one, ``type=1``: a §7 link carries no free data), 4 answered
(``dev_resp.resp_code`` 0, or the device's non-zero Result), 5 no answer in
time, 6 an answer that could not be read.  ``resp_data`` is the device's
response (as §3.2 writes it) in JSON, base64-encoded.  A malformed command
is errno 400 and never reaches a device.
"""

from __future__ import annotations

import base64
import io
import json
import uuid

from twisted.internet import defer
from twisted.logger import Logger

from ..core import errors
from ..wiretime import format_time
from . import cmdset, views
from .api import Reply, Route, parse_json

log = Logger()

OFFLINE, CREATED, SENT, SEND_ERROR, ANSWERED, TIMED_OUT, BAD_ANSWER = range(7)


class CommandStats:
    def __init__(self):
        self.by_status = [0] * 7


class Snapshots:
    """§3.2's 32: a frame of the live stream, stored as the channel's picture (§5) named
    ``snap_<YYYYMMDDHHMMSS>_<n>``."""

    def __init__(self, core, grabber, zone, clock):
        self.core = core
        self.grabber = grabber
        self.zone = zone
        self.clock = clock

    @defer.inlineCallbacks
    def take(self, grant, dev_id: str, channel_no: int, width, height, quality):
        grant.device(dev_id)
        jpeg = yield self.grabber.grab(dev_id, channel_no, 1, width=width, height=height, quality=quality)
        stamp = format_time(self.clock.seconds(), self.zone)
        for n in range(1, 100):
            name = "snap_%s_%d" % (stamp, n)
            try:
                yield self.core.api_files.add_picture(grant, dev_id, channel_no, "jpg", name, "snapshot",
                                                      io.BytesIO(jpeg))
            except errors.FileExists:
                continue
            return name
        raise errors.FileExists("too many snapshots this second")


class CommandHandlers:
    def __init__(self, core, *, snapshot=None, stats: CommandStats | None = None):
        """*snapshot(grant, dev_id, channel_no, width, height, quality)*: a Deferred of the stored picture's
        name (§3.2's 32), or None without media."""
        self.core = core
        self.snapshot = snapshot
        self.stats = stats or CommandStats()

    def routes(self) -> list[Route]:
        # raw: a user-defined command (type=1) is any bytes under 64K
        return [Route("POST", "/ipc/video/cmds", self.command, body="raw")]

    def _answer(self, status: int, resp: cmdset.Outcome | None = None, reason: str | None = None) -> Reply:
        self.stats.by_status[status] += 1
        data: dict = {"cmd_uuid": str(uuid.uuid4()), "cmd_status": status}
        if resp is not None:
            data["dev_resp"] = {"resp_code": resp.resp_code, "resp_data": base64.b64encode(json.dumps(
                resp.resp, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).decode("ascii")}
        if reason:
            data["reason"] = reason
        return Reply({"data": data})

    @defer.inlineCallbacks
    def command(self, call):
        q = call.query
        dev_id = views.device_id(q)
        qos = views.integer(q, "qos", 0)
        kind = views.integer(q, "type", 0)
        if qos not in (0, 1) or kind not in (0, 1):
            raise errors.BadValue("qos and type are 0 or 1")
        call.grant.device(dev_id)
        if kind == 1:
            yield self.core.profiles.channels(call.grant, dev_id)  # an unknown device is still 404
            return self._answer(SEND_ERROR, reason="a §7 device link carries no user-defined data")
        command = cmdset.parse(parse_json(call.body.read()) if call.body is not None else None)
        grant = call.grant
        extras = cmdset.Extras(
            camera=lambda channel_no: self.core.profiles.camera(grant, dev_id, channel_no),
            set_camera=lambda channel_no, on: self.core.profiles.set_camera(grant, dev_id, channel_no, on),
            snapshot=None if self.snapshot is None else (
                lambda channel_no, w, h, q: self.snapshot(grant, dev_id, channel_no, w, h, q)),
            upgrade=None if getattr(self.core, "upgrades", None) is None else (
                lambda version: self._upgrade(grant, dev_id, version)))

        def run(name, values):
            return self.core.commands.run(grant.principal, dev_id, name, values)

        if cmdset.HANDLERS.get(command.cmd_id) is None:
            yield self.core.profiles.channels(grant, dev_id)
            return self._answer(SEND_ERROR, reason="cmdId %d: no device of this platform can do this"
                                % command.cmd_id)
        if not self.core.devices.online(dev_id) and command.cmd_id not in (39, 40):
            yield self.core.profiles.channels(grant, dev_id)
            return self._answer(OFFLINE)
        done = cmdset.execute(command, run, extras)
        if qos == 0:
            early: list = []

            def settled(failure):
                if failure.check(errors.BadValue, cmdset.Unsupported):
                    early.append(failure)
                else:
                    self._unanswered(failure, dev_id, command.cmd_id)
            done.addErrback(settled)
            if early and early[0].check(errors.BadValue):
                early[0].raiseException()
            if early:
                return self._answer(SEND_ERROR, reason=early[0].getErrorMessage())
            return self._answer(SENT)
        try:
            outcome = yield done
        except cmdset.Unsupported as e:
            return self._answer(SEND_ERROR, reason=str(e))
        except errors.DeviceOffline:
            return self._answer(OFFLINE)
        except errors.DeviceTimeout:
            return self._answer(TIMED_OUT)
        except errors.DeviceRefused:
            return self._answer(BAD_ANSWER)
        return self._answer(ANSWERED, outcome)

    @defer.inlineCallbacks
    def _upgrade(self, grant, dev_id: str, version: str):
        """§3.2's 11: a campaign of one to the image of *version* catalogued for the camera's model
        (``kandianctl firmware add``); master keys only, as upgrades are the operator's."""
        grant.require_master()
        detail, _ = yield self.core.fleet.detail(grant.principal, dev_id)
        model = (detail.summary.manufacturer_no, detail.summary.model)
        images = yield self.core.firmware.list()
        found = [f for f in images if f.dev_ver == version and (f.manufacturer_no, f.model) == model]
        if not found:
            raise cmdset.Unsupported("no image of version %s is catalogued for %s %s (kandianctl firmware add)"
                                     % (version, model[0] or "-", model[1] or "-"))
        started = yield self.core.upgrades.start(found[-1].firmware_id, dev_ids=[dev_id], batch=1,
                                                 max_failures=0)
        log.info("onenet: {who} upgrades {dev_id} to {version} (campaign {campaign})", who=grant.name,
                 dev_id=dev_id, version=version, campaign=started.campaign_id)

    def _unanswered(self, failure, dev_id: str, cmd_id: int):
        log.info("onenet: command {cmd_id} to {dev_id} (qos 0): {why}", cmd_id=cmd_id, dev_id=dev_id,
                 why=failure.getErrorMessage())
