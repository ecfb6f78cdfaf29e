"""URLs of the RTSP relay (spec §7.5.5, §7.5.23, §15; RFC 2326 §3.2): pure helpers.

URLs are taken apart by :func:`kandian.playurl.parse_rtsp_url` (the one
parser, with the play-URL format); :func:`replace_base` and :func:`rebase_url`
(with :func:`authority`) are how the relay rewrites request URIs, ``Content-Base``, ``Content-Location``,
``RTP-Info: url=`` and SDP ``a=control:`` between the client's and the
camera's view.  No I/O, no Twisted.
"""

from __future__ import annotations

__all__ = ["authority", "replace_base", "rebase_url"]


def authority(url: str) -> str:
    """``scheme://host:port`` of an absolute URL, as written (user information included)."""
    scheme, _, rest = url.partition("://")
    return scheme + "://" + rest.split("/", 1)[0].split("?", 1)[0]


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
