"""Being the group platform (§5, §6 as the answering side, §6.6, §9).

A carrier may run kandian as its group platform (``[group_role] listen``):

* provinces are configured by the operator (``kandianctl province add``)
  with their ProvinceNo, CmsNo and CmsPassword — kept as a scrypt hash,
  checked in the reactor's thread pool, a failure counted against the
  asking address by the throttle before any hashing (:meth:`GroupRole.authenticate`);
* §6.1: a province reports its McuUrl and DevUrl and is answered with the
  current clients (``kandianctl client set``); §6.2–§6.4: the users it
  opens, changes and cancels are kept per province;
* §5/§6.6: a device asking for its province is stored the first time
  (its key then is its key here) and refused until a province claims it;
  §6.5: a province claims a device it was asked to add, if the key is
  right and no other province has it; then the device's next REDIRECT_REQ
  is answered with that province's DevUrl;
* §9: the client upgrade check and the list of provinces.

Raises :mod:`kandian.core.errors`; the Results are
:mod:`kandian.grouprole.results`'.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from twisted.internet import defer, threads
from twisted.logger import Logger

from ..passwords import hash_password
from . import errors
from .clients import PLATFORMS, ClientReleases, Release, normalized, upgrade_for

log = Logger()

PROVINCE_NO = re.compile(r"^[0-9]{4}$")
CMS_NO = re.compile(r"^[0-9]{2}$")
MOBILE = re.compile(r"^[0-9]{5,20}$")
DEV_ID = re.compile(r"^[0-9]{11}$")
URL = re.compile(r"^https?://[^\s]{1,1000}$")


class Platform(NamedTuple):
    """§9 GetPlatformList: one province platform (CmsName, CmsUrl)."""

    name: str
    url: str


class GroupRole:
    def __init__(self, store, clock, *, passwords, throttle, hash_password=hash_password):
        """*passwords*: a :class:`.credentials.PasswordChecker`; *throttle*: a
        :class:`kandian.throttle.FailureThrottle` for CmsPassword checks."""
        self.store = store
        self.clock = clock
        self.passwords = passwords
        self.throttle = throttle
        self._hash = hash_password

    def now(self) -> float:
        return self.clock.seconds()

    # -- the operator's

    @defer.inlineCallbacks
    def add_province(self, province_no: str, cms_no: str, password: str, *, name: str = "", mcu_url: str = "",
                     dev_url: str = ""):
        """A province platform allowed to talk to this group platform; BadValue or ProvinceExists."""
        if not PROVINCE_NO.match(province_no):
            raise errors.BadValue("ProvinceNo is 4 digits (GB/T 2260): %r" % (province_no,))
        if not CMS_NO.match(cms_no):
            raise errors.BadValue("CmsNo is 2 digits: %r" % (cms_no,))
        if not password:
            raise errors.BadValue("the CmsPassword must not be empty")
        for what, url in (("McuUrl", mcu_url), ("DevUrl", dev_url)):
            if url and not URL.match(url):
                raise errors.BadValue("%s must be an http:// or https:// URL: %r" % (what, url[:80]))
        hashed = yield threads.deferToThread(self._hash, password)
        yield self.store.group_role.add_province(province_no, cms_no, hashed, name, mcu_url, dev_url)

    def provinces(self) -> defer.Deferred:
        """[kandian.store.grouprole.Province]."""
        return self.store.group_role.provinces()

    def users(self, province_no: str, cms_no: str) -> defer.Deferred:
        """[(mobile, ipcam_num)] a province opened."""
        return self.store.group_role.users(province_no, cms_no)

    @defer.inlineCallbacks
    def set_client(self, platform: str, version: str, url: str):
        """The current client of *platform* (android, ios, windows); its
        version in §8.2's form (``A-2.1``); BadValue."""
        version = normalized(platform, version)
        if not URL.match(url):
            raise errors.BadValue("the client's URL must be an http:// or https:// URL: %r" % (url[:80],))
        yield self.store.group_role.set_release(platform, version, url, self.now())
        return version

    @defer.inlineCallbacks
    def releases(self):
        """The current clients: ClientReleases."""
        found = yield self.store.group_role.releases()
        return ClientReleases(**{platform: Release(*found[platform]) for platform in PLATFORMS if platform in found})

    # -- §6: a province asking

    @defer.inlineCallbacks
    def authenticate(self, province_no: str, cms_no: str, password: str, source: str | None):
        """The Province of these credentials; NoSuchProvince (§6 Result 1),
        WrongPassword (2) or TooManyFailures (the address guessed too often)."""
        address, key = source or "?", ("cms", province_no, cms_no)
        if not self.throttle.allowed(address, key):
            raise errors.TooManyFailures("too many failed CmsPassword checks from this address",
                                         self.throttle.retry_after(address, key))
        province = None
        if PROVINCE_NO.match(province_no) and CMS_NO.match(cms_no):
            province = yield self.store.group_role.province(province_no, cms_no)
        if province is None:
            self.throttle.failed(address, key)
            raise errors.NoSuchProvince("no province platform %s/%s" % (province_no, cms_no))
        ok = yield self.passwords.check(password, province.password_hash)
        if not ok:
            self.throttle.failed(address, key)
            raise errors.WrongPassword("wrong CmsPassword for %s/%s" % (province_no, cms_no))
        self.throttle.succeeded(address, key)
        return province

    @defer.inlineCallbacks
    def address_report(self, province, cms_ver: str, mcu_url: str, dev_url: str):
        """§6.1: keep the province's addresses; the current clients."""
        for what, url in (("McuUrl", mcu_url), ("DevUrl", dev_url)):
            if not URL.match(url):
                raise errors.BadValue("%s is not an http:// or https:// URL" % (what,))
        yield self.store.group_role.reported(province.province_no, province.cms_no, cms_ver, mcu_url, dev_url,
                                             self.now())
        return (yield self.releases())

    def _mobile(self, mobile: str) -> None:
        if not MOBILE.match(mobile):
            raise errors.BadValue("MobileTel must be 5 to 20 digits")

    @defer.inlineCallbacks
    def user_open(self, province, mobile: str, ipcam_num: int):
        """§6.2 (opening an opened user again sets its IpcamNum)."""
        self._mobile(mobile)
        yield self.store.group_role.open_user(province.province_no, province.cms_no, mobile, ipcam_num, self.now())

    @defer.inlineCallbacks
    def user_change(self, province, mobile: str, ipcam_num: int):
        """§6.3; NoSuchAccount when the province never opened the user."""
        self._mobile(mobile)
        found = yield self.store.group_role.change_user(province.province_no, province.cms_no, mobile, ipcam_num,
                                                        self.now())
        if not found:
            raise errors.NoSuchAccount("%s/%s has no user %s" % (province.province_no, province.cms_no, mobile))

    @defer.inlineCallbacks
    def user_cancel(self, province, mobile: str):
        """§6.4; NoSuchAccount when the province never opened the user."""
        self._mobile(mobile)
        found = yield self.store.group_role.cancel_user(province.province_no, province.cms_no, mobile)
        if not found:
            raise errors.NoSuchAccount("%s/%s has no user %s" % (province.province_no, province.cms_no, mobile))

    @defer.inlineCallbacks
    def device_use(self, province, dev_id: str, dev_key: str):
        """§6.5, §6.6 step 7: the device becomes the province's.  NoSuchDevice
        (it never asked here: power it on first), WrongDevKey, AlreadyBound
        (another province has it)."""
        device = yield self.store.group_role.device(dev_id) if DEV_ID.match(dev_id) else None
        if device is None:
            raise errors.NoSuchDevice("%s never asked the group platform" % (dev_id,))
        if device.dev_key != dev_key:
            raise errors.WrongDevKey("wrong DevKey for %s" % (dev_id,))
        claimed = yield self.store.group_role.claim(dev_id, province.province_no, province.cms_no, self.now())
        if not claimed:
            raise errors.AlreadyBound("%s belongs to another province platform" % (dev_id,))
        log.info("group: device {dev_id} is province {p}/{c}'s", dev_id=dev_id, p=province.province_no,
                 c=province.cms_no)

    # -- §5: a device asking

    @defer.inlineCallbacks
    def redirect(self, dev_id: str, dev_key: str, model: str | None, dev_type: int | None):
        """§5, §6.6 steps 1–3 and 8: the DevUrl of the province the device
        belongs to.  NoSuchDevice (not a DevID of a known manufacturer: not
        stored), WrongDevKey (not the key it first came with),
        DeviceUnclaimed (no province has claimed it, or its province has no
        DevUrl yet)."""
        if not DEV_ID.match(dev_id) or not dev_key:
            raise errors.NoSuchDevice("not a DevID (11 digits) with a DevKey")
        asked = yield self.store.group_role.asked(dev_id, dev_key, model or "", dev_type, self.now())
        if asked.new:
            log.info("group: device {dev_id} asked for its province for the first time", dev_id=dev_id)
        if asked.dev_key != dev_key:
            raise errors.WrongDevKey("%s came with another DevKey" % (dev_id,))
        if not asked.claimed:
            raise errors.DeviceUnclaimed("no province platform has claimed %s" % (dev_id,))
        if not asked.dev_url:
            raise errors.DeviceUnclaimed("the province platform of %s has reported no DevUrl" % (dev_id,))
        return asked.dev_url

    # -- §9

    @defer.inlineCallbacks
    def client_upgrade(self, version: str):
        """§9.1: the Release a client at *version* should upgrade to, or None; BadValue."""
        releases = yield self.releases()
        return upgrade_for(version, releases)

    @defer.inlineCallbacks
    def platforms(self):
        """§9.2: the province platforms clients may use (those with a McuUrl): [Platform]."""
        provinces = yield self.store.group_role.provinces()
        return [Platform(p.name or "%s-%s" % (p.province_no, p.cms_no), p.mcu_url) for p in provinces if p.mcu_url]
