"""The in-memory :class:`kandian.store.grouprole.GroupRoleStore`."""

from __future__ import annotations

from twisted.internet import defer

from ...core.errors import NoSuchDevice, ProvinceExists
from ..grouprole import Asked, GroupDevice, Province

# §7.2's manufacturer numbers, as migration 0001 seeds them
MANUFACTURERS = frozenset(str(n) for n in range(811, 827))


class FakeGroupRole:
    def __init__(self, store):
        t = store.tables
        self.provinces_: dict[tuple[str, str], dict] = t.setdefault("province", {})
        self.users_: dict[tuple[str, str, str], int] = t.setdefault("province_user", {})
        self.devices: dict[str, dict] = t.setdefault("group_device", {})
        self.releases_: dict[str, tuple[str, str]] = t.setdefault("client_release", {})

    def _province(self, key) -> Province:
        row = self.provinces_[key]
        return Province(*key, row["password_hash"], row["name"], row["mcu_url"], row["dev_url"], row["cms_ver"],
                        row["reported_at"], sum(1 for u in self.users_ if u[:2] == key),
                        sum(1 for d in self.devices.values() if d["province"] == key))

    def add_province(self, province_no, cms_no, password_hash, name="", mcu_url="", dev_url="") -> defer.Deferred:
        key = (province_no, cms_no)
        if key in self.provinces_:
            return defer.fail(ProvinceExists("province %s/%s exists already" % key))
        self.provinces_[key] = dict(password_hash=password_hash, name=name, mcu_url=mcu_url, dev_url=dev_url,
                                    cms_ver="", reported_at=None)
        return defer.succeed(None)

    def province(self, province_no, cms_no) -> defer.Deferred:
        key = (province_no, cms_no)
        return defer.succeed(self._province(key) if key in self.provinces_ else None)

    def provinces(self) -> defer.Deferred:
        return defer.succeed([self._province(key) for key in sorted(self.provinces_)])

    def reported(self, province_no, cms_no, cms_ver, mcu_url, dev_url, now) -> defer.Deferred:
        row = self.provinces_.get((province_no, cms_no))
        if row is not None:
            row.update(cms_ver=cms_ver, mcu_url=mcu_url, dev_url=dev_url, reported_at=now)
        return defer.succeed(None)

    def open_user(self, province_no, cms_no, mobile, ipcam_num, now) -> defer.Deferred:
        self.users_[(province_no, cms_no, mobile)] = ipcam_num
        return defer.succeed(None)

    def change_user(self, province_no, cms_no, mobile, ipcam_num, now) -> defer.Deferred:
        key = (province_no, cms_no, mobile)
        if key not in self.users_:
            return defer.succeed(False)
        self.users_[key] = ipcam_num
        return defer.succeed(True)

    def cancel_user(self, province_no, cms_no, mobile) -> defer.Deferred:
        return defer.succeed(self.users_.pop((province_no, cms_no, mobile), None) is not None)

    def users(self, province_no, cms_no) -> defer.Deferred:
        return defer.succeed(sorted((k[2], n) for k, n in self.users_.items() if k[:2] == (province_no, cms_no)))

    def asked(self, dev_id, dev_key, model, dev_type, now) -> defer.Deferred:
        row = self.devices.get(dev_id)
        new = row is None
        if new:
            if len(dev_id) != 11 or not dev_id.isdigit() or dev_id[:3] not in MANUFACTURERS or not dev_key:
                return defer.fail(NoSuchDevice("%s names no known manufacturer" % (dev_id,)))
            row = self.devices[dev_id] = dict(dev_key=dev_key, model=model, dev_type=dev_type, province=None,
                                              first_seen_at=now)
        row["last_asked_at"] = now
        province = self.provinces_.get(row["province"]) if row["province"] else None
        return defer.succeed(Asked(row["dev_key"], row["province"] is not None,
                                   province["dev_url"] if province else "", new))

    def device(self, dev_id) -> defer.Deferred:
        row = self.devices.get(dev_id)
        if row is None:
            return defer.succeed(None)
        province_no, cms_no = row["province"] or (None, None)
        return defer.succeed(GroupDevice(dev_id, row["dev_key"], province_no, cms_no))

    def claim(self, dev_id, province_no, cms_no, now) -> defer.Deferred:
        row = self.devices.get(dev_id)
        if row is None or row["province"] not in (None, (province_no, cms_no)):
            return defer.succeed(False)
        row["province"] = (province_no, cms_no)
        return defer.succeed(True)

    def set_release(self, platform, version, url, now) -> defer.Deferred:
        self.releases_[platform] = (version, url)
        return defer.succeed(None)

    def releases(self) -> defer.Deferred:
        return defer.succeed(dict(self.releases_))
