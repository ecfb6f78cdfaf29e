"""spec/002's URLs: ``/api/v1/<接口>?<参数>=<数据>&…`` and ``/api/v1/<接口>/<参数>/<数据>/…`` (its §1).

:func:`parse` takes a request's path and query apart into the endpoint's
name and its parameters, both styles at once (a path's pairs first, the
query's over them; the last of a repeated parameter counts).  Names are
case-sensitive, as the file says.  A path or query that is not UTF-8, or a
parameter name that is empty, is :class:`BadUrl`.  Pure: no I/O, no Twisted.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote_to_bytes

PREFIX = "/api/v1/"
MAX_PARAMETERS = 32


class BadUrl(ValueError):
    """A URL that names no endpoint, or cannot be read."""


class NotApi(BadUrl):
    """A path outside ``/api/v1/``."""


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadUrl("the %s is not UTF-8" % (what,)) from None


def parse(path: bytes, query: bytes = b"") -> tuple[str, dict[str, str]]:
    """(endpoint, parameters) of a request's path and query (without '?')."""
    text = _text(path, "path")
    if not text.startswith(PREFIX):
        raise NotApi("not under %s" % (PREFIX,))
    segments = text[len(PREFIX):].split("/")
    while len(segments) > 1 and segments[-1] == "":
        segments.pop()  # a trailing slash
    name, pairs = segments[0], segments[1:]
    if not name:
        raise NotApi("no endpoint")
    params: dict[str, str] = {}
    for n in range(0, len(pairs), 2):
        key = _text(unquote_to_bytes(pairs[n]), "path")
        value = _text(unquote_to_bytes(pairs[n + 1]), "path") if n + 1 < len(pairs) else ""
        if not key:
            raise BadUrl("an empty parameter name in the path")
        params[key] = value
    try:
        items = parse_qsl(_text(query, "query"), keep_blank_values=True, errors="strict",
                          max_num_fields=MAX_PARAMETERS)
    except UnicodeDecodeError:
        raise BadUrl("the query is not UTF-8") from None
    except ValueError:
        raise BadUrl("more than %d parameters" % (MAX_PARAMETERS,)) from None
    for key, value in items:
        if not key:
            raise BadUrl("an empty parameter name in the query")
        params[key] = value
    if len(params) > MAX_PARAMETERS:
        raise BadUrl("more than %d parameters" % (MAX_PARAMETERS,))
    return _text(unquote_to_bytes(name), "path"), params


def path_style(name: str, params: list[tuple[str, str]]) -> str:
    """The path of *name* with *params* in the file's second style (for clients and tests)."""
    from urllib.parse import quote
    return PREFIX + name + "".join("/%s/%s" % (quote(k, safe=""), quote(v, safe="")) for k, v in params)
