"""spec/000's actions over the core: each reads its request's fields and answers an MvbResponse.

The model (PRODUCT.md "Compatibility APIs"; docs/compat.md): ``DeviceID`` is a
kandian DevID — or, when ``ParentId`` names another device, that device
(an NVR) and ``DeviceChn`` its channel; ``DeviceChn`` is the ChannelNo
(from 0; empty: 0).  ``DeviceUser``/``DevicePass`` are a kandian account
(its mobile number and password) the device is bound to; ``DeviceIP`` and
``DevicePort`` are not used (the platform knows where its devices are).
``play`` with empty ``BeginTime`` and ``EndTime`` plays the live main
stream; with times it plays the device's recording covering ``BeginTime``
(§7.5.22, §7.5.23) from that time.  ``session`` names a play session of
:mod:`kandian.core.playsessions`.  ``changeplayposition`` takes the new
time as ``BeginTime`` (the file gives it no field; this is play's), or
``Position``: seconds from the time play asked for.
"""

from __future__ import annotations

import datetime
import re

from twisted.internet import defer

from ..core import errors
from ..core.access import Principal
from . import results
from .codec import MvbResponse, RecordItem, format_when, parse_when

# The file's example is 44030100001310000002, a GB/T 28181 id; kandian's DevIDs are 11 digits (§7.2).
DEV_ID = re.compile(r"^[0-9]{11}$")
_INT = 2**31


def _required(fields: dict, name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise errors.BadValue("%s is required" % (name,))
    return value


def _integer(text: str, name: str, low: int = 0, high: int = _INT - 1) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise errors.BadValue("%s is an integer from %d" % (name, low))
    return int(text)


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise errors.BadValue("%s is a number" % (name,)) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise errors.BadValue("%s is a number" % (name,))
    return value


class MvbHandlers:
    def __init__(self, core, zone, clock):
        """*core*: the platform's Core (accounts, play_sessions); *zone*: the platform's time zone."""
        self.accounts = core.accounts
        self.sessions = core.play_sessions
        self.zone = zone
        self.clock = clock
        self.actions = {
            "play": self.play,
            "stopplay": self.stop,
            "changespeed": self.change_speed,
            "changeplayposition": self.change_position,
            "pauseplay": self.pause,
            "resumeplay": self.resume,
            "queryrecordfile": self.query_records,
        }

    def answer(self, action: str, fields: dict, *, session: str | None = None, **more) -> MvbResponse:
        return MvbResponse(fields.get("RequestID") or "0", results.OK, results.SUCCESS[action], session, **more)

    # -- who and what

    @defer.inlineCallbacks
    def _principal(self, fields: dict, source: str | None):
        account = _required(fields, "DeviceUser")
        password = _required(fields, "DevicePass")
        user = yield self.accounts.verify(account, password, source)
        return Principal("user", user.user_id, account, "user")

    @staticmethod
    def _stream(fields: dict) -> tuple[str, int]:
        device = _required(fields, "DeviceID")
        parent = fields.get("ParentId", "")
        if parent and parent != device:
            device = parent  # an NVR's channel: the NVR, and DeviceChn on it
            if not fields.get("DeviceChn"):
                raise errors.BadValue("DeviceChn is required with a ParentId")
        channel = fields.get("DeviceChn") or "0"
        if not DEV_ID.match(device):
            raise errors.NoSuchDevice("not a DevID: %r" % (device[:40],))
        return device, _integer(channel, "DeviceChn")

    def _times(self, fields: dict, *, default_begin: bool) -> tuple[float, float] | None:
        begin, end = fields.get("BeginTime", ""), fields.get("EndTime", "")
        if not begin and not end and not default_begin:
            return None
        now = self.clock.seconds()
        try:
            if begin:
                start = parse_when(begin, self.zone)
            elif default_begin:
                start = _midnight(now, self.zone)
            else:
                raise errors.BadValue("EndTime without a BeginTime")
            stop = parse_when(end, self.zone) if end else now
        except ValueError as e:
            raise errors.BadValue(str(e)) from None
        if not stop > start:
            raise errors.BadValue("EndTime must be after BeginTime")
        return start, stop

    def _session(self, fields: dict) -> int:
        return _integer(_required(fields, "session"), "session", 1)

    # -- the actions

    @defer.inlineCallbacks
    def play(self, fields: dict, source: str | None):
        device, channel = self._stream(fields)
        times = self._times(fields, default_begin=False)
        principal = yield self._principal(fields, source)
        if times is None:
            session = yield self.sessions.open_live(principal, device, channel, 1)
        else:
            session = yield self.sessions.open_recording(principal, device, channel, *times)
        return self.answer("play", fields, session=str(session.id), play_url=session.url)

    def stop(self, fields: dict, source: str | None):
        session = self.sessions.stop(self._session(fields))
        return self.answer("stopplay", fields, session=str(session.id))

    @defer.inlineCallbacks
    def change_speed(self, fields: dict, source: str | None):
        session_id = self._session(fields)
        speed = _number(_required(fields, "Speed"), "Speed")
        yield self.sessions.change_speed(session_id, speed)
        return self.answer("changespeed", fields, session=str(session_id))

    @defer.inlineCallbacks
    def change_position(self, fields: dict, source: str | None):
        session_id = self._session(fields)
        session = self.sessions.get(session_id)
        if fields.get("BeginTime"):
            try:
                when = parse_when(fields["BeginTime"], self.zone)
            except ValueError as e:
                raise errors.BadValue(str(e)) from None
        elif fields.get("Position"):
            position = _number(fields["Position"], "Position")
            if session.begin is None:
                raise errors.WrongPlayState("a live stream has no position to move to")
            when = session.begin + position
        else:
            raise errors.BadValue("BeginTime (the time to go to) or Position (seconds from play's BeginTime)"
                                  " is required")
        yield self.sessions.change_position(session_id, when)
        return self.answer("changeplayposition", fields, session=str(session_id))

    @defer.inlineCallbacks
    def pause(self, fields: dict, source: str | None):
        session_id = self._session(fields)
        yield self.sessions.pause(session_id)
        return self.answer("pauseplay", fields, session=str(session_id))

    @defer.inlineCallbacks
    def resume(self, fields: dict, source: str | None):
        session_id = self._session(fields)
        yield self.sessions.resume(session_id)
        return self.answer("resumeplay", fields, session=str(session_id))

    @defer.inlineCallbacks
    def query_records(self, fields: dict, source: str | None):
        device, channel = self._stream(fields)
        start, stop = self._times(fields, default_begin=True)
        principal = yield self._principal(fields, source)
        spans = yield self.sessions.recordings(principal, device, channel, start, stop)
        if not spans:
            raise errors.NoRecording("no recording of %s channel %s in that time" % (device, channel))
        device_id = fields.get("DeviceID", device)
        records = tuple(RecordItem(device_id, format_when(s.start, self.zone), format_when(s.end, self.zone))
                        for s in spans)
        return self.answer("queryrecordfile", fields, session=fields.get("session") or "0", records=records)


def _midnight(now: float, zone) -> float:
    day = datetime.datetime.fromtimestamp(now, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()

