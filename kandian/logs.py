"""Log observers for ``twistd --logger=…`` (structured logs for journald/ELK).

``twistd --nodaemon --logger=kandian.logs.json_lines kandian …`` writes one
JSON object per event to stdout (Twisted's own event serialisation: the
``log_format`` text, ``log_level``, ``log_namespace``, ``log_time`` and every
field the event carries, such as ``dev_id``), one per line, info and above.
Events never carry secrets: tokens, keys and passwords are not logged.
"""

from __future__ import annotations

import sys

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    jsonFileLogObserver,
    textFileLogObserver,
)


def _at_least(observer, level: LogLevel):
    return FilteringLogObserver(observer, [LogLevelFilterPredicate(defaultLogLevel=level)])


def json_lines():
    """JSON, one event per line, info and above, on stdout."""
    return _at_least(jsonFileLogObserver(sys.stdout, recordSeparator=""), LogLevel.info)


def text():
    """Plain text like twistd's default, info and above (no debug chatter), on stdout."""
    return _at_least(textFileLogObserver(sys.stdout), LogLevel.info)


def peer_text(value, limit: int = 64) -> str:
    """A peer-supplied string for a log line: printable, at most *limit* characters.

    DevIDs, URLs and element values come from the network; logged whole, one
    60,000-character DevID is a 60 KB log line.
    """
    if not isinstance(value, str):
        value = value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)
    if len(value) > limit:
        value = value[:limit] + "…(%d chars)" % len(value)
    return value.encode("unicode_escape").decode("ascii") if not value.isprintable() else value
