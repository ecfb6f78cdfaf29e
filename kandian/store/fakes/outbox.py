"""In memory: :class:`kandian.store.outbox.OutboxStore` (tables sms_outbox, sms_part, sms_report).

Owners and names are read from the fake's ``user_device``, ``app_user``,
``device`` and ``channel`` tables.
"""

from __future__ import annotations

import datetime
import itertools

from twisted.internet import defer

from ..outbox import AlarmRecipient, Claimed, KeyRecipient, Message, final_state, report_reason


def _when(seconds):
    return None if seconds is None else datetime.datetime.fromtimestamp(seconds, datetime.UTC)


class FakeOutbox:
    def __init__(self, store):
        self.tables = store.tables
        self.messages: dict[int, dict] = self.tables.setdefault("sms_outbox", {})
        self.parts: dict[str, tuple[int, int]] = self.tables.setdefault("sms_part", {})  # MsgID → (id, part)
        self.reports: dict[str, tuple[str, str]] = self.tables.setdefault("sms_report", {})  # MsgID → (stat, err)
        self._ids = itertools.count(1)

    def queue(self, mobile, body, kind, now, valid_until, *, display=None, dev_id=None, alarm_id=None,
              once_per=None, claim_for=None):
        if once_per is not None:
            slots = self.tables.setdefault("sms_device_slot", {})
            last = slots.get((dev_id, kind))
            if last is not None and last > now - once_per:
                return defer.succeed(None)
            slots[dev_id, kind] = now
        message_id = next(self._ids)
        self.messages[message_id] = dict(
            message_id=message_id, mobile=mobile, body=body, display=display, kind=kind, dev_id=dev_id,
            alarm_id=alarm_id, status="queued", attempts=0, next_attempt_at=now, valid_until=valid_until,
            claimed_by=None, claimed_until=None, reason="", created_at=now, updated_at=now, submitted_at=None,
            finished_at=None)
        if claim_for is not None:
            node, lease = claim_for
            self.messages[message_id].update(status="sending", attempts=1, claimed_by=node,
                                             claimed_until=now + lease)
        return defer.succeed(message_id)

    def claim(self, node, now, limit, lease):
        due = sorted((m for m in self.messages.values() if m["status"] == "queued" and m["next_attempt_at"] <= now),
                     key=lambda m: (m["next_attempt_at"], m["message_id"]))[:limit]
        claimed, expired = [], 0
        for m in sorted(due, key=lambda m: m["message_id"]):
            m["updated_at"] = now
            if m["valid_until"] <= now:
                expired += 1
                last = m["reason"]
                m.update(status="expired", finished_at=now, reason="not submitted within its validity"
                         + (" (last: %s)" % last if last else ""))
                continue
            m.update(status="sending", attempts=m["attempts"] + 1, claimed_by=node, claimed_until=now + lease)
            claimed.append(Claimed(m["message_id"], m["mobile"], m["body"], m["kind"], m["attempts"],
                                   m["valid_until"]))
        return defer.succeed((claimed, expired))

    def submitted(self, items, node, now):
        for item in items:
            message_id, msg_ids = item[:2]
            for n, msg_id in enumerate(msg_ids):
                self.parts.setdefault(msg_id, (message_id, n))
            m = self.messages.get(message_id)
            if m is not None and m["status"] in ("queued", "sending"):
                m.update(status="submitted", submitted_at=item[2] if len(item) > 2 else now, updated_at=now,
                         claimed_by=None, claimed_until=None,
                         reason="", body=m["body"] if m["display"] is None else "")
        self._settle({item[0] for item in items}, now)
        return defer.succeed(None)

    def retry(self, items, node, now):
        for message_id, at, reason in items:
            m = self.messages.get(message_id)
            if m is not None and m["status"] == "sending" and m["claimed_by"] == node:
                m.update(status="queued", next_attempt_at=at, reason=reason, claimed_by=None, claimed_until=None,
                         updated_at=now)
        return defer.succeed(None)

    def finish(self, items, node, now):
        for message_id, state, reason in items:
            m = self.messages.get(message_id)
            if (m is not None and m["status"] in ("queued", "sending")
                    and m["claimed_by"] in (None, node)):
                m.update(status=state, reason=reason, finished_at=now, claimed_by=None, claimed_until=None,
                         updated_at=now)
        return defer.succeed(None)

    def report(self, reports, now):
        received = self.tables.setdefault("sms_report_received", {})
        for msg_id, stat, err in reports:
            self.reports.setdefault(msg_id, (stat, err))
            received.setdefault(msg_id, now)
        self._settle({self.parts[r[0]][0] for r in reports if r[0] in self.parts}, now)
        return defer.succeed(None)

    def _settle(self, ids, now):
        for message_id in ids:
            m = self.messages.get(message_id)
            if m is None or m["status"] != "submitted":
                continue
            parts = sorted((n, msg_id) for msg_id, (owner, n) in self.parts.items() if owner == message_id)
            reported = [self.reports.get(msg_id) for _, msg_id in parts]
            bad = [r for r in reported if r is not None and final_state(r[0]) != "delivered"]
            if bad:
                m.update(status=final_state(bad[0][0]), reason=report_reason(*bad[0]), finished_at=now,
                         updated_at=now)
            elif all(r is not None for r in reported):
                m.update(status="delivered", reason="", finished_at=now, updated_at=now)

    def release(self, node, now, stale_only=False):
        count = 0
        for m in self.messages.values():
            if m["status"] != "sending":
                continue
            if (m["claimed_until"] <= now) if stale_only else (m["claimed_by"] == node):
                m.update(status="queued", claimed_by=None, claimed_until=None, next_attempt_at=now, updated_at=now,
                         reason="outcome unknown: its sender stopped or its claim ran out")
                count += 1
        return defer.succeed(count)

    def purge(self, before):
        gone = [i for i, m in self.messages.items() if m["finished_at"] is not None and m["finished_at"] < before]
        for message_id in gone:
            del self.messages[message_id]
        for msg_id in [k for k, (owner, _) in self.parts.items() if owner in gone]:
            del self.parts[msg_id]
        received = self.tables.setdefault("sms_report_received", {})
        old = [k for k in self.reports if k not in self.parts and received.get(k, before) < before]
        for msg_id in old:
            del self.reports[msg_id]
        return defer.succeed((len(gone), len(old)))

    def list(self, status=None, limit=100):
        rows = sorted((m for m in self.messages.values() if status is None or m["status"] == status),
                      key=lambda m: m["message_id"], reverse=True)[:limit]
        return defer.succeed([
            Message(m["message_id"], m["mobile"], m["kind"], m["status"], m["attempts"],
                    m["display"] if m["display"] is not None else m["body"], m["dev_id"], m["alarm_id"], m["reason"],
                    _when(m["created_at"]), _when(m["updated_at"]), _when(m["valid_until"]),
                    [msg_id for _, msg_id in sorted((n, msg_id) for msg_id, (owner, n) in self.parts.items()
                                                    if owner == m["message_id"])])
            for m in rows])

    def _owner(self, dev_id):
        for (user_id, bound), share_flag in self.tables.get("user_device", {}).items():
            user = self.tables.get("app_user", {}).get(user_id)
            if bound == dev_id and share_flag == 0 and user is not None and user["status"] == "active":
                return user
        return None

    def alarm_recipient(self, dev_id, channel_no):
        user = self._owner(dev_id)
        device = self.tables.get("device", {}).get(dev_id)
        if user is None or device is None:
            return defer.succeed(None)
        channel = self.tables.get("channel", {}).get((dev_id, channel_no), "")
        alias = channel if isinstance(channel, str) else channel.get("name", "")
        return defer.succeed(AlarmRecipient(user["mobile"], user.get("alarm_sms", True),
                                            alias or device.get("name") or dev_id))

    def key_recipient(self, dev_id):
        device = self.tables.get("device", {}).get(dev_id)
        if device is None:
            return defer.succeed(None)
        user = self._owner(dev_id)
        return defer.succeed(KeyRecipient(device["dev_key"], user["mobile"] if user else None))
