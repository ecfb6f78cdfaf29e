"""The play URL (§7.5.5, §7.5.23, §8.7, §10.1, §15): one format for the platform, the relay and the simulator.

A live stream is ``rtsp://host:port/realplay?devid=…&channelno=…&streamtype=…&hashtoken=…``,
a recording ``…/realplay?devid=…&channelno=…&filename=…&hashtoken=…``.
:func:`format_play_url` writes one (VideoPlay, RecordPlay, the relay's URL
towards the device); :func:`parse_play_url` reads one strictly (the relay, the
simulated camera), raising :class:`NotPlayUrl` for a URL that names no stream
and :class:`BadPlayQuery` for a query no client of ours sends.  Underneath,
:func:`parse_rtsp_url` takes any ``rtsp://`` URL apart (RFC 2326 §3.2) and
:func:`strict_query` reads a query for values that reach the store.
Pure: no I/O, no Twisted.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import quote, unquote

__all__ = ["PLAY_PATH", "PlayUrl", "NotPlayUrl", "BadPlayQuery", "parse_play_url", "format_play_url",
           "RTSPURL", "parse_rtsp_url", "strict_query"]

RTSP_PORT = 554  # RFC 2326 §3.2
PLAY_PATH = "/realplay"

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
_RTSP_PORTS = {"rtsp": RTSP_PORT, "rtspu": RTSP_PORT, "rtspt": RTSP_PORT, "rtsps": 322}


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
        port = _RTSP_PORTS[scheme.lower()]
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


class PlayUrl(NamedTuple):
    """What a play URL names: one live stream (*stream_type*) or one recording (*file_name*)."""

    dev_id: str
    channel_no: int
    stream_type: int | None
    file_name: str | None
    token: str  # "" when the URL carries none


class NotPlayUrl(ValueError):
    """Not an ``rtsp://`` URL, or not the ``/realplay`` path: it names no stream."""


class BadPlayQuery(ValueError):
    """A ``/realplay`` query no client of ours sends."""


_DEV_ID = re.compile(r"[0-9]{1,32}")
_SMALL_NUMBER = re.compile(r"[0-9]{1,9}")  # fits the store's integer columns


def parse_play_url(uri: str) -> PlayUrl:
    """The stream *uri* names (a track suffix such as ``/trackID=1`` ignored).

    :class:`NotPlayUrl` or :class:`BadPlayQuery` (both ``ValueError``) when it
    names none; the stream type is only read as a number here — whether the
    device has it is the core's question."""
    try:
        url = parse_rtsp_url(uri)
    except ValueError:
        raise NotPlayUrl("not an rtsp URL") from None
    if url.path.rstrip("/") != PLAY_PATH:
        raise NotPlayUrl("unknown path")
    try:
        query = strict_query(url.raw_query)
    except ValueError as e:
        raise BadPlayQuery("bad query: %s" % (e,)) from None
    dev_id = query.get("devid", "")
    file_name = query.get("filename") or None
    channel_text = query.get("channelno", "")
    stream_text = query.get("streamtype", "")
    if not _DEV_ID.fullmatch(dev_id):
        raise BadPlayQuery("bad query: devid is not a DevID")
    if not _SMALL_NUMBER.fullmatch(channel_text):
        raise BadPlayQuery("bad query: channelno is not a channel number")
    if file_name is None and not _SMALL_NUMBER.fullmatch(stream_text):
        raise BadPlayQuery("bad query: streamtype is not a stream type")
    stream_type = None if file_name else int(stream_text)
    return PlayUrl(dev_id, int(channel_text), stream_type, file_name, query.get("hashtoken", ""))


def format_play_url(host: str, port: int, dev_id: str, channel_no: int, token: str, *,
                    stream_type: int | None = None, file_name: str | None = None) -> str:
    """The play URL of one live stream (*stream_type*) or one recording (*file_name*) at *host*:*port*."""
    if (stream_type is None) == (file_name is None):
        raise ValueError("a play URL names a stream type or a file name")
    key, value = ("streamtype", str(stream_type)) if file_name is None else ("filename", file_name)
    # urlencode(…, quote_via=quote) of these four, spelled out (a VideoPlay formats two URLs)
    return "rtsp://%s:%d%s?devid=%s&channelno=%s&%s=%s&hashtoken=%s" % (
        "[%s]" % host if ":" in host else host, port, PLAY_PATH, _quoted(dev_id), _quoted(str(channel_no)), key,
        _quoted(value), _quoted(token))


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote(…, safe="") leaves as it is


def _quoted(value: str) -> str:
    """``quote(value, safe="")``, without its work for the common value that needs none (digits, hex)."""
    return value if _UNRESERVED.fullmatch(value) else quote(value, safe="")
