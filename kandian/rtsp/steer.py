"""The relay steering a player's stream itself (RFC 2326 §10.5 PLAY, §10.6 PAUSE, §12.29 Range, §12.34 Scale).

A relayed stream opened from a play session of the core
(:mod:`kandian.core.playsessions`, spec/000's ``session``) gets a
:class:`Steering`: the session pauses, resumes, changes the speed of and
moves the stream for the player connected to it.  The relay sends its own
PLAY and PAUSE upstream in the player's RTSP session — the ``Session`` the
upstream gave the player's SETUP, the URI of the player's PLAY — with CSeqs
of its own (from :data:`CSEQ_BASE`, far above any player's count), and
keeps their answers from the player.  From a PAUSE until the next PLAY is
answered the player is passed no media (``hold_media``): it receives
nothing while paused even from a camera that cannot pause.  What the
session asked before the player played (a recording's start offset, a
speed) goes into the player's own first PLAY as ``Range``/``Scale``.

Each request is answered within ``timeout`` seconds or fails
(``DeviceRefused`` with no status); a non-2xx answer fails with its status
in ``result``; the stream ending fails what is outstanding with
``DeviceOffline``.
"""

from __future__ import annotations

import itertools
import re

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from ..core.errors import DeviceOffline, DeviceRefused
from ..core.interfaces import IStreamSteering
from .message import Headers, Request, Response

log = Logger()

CSEQ_BASE = 1_000_000_000
_NPT = re.compile(r"^\s*npt\s*=\s*([0-9]+(?:\.[0-9]*)?)\s*-")


def npt(position: float) -> str:
    return "npt=%.3f-" % (position,)


def scale_value(scale: float) -> str:
    return "%.3f" % (scale,)


@implementer(IStreamSteering)
class Steering:
    def __init__(self, connection, session, *, timeout: float = 10.0):
        """*connection*: the relay's ClientConnection; *session*: the core's IPlaySession."""
        self.connection = connection
        self.session = session
        self.timeout = timeout
        self.clock = connection.clock
        self.upstream_session: str | None = None  # the Session id the upstream gave the player
        self.control_uri: str | None = None  # the upstream URI of the player's PLAY
        self._cseq = itertools.count(CSEQ_BASE)
        self._waiting: dict[int, tuple[defer.Deferred, object, str]] = {}
        self._player_play: int | None = None  # CSeq of the player's PLAY, until answered
        self.ended_ = False
        self.last_answer: dict = {}  # the Range, Scale, Speed of the upstream's last answer to a PLAY
        # where the stream is: npt at a time, moving at a rate (frozen while paused)
        self._npt: float | None = None
        self._npt_at = 0.0
        self._rate = 1.0
        self._frozen = False
        self._asked_scale: dict[int, float | None] = {}

    # -- what the relay tells it

    def client_request(self, request: Request) -> Request:
        """A request of the player, as the upstream will see it (URL rewritten)."""
        if request.method == "PLAY":
            self.control_uri = request.uri
            self._player_play = request.cseq
            scale, position = self.session.client_play()
            if scale is not None:
                request.headers.set("Scale", scale_value(scale))
            if position is not None:
                request.headers.set("Range", npt(position))
        elif request.method == "PAUSE":
            self.connection.playing = False
        return request

    def answered(self, response: Response) -> bool:
        """True when *response* answers one of the relay's own requests (then it is not the player's)."""
        waiting = self._waiting.pop(response.cseq, None) if response.cseq is not None else None
        if waiting is None:
            return False
        d, timer, method = waiting
        if timer.active():
            timer.cancel()
        if 200 <= response.code < 300:
            if method == "PLAY":
                self.connection.release()
                self.connection.playing = True
                self.connection.last_upstream = self.clock.seconds()
                self._playing_from(response, self._asked_scale.pop(response.cseq, None))
            else:
                self._npt, self._npt_at, self._frozen = self.position(), self.clock.seconds(), True
            d.callback(_answer(response))
        else:
            if method == "PLAY":
                self.connection.release()  # the stream goes on as it was
            d.errback(DeviceRefused("%s refused: RTSP %d" % (method, response.code), response.code))
        return True

    def observe(self, request: Request | None, response: Response) -> None:
        """The upstream answered the player's *request*."""
        if request is None or not 200 <= response.code < 300:
            return
        if request.method == "SETUP" and response.session_id:
            self.upstream_session = response.session_id
        elif request.method == "PLAY" and request.cseq == self._player_play:
            self._player_play = None
            self.connection.release()
            scale = request.headers.get("Scale")
            self._playing_from(response, _float(scale) if scale else None)
            self.session.played()

    def ended(self) -> None:
        """The relayed stream ended (either side closed)."""
        if self.ended_:
            return
        self.ended_ = True
        waiting, self._waiting = self._waiting, {}
        for d, timer, method in waiting.values():
            if timer.active():
                timer.cancel()
            d.errback(DeviceOffline("the stream ended before %s was answered" % (method,)))
        self.session.detached()

    # -- IStreamSteering

    def play(self, scale: float | None = None, position: float | None = None) -> defer.Deferred:
        headers = []
        if scale is not None:
            headers.append(("Scale", scale_value(scale)))
        if position is not None:
            headers.append(("Range", npt(position)))
        return self._send("PLAY", headers)

    def pause(self) -> defer.Deferred:
        self.connection.hold()
        self.connection.playing = False
        return self._send("PAUSE", [])

    def close(self, why: str) -> None:
        self.connection.close(why)

    def position(self) -> float | None:
        if self._npt is None:
            return None
        if self._frozen:
            return self._npt
        return max(0.0, self._npt + (self.clock.seconds() - self._npt_at) * self._rate)

    def _playing_from(self, response: Response, asked_scale: float | None) -> None:
        self.last_answer = _answer(response)
        match = _NPT.match(response.headers.get("Range") or "")
        scale, speed = _float(response.headers.get("Scale")), _float(response.headers.get("Speed"))
        if scale is None and speed is None:
            rate = asked_scale if asked_scale is not None else 1.0
        else:
            rate = (scale if scale is not None else 1.0) * (speed if speed is not None else 1.0)
        self._rate = rate
        self._npt = float(match.group(1)) if match else None
        self._npt_at = self.clock.seconds()
        self._frozen = False

    def _send(self, method: str, extra: list[tuple[str, str]]) -> defer.Deferred:
        if self.ended_:
            return defer.fail(DeviceOffline("the stream ended"))
        upstream = self.connection.upstream
        if self.control_uri is None or self.upstream_session is None or upstream is None:
            return defer.fail(DeviceRefused("the player has not played yet"))
        cseq = next(self._cseq)
        if method == "PLAY":
            self._asked_scale[cseq] = next((_float(v) for k, v in extra if k == "Scale"), None)
        headers = Headers([("CSeq", str(cseq)), ("Session", self.upstream_session), *extra])
        data = Request(method, self.control_uri, headers).to_bytes()
        d: defer.Deferred = defer.Deferred()
        timer = self.clock.callLater(self.timeout, self._late, cseq)
        self._waiting[cseq] = (d, timer, method)
        self.connection.stats.bytes_to_upstream += len(data)
        upstream.transport.write(data)
        log.debug("RTSP relay: {method} sent upstream for {key} ({headers})", method=method,
                  key=self.connection.upstream_key, headers=", ".join("%s: %s" % h for h in extra))
        return d

    def _late(self, cseq: int) -> None:
        waiting = self._waiting.pop(cseq, None)
        if waiting is not None:
            d, _, method = waiting
            if method == "PLAY":
                self.connection.release()
            d.errback(DeviceRefused("no answer to %s within %g s" % (method, self.timeout)))


def _answer(response: Response) -> dict:
    """What the upstream's answer says of the stream now (its Range, Scale and Speed)."""
    return {name: response.headers.get(name) for name in ("Range", "Scale", "Speed")
            if response.headers.get(name) is not None}


def _float(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number == number and abs(number) < 1e6 else None
