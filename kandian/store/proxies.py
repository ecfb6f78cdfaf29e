"""Stream proxy channels (issue 16; PRODUCT.md "Media"): virtual devices fed by an external RTSP URL.

:meth:`ProxyStore.add` makes, in one transaction, a device row (DevID
``990`` + 8 digits from a sequence, a random DevKey nobody needs, model
``stream-proxy``), its channel 0 named as asked, and the ``stream_proxy``
row with the source URL.  Whether the source answers is written into the
device's ``online`` column, as a camera's link would be, under this node.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

from twisted.internet import defer

PREFIX = "990"
MODEL = "stream-proxy"


class Proxy(NamedTuple):
    dev_id: str
    name: str
    url: str
    online: bool


class ProxyStore:
    def __init__(self, db, node: str = ""):
        self.db = db
        self.node = node

    @defer.inlineCallbacks
    def add(self, url: str, name: str):
        """A new proxy's DevID."""

        @defer.inlineCallbacks
        def insert(cursor):
            yield cursor.execute("SELECT %s || lpad(nextval('stream_proxy_number')::text, 8, '0')", (PREFIX,))
            dev_id = cursor.fetchone()[0]
            yield cursor.execute(
                "INSERT INTO device (dev_id, dev_key, dev_type, model, name, channel_num)"
                " VALUES (%s, %s, 1, %s, %s, 1)", (dev_id, secrets.token_hex(16), MODEL, name))
            yield cursor.execute("INSERT INTO channel (dev_id, channel_no, name) VALUES (%s, 0, %s)", (dev_id, name))
            yield cursor.execute("INSERT INTO stream_proxy (dev_id, url) VALUES (%s, %s)", (dev_id, url))
            return dev_id

        dev_id = yield self.db.runInteraction(insert)
        return dev_id

    @defer.inlineCallbacks
    def list(self):
        rows = yield self.db.runQuery(
            "SELECT p.dev_id, d.name, p.url, d.online FROM stream_proxy p JOIN device d USING (dev_id)"
            " ORDER BY p.dev_id")
        return [Proxy(*row) for row in rows]

    @defer.inlineCallbacks
    def set_url(self, dev_id: str, url: str):
        """A proxy's new source URL; False when *dev_id* is no proxy."""
        rows = yield self.db.runQuery("UPDATE stream_proxy SET url = %s WHERE dev_id = %s RETURNING 1", (url, dev_id))
        return bool(rows)

    def set_online(self, dev_id: str, online: bool, now: float) -> defer.Deferred:
        """Record whether the proxy's source answers (its device's ``online``, held by this node)."""
        return self.db.runOperation(
            "UPDATE device SET online = %s, node = %s, last_seen_at = CASE WHEN %s THEN to_timestamp(%s)"
            " ELSE last_seen_at END, last_login_at = CASE WHEN %s AND NOT online THEN to_timestamp(%s)"
            " ELSE last_login_at END WHERE dev_id = %s AND model = %s",
            (online, self.node, online, now, online, now, dev_id, MODEL))
