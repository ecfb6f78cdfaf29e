"""In memory: :class:`kandian.store.upgrades.UpgradeStore` (tables upgrade_campaign, upgrade_target)."""

from __future__ import annotations

import datetime

from twisted.internet import defer

from ..upgrades import IN_FLIGHT, TARGET_STATES, Campaign, Candidate, InFlight, Tally, Target


def _at(now):
    return None if now is None else datetime.datetime.fromtimestamp(now, datetime.UTC)


class FakeUpgrades:
    def __init__(self, store):
        self.node = store.node
        self.device = store.tables.setdefault("device", {})
        self.firmware = store.tables.setdefault("firmware", {})
        self.campaign_rows: dict[int, dict] = store.tables.setdefault("upgrade_campaign", {})
        self.target_rows: dict[tuple[int, str], dict] = store.tables.setdefault("upgrade_target", {})

    # -- campaigns

    def create(self, firmware_id, dev_ids, batch_size, max_failures, now, origin="operator"):
        if firmware_id not in self.firmware or any(d not in self.device for d in dev_ids):
            return defer.fail(ValueError("unknown firmware or device"))
        campaign_id = max(self.campaign_rows, default=0) + 1
        self.campaign_rows[campaign_id] = dict(
            campaign_id=campaign_id, firmware_id=firmware_id, state="running", batch_size=batch_size,
            max_failures=max_failures, failure_base=0, reason="", origin=origin, created_at=now, finished_at=None)
        for dev_id in dev_ids:
            self.target_rows[campaign_id, dev_id] = dict(
                campaign_id=campaign_id, dev_id=dev_id, state="pending", reason="", from_ver=None, sent_at=None,
                downloaded_at=None, finished_at=None)
        return defer.succeed(campaign_id)

    def _campaign(self, row):
        return Campaign(*(_at(row[f]) if f in ("created_at", "finished_at") else row[f] for f in Campaign._fields))

    def campaign(self, campaign_id):
        row = self.campaign_rows.get(campaign_id)
        return defer.succeed(None if row is None else self._campaign(row))

    def campaigns(self, open_only=False):
        return defer.succeed([self._campaign(row) for _, row in sorted(self.campaign_rows.items())
                              if not open_only or row["state"] in ("running", "paused")])

    def _failures(self, campaign_id):
        return sum(1 for t in self._of(campaign_id) if t["state"] == "failed" and t["sent_at"] is not None)

    def set_state(self, campaign_id, state, reason, now, from_states):
        row = self.campaign_rows.get(campaign_id)
        if row is None or row["state"] not in from_states:
            return defer.succeed(False)
        if state == "running":
            row["failure_base"] = self._failures(campaign_id)
        row.update(state=state, reason=reason, finished_at=now if state in ("finished", "cancelled") else None)
        return defer.succeed(True)

    def cancel(self, campaign_id, reason, now):
        row = self.campaign_rows.get(campaign_id)
        if row is None or row["state"] not in ("running", "paused"):
            return defer.succeed(False)
        row.update(state="cancelled", reason=reason, finished_at=now)
        for t in self._of(campaign_id):
            if t["state"] == "pending":
                t.update(state="failed", reason=reason, finished_at=now)
        return defer.succeed(True)

    # -- devices of a campaign

    def _of(self, campaign_id):
        return [t for (c, _), t in sorted(self.target_rows.items()) if c == campaign_id]

    def _in_flight_elsewhere(self, dev_id):
        return any(t["dev_id"] == dev_id and t["state"] in IN_FLIGHT for t in self.target_rows.values())

    def targets(self, campaign_id):
        return defer.succeed([Target(*(_at(t[f]) if f.endswith("_at") else t[f] for f in Target._fields))
                              for t in self._of(campaign_id)])

    def tally(self, campaign_id):
        states = [t["state"] for t in self._of(campaign_id)]
        return defer.succeed(Tally(*(states.count(s) for s in TARGET_STATES), self._failures(campaign_id)))

    def _candidate(self, dev_id):
        d = self.device[dev_id]
        return Candidate(dev_id, d["manufacturer_no"], d["model"], d["dev_ver"])

    def ready(self, campaign_id, limit):
        found = []
        for t in self._of(campaign_id):
            d = self.device.get(t["dev_id"])
            if (t["state"] == "pending" and d is not None and d["online"] and d["node"] == self.node
                    and not self._in_flight_elsewhere(t["dev_id"])):
                found.append(self._candidate(t["dev_id"]))
        return defer.succeed(found[:limit])

    def claim(self, campaign_id, dev_ids, now):
        claimed = []
        for dev_id in sorted(set(dev_ids)):
            t = self.target_rows.get((campaign_id, dev_id))
            if t is not None and t["state"] == "pending" and not self._in_flight_elsewhere(dev_id):
                t.update(state="sent", reason="", sent_at=now, from_ver=self.device[dev_id]["dev_ver"])
                claimed.append(dev_id)
        return defer.succeed(claimed)

    def move(self, campaign_id, dev_id, to, now, reason="", from_states=IN_FLIGHT):
        if to not in TARGET_STATES:
            return defer.fail(ValueError("no target state %r" % (to,)))
        t = self.target_rows.get((campaign_id, dev_id))
        if t is None or t["state"] not in from_states:
            return defer.succeed(False)
        t.update(state=to, reason=reason, finished_at=now if to in ("done", "failed") else None)
        if to == "pending":
            t.update(sent_at=None, from_ver=None)
        if to == "downloaded":
            t["downloaded_at"] = now
        return defer.succeed(True)

    def in_flight(self, dev_id=None):
        found = []
        for t in self.target_rows.values():
            if t["state"] in IN_FLIGHT and dev_id in (None, t["dev_id"]):
                f = self.firmware[self.campaign_rows[t["campaign_id"]]["firmware_id"]]
                d = self.device[t["dev_id"]]
                found.append(InFlight(t["dev_id"], t["campaign_id"], f.firmware_id, f.file_name, f.dev_ver,
                                      t["state"], t["sent_at"], d["dev_ver"], d["last_login_at"]))
        return defer.succeed(found)

    def expire(self, sent_before, reason, now):
        gone = []
        for t in self.target_rows.values():
            if t["state"] in IN_FLIGHT and t["sent_at"] < sent_before:
                t.update(state="failed", reason=reason, finished_at=now)
                gone.append((t["campaign_id"], t["dev_id"]))
        return defer.succeed(sorted(gone))

    # -- choosing devices

    def devices(self, dev_ids):
        return defer.succeed([self._candidate(d) for d in sorted(set(dev_ids)) if d in self.device])

    def of_model(self, manufacturer_no, model):
        return defer.succeed([self._candidate(d) for d, row in sorted(self.device.items())
                              if (row["manufacturer_no"], row["model"]) == (manufacturer_no, model)])

    def busy(self, dev_ids):
        wanted = set(dev_ids)
        found: dict[str, tuple] = {}
        for (campaign_id, dev_id), t in self.target_rows.items():
            open_ = self.campaign_rows[campaign_id]["state"] in ("running", "paused")
            if dev_id in wanted and (t["state"] in IN_FLIGHT or (t["state"] == "pending" and open_)):
                key = (t["state"] == "pending", campaign_id)
                found[dev_id] = min(found.get(dev_id, key), key)
        return defer.succeed({dev_id: key[1] for dev_id, key in found.items()})
