"""Who may play what through the platform's relay (§10.2, §15; PRODUCT.md "RTSP relay"): the RTSP adapter.

The first request of a relay connection names the stream and carries the
RelayPlayUrl's HashToken.  The URL is read by :func:`kandian.playurl.parse_play_url`
(before any database query) and the decision is the core's
(:meth:`kandian.core.play.Play.authorize_relay`: token first, then the
throttle, the device, the stream, the dial policy); :data:`STATUS` is the one
table from what went wrong to the RTSP status answered:

* 404 — not ``/realplay`` (a path says nothing about any device);
* 400 — a query no client of ours sends: a parameter twice, a control
  character (``%00``), an escape that is not UTF-8, a DevID, ChannelNo or
  StreamType that is not a small number;
* 503 with ``Retry-After`` — the source address made too many failed token
  checks lately; answered without a database query;
* 401 — the token is missing, unknown, expired, already used, issued for
  another stream, or not a relay token (§7.5.5: one use, 60 s);
* 404 — (only after a valid token) no such device, channel or stream type;
* 403 — the stream is closed (``stream_profile.enabled``);
* 503 — the device is offline, none of its addresses may be dialled, or the
  database is unavailable;
* 453 — the device already has ``max_streams_per_device`` relayed streams.
"""

from __future__ import annotations

import math

from twisted.internet import defer

from ..core import errors as e
from ..playurl import BadPlayQuery, NotPlayUrl, parse_play_url
from .relay import Refused, Upstream

STATUS: dict[type, int] = {
    NotPlayUrl: 404,
    BadPlayQuery: 400,
    e.TooManyFailures: 503,
    e.TokenRefused: 401,
    e.NoSuchDevice: 404,
    e.NoSuchChannel: 404,
    e.StreamClosed: 403,
    e.DeviceOffline: 503,
    e.NoRoute: 503,
    e.TooManyStreams: 453,
    e.DatabaseUnavailable: 503,  # the pool logged the outage once
}


def refusal(error: BaseException) -> Refused | None:
    """The :class:`Refused` answering *error*, or None when the table has no status for it."""
    status = e.lookup(STATUS, error)
    if status is None:
        return None
    # the reason is a metric label (kandian_relay_refusals_total): no figures in it
    if isinstance(error, e.TooManyFailures):
        return Refused(status, error.what, headers=[("Retry-After", str(max(1, math.ceil(error.retry_after))))])
    why = "database unavailable" if isinstance(error, e.DatabaseUnavailable) else str(error)
    return Refused(status, why)


def _refused(failure):
    refused = refusal(failure.value)
    if refused is None:
        return failure
    raise refused


class PlatformAuthorizer:
    """The relay's authorizer over the core's :class:`~kandian.core.play.Play`;
    a token of one of *sessions*' play sessions (:mod:`kandian.core.playsessions`)
    brings the session along (it steers the stream), and a stopped session's is 401."""

    def __init__(self, play, sessions=None):
        self.play = play
        self.sessions = sessions

    @property
    def policy_refused(self) -> int:
        return self.play.policy_refused

    def authorize(self, request, peer):
        try:
            url = parse_play_url(request.uri)
        except ValueError as error:
            return defer.fail(refusal(error))
        source = getattr(peer, "host", None) or "?"
        session = self.sessions.for_token(url.token) if self.sessions is not None and url.token else None
        if session is not None and session.ended:
            return defer.fail(Refused(401, "play session stopped"))
        d = self.play.authorize_relay(url, source)
        d.addCallback(lambda grant: Upstream(grant.dev_id, grant.upstreams, session))
        return d.addErrback(_refused)

    def release(self, key: str) -> None:
        self.play.release(key)

