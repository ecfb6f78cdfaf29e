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


class LineBudget:
    """At most *per_second* log lines of one kind a second; the rest are counted, and one line a second
    says how many were not written one by one (*summary(count)*).

    A device login used to write one info line, a tenth of the platform's CPU for a login at
    2,000 logins/s (docs/benchmarks.md, "Device link: a compiled body reader, …"): a storm of logins (a
    province's cameras reconnecting after an outage) is told in one line a second, while the
    logins of an ordinary minute are still each on a line of their own.  The count is also in
    the metrics.  The timer that writes the summary runs on the injected *clock*, only while
    lines are being held back; :meth:`flush` writes what is held now (at shutdown).
    """

    def __init__(self, clock, per_second: int, summary):
        self.clock = clock
        self.per_second = per_second
        self.summary = summary
        self._second: int | None = None
        self._used = 0
        self.held = 0  # lines not written since the last summary
        self._timer = None

    def allow(self) -> bool:
        """Whether this line may be written; if not, it is counted for the summary."""
        second = int(self.clock.seconds())
        if second != self._second:
            self._second, self._used = second, 0
        if self._used < self.per_second:
            self._used += 1
            return True
        self.held += 1
        if self._timer is None:
            self._timer = self.clock.callLater(1.0, self.flush)
        return False

    def flush(self) -> None:
        """Write the summary of the lines held back, if any."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        held, self.held = self.held, 0
        if held:
            self.summary(held)
