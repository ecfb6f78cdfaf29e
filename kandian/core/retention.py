"""Pictures and device logs are kept ``[files] retention_days`` (§7.5.27, §7.5.34, §7.5.35).

Older ones go a batch at a time, oldest first: the rows first (``device_file``
with its ``picture`` or ``device_log`` row; an alarm keeps its row, without a
picture), then the files.  A file is removed only if it was last written
before the cut, so a same-named upload landing in between survives; a crash
between the two steps leaves files no row names, never a row whose file is
gone.  Pictures a device announced (NOTIFY_PICTURE_REQ) and never sent go
too.  Several nodes sharing a database and a files root may run it at once:
each batch's rows are claimed with ``SKIP LOCKED``.
"""

from __future__ import annotations

import os

from twisted.internet import defer, threads

BATCH = 500


def _remove(paths: list[str], before: float) -> int:
    removed = 0
    for path in paths:
        try:
            if os.stat(path).st_mtime < before:
                os.unlink(path)
                removed += 1
        except FileNotFoundError:
            pass
    return removed


class FileRetention:
    """*days* 0 keeps everything; *blocking* runs the file removals off the reactor thread."""

    def __init__(self, store, layout, clock, days: int, *, blocking=threads.deferToThread):
        self.store = store
        self.layout = layout
        self.clock = clock
        self.days = days
        self.blocking = blocking
        self.purged = 0  # files removed
        self.rows = 0  # rows deleted (files' and announced pictures')

    @defer.inlineCallbacks
    def purge(self):
        """One pass: how many files were removed."""
        if self.days <= 0:
            return 0
        before = self.clock.seconds() - self.days * 86400.0
        removed = 0
        while True:
            batch = yield self.store.files.expired(before, BATCH)
            self.rows += len(batch)
            if batch:
                paths = [self.layout.file(e.area, e.dev_id, e.file_name) for e in batch]
                removed += yield self.blocking(_remove, paths, before)
            if len(batch) < BATCH:
                break
        while True:
            count = yield self.store.files.unsent_pictures(before, BATCH)
            self.rows += count
            if count < BATCH:
                break
        self.purged += removed
        return removed
