"""Signed URLs and play tokens of the ``[onenet]`` listener (spec/001 §4, §5.5, §6.5, §17.1).

What the API hands out to be fetched without an ``api-key`` — a picture's
URL, an alarm's picture, a play token — carries an expiry and a MAC from
:meth:`kandian.core.keys.Keys.sign` over its purpose and path: ``?exp=&sig=``
on a URL, ``<exp>.<sig>`` as a token.  Nothing is stored; a URL or token
stops working when it expires (``timeout=-1`` of §4.1 asks for one that does
not: it gets ten years).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..core import errors

FOREVER = 10 * 365 * 86400
_TOKEN = re.compile(r"^([0-9]{1,12})\.([A-Za-z0-9_-]{24})$")


class Signer:
    def __init__(self, keys, clock, base: Callable[[bool], str], ttl: int):
        """*keys*: :class:`kandian.core.keys.Keys`; *base(https)*: this listener's public
        ``scheme://host:port``; *ttl*: seconds a URL is valid."""
        self.keys = keys
        self.clock = clock
        self.base = base
        self.ttl = ttl

    def expiry(self, ttl: int | None = None) -> int:
        return int(self.clock.seconds()) + (self.ttl if ttl is None else ttl)

    def url(self, path: str, *, https: bool = False, ttl: int | None = None) -> str:
        expires = self.expiry(ttl)
        return "%s%s?exp=%d&sig=%s" % (self.base(https), path, expires, self.keys.sign("onenet", path, expires))

    def check(self, path: str, query: dict) -> None:
        """Forbidden unless *query* signs *path* and has not expired."""
        exp, sig = query.get("exp", ""), query.get("sig", "")
        if not exp.isdigit() or len(exp) > 12 or not self.keys.verify("onenet", path, int(exp), sig,
                                                                      self.clock.seconds()):
            raise errors.Forbidden("a bad or expired signature")

    def token(self, purpose: str, subject: str, ttl: int) -> str:
        expires = self.expiry(FOREVER if ttl < 0 else ttl)
        return "%d.%s" % (expires, self.keys.sign("onenet-" + purpose, subject, expires))

    def check_token(self, purpose: str, subject: str, token: str) -> None:
        match = _TOKEN.match(token or "")
        if match is None or not self.keys.verify("onenet-" + purpose, subject, int(match.group(1)),
                                                 match.group(2), self.clock.seconds()):
            raise errors.Forbidden("a bad or expired token")
