"""URLs of the RTSP relay (spec §7.5.5, §7.5.23, §15; RFC 2326 §3.2): pure helpers.

:func:`parse_rtsp_url` takes the spec's
``rtsp://ip:port/realplay?devid=…&channelno=…&streamtype=…&hashtoken=…`` apart,
with the ``/trackID=1`` that clients append after the query split off;
:func:`replace_base` and :func:`rebase_url` (with :func:`authority`) are how
the relay rewrites request URIs, ``Content-Base``, ``Content-Location``,
``RTP-Info: url=`` and SDP ``a=control:`` between the client's and the
camera's view.  No I/O, no Twisted.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote

from .message import DEFAULT_PORT

__all__ = ["RTSPURL", "authority", "parse_rtsp_url", "strict_query", "replace_base", "rebase_url"]

_DIGITS = re.compile(r"[0-9]+")


class RTSPURL(NamedTuple):
    """An ``rtsp://`` URL taken apart (:func:`parse_rtsp_url`)."""

    host: str
    port: int
    path: str
    query: dict[str, str]  # first value of each parameter, percent-decoded
    raw_query: str  # without '?' and without the suffix
    suffix: str  # what a client appended after the query: '/trackID=1', '/', or ''


_URL = re.compile(r"(?i)(rtsps?|rtspu|rtspt)://([^/?#]*)([^#]*)(?:#.*)?")
_DEFAULT_PORTS = {"rtsp": DEFAULT_PORT, "rtspu": DEFAULT_PORT, "rtspt": DEFAULT_PORT, "rtsps": 322}


def parse_rtsp_url(url: str) -> RTSPURL:
    """Take an ``rtsp://`` URL apart; ``ValueError`` when it is not one.

    Clients build a track's URL from ``Content-Base`` (or the request URL) and
    the SDP ``a=control:`` by appending ``/`` and the control — after the
    query when the base has one (ffmpeg, live555):
    ``rtsp://h/realplay?devid=1&hashtoken=abc/trackID=1``. The part of the
    query's last parameter from its first ``/`` on is returned as ``suffix``,
    so the parameters still read right; a ``/`` inside a query value must be
    percent-encoded (kandian's own URLs are). GStreamer puts the control before
    the query instead (``/realplay/stream=0?devid=1``): that stays in ``path``.
    User information (``user:password@``) is dropped.
    """
    match = _URL.fullmatch(url.strip())
    if match is None:
        raise ValueError(f"not an rtsp URL: {url[:120]!r}")
    scheme, authority, rest = match.groups()
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        host, bracket, port_text = hostport[1:].partition("]")
        if not bracket or port_text[:1] not in ("", ":"):
            raise ValueError(f"bad IPv6 host in {url[:120]!r}")
        port_text = port_text[1:]
    else:
        host, _, port_text = hostport.partition(":")
    if not host:
        raise ValueError(f"no host in {url[:120]!r}")
    if port_text:
        if not _DIGITS.fullmatch(port_text) or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port {port_text!r} in {url[:120]!r}")
        port = int(port_text)
    else:
        port = _DEFAULT_PORTS[scheme.lower()]
    path, _, raw_query = rest.partition("?")
    suffix = ""
    slash = raw_query.find("/", raw_query.rfind("&") + 1)
    if slash >= 0:
        raw_query, suffix = raw_query[:slash], raw_query[slash:]
    query: dict[str, str] = {}
    for part in raw_query.split("&"):
        if part:
            key, _, value = part.partition("=")
            query.setdefault(unquote(key), unquote(value))
    return RTSPURL(host.lower(), port, path or "/", query, raw_query, suffix)


def authority(url: str) -> str:
    """``scheme://host:port`` of an absolute URL, as written (user information included)."""
    scheme, _, rest = url.partition("://")
    return scheme + "://" + rest.split("/", 1)[0].split("?", 1)[0]


_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def strict_query(raw_query: str, max_value: int = 256) -> dict[str, str]:
    """The parameters of a raw query, for values that reach the store;
    ``ValueError`` for anything a well-behaved client never sends: a broken
    ``%`` escape, an escape that is not UTF-8, a control character (NUL among
    them), a value longer than *max_value*, or a parameter given twice."""
    query: dict[str, str] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        if _ESCAPE.search(part):
            raise ValueError("broken %-escape in the query")
        key, _, value = part.partition("=")
        try:
            key, value = unquote(key, errors="strict"), unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise ValueError("a %-escape in the query is not UTF-8") from None
        if not (key + value).isprintable():
            raise ValueError("a control character in the query")
        if len(value) > max_value or len(key) > max_value:
            raise ValueError("a query parameter is too long")
        if key in query:
            raise ValueError("query parameter %r given twice" % (key[:32],))
        query[key] = value
    return query


# Characters that continue a URL: after a match of the base, one of these
# means a longer, different URL ('rtsp://h/a' is not the start of 'rtsp://h/ab').
_URL_CONTINUES = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%!$&*+=:@")


def _ends_url(base: str, following: str) -> bool:
    """Whether *base* followed by the character *following* is *base* itself
    or a URL under it (``''`` is the end of the text)."""
    if not following or base[-1:] in ("/", "?", "&"):
        return True
    if following == "?":
        return "?" not in base
    return following not in _URL_CONTINUES


def replace_base(text: str, old_base: str, new_base: str) -> str:
    """Replace each occurrence of the absolute URL *old_base* in *text*.

    For header values and SDP bodies: ``Content-Base``, ``Content-Location``,
    ``RTP-Info: url=…;seq=…``, ``a=control:rtsp://…/trackID=1``. An occurrence
    counts when the URL ends there or goes on below it (``/…``, or ``?…`` for a
    base without a query); ``rtsp://h/live`` is not replaced inside
    ``rtsp://h/live2`` nor ``…&hashtoken=abc`` inside ``…&hashtoken=abcd``.
    """
    if not old_base:
        raise ValueError("old_base must not be empty")
    out: list[str] = []
    start = 0
    found = text.find(old_base)
    while found >= 0:
        after = found + len(old_base)
        if _ends_url(old_base, text[after : after + 1]):
            out.append(text[start:found])
            out.append(new_base)
            start = after
            found = text.find(old_base, after)
        else:
            found = text.find(old_base, found + 1)
    out.append(text[start:])
    return "".join(out)


def rebase_url(url: str, old_base: str, new_base: str) -> str | None:
    """*url* moved from under *old_base* to under *new_base*, or ``None`` when
    it is not under *old_base*.

    Handles the three shapes clients produce for a track of a base that has a
    query: the base itself (aggregate PLAY, with or without a trailing ``/``),
    the control appended after the query (ffmpeg, live555:
    ``…?q/trackID=1``), and the control inserted before the query (GStreamer:
    ``…/path/stream=0?q``).
    """
    if url.startswith(old_base) and _ends_url(old_base, url[len(old_base) : len(old_base) + 1]):
        return new_base + url[len(old_base) :]
    old_path, qmark, old_query = old_base.partition("?")
    if qmark and url.endswith("?" + old_query):
        inner = url[: len(url) - len(old_query) - 1]
        if inner.startswith(old_path) and inner[len(old_path) : len(old_path) + 1] == "/":
            control = inner[len(old_path) :]
            new_path, new_qmark, new_query = new_base.partition("?")
            return f"{new_path.rstrip('/')}{control}{new_qmark}{new_query}"
    return None
