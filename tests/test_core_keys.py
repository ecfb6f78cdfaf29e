"""kandian.core.keys: derived FTP passwords and signed URLs."""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial import unittest

from kandian.core.keys import Keys, KeysNotLoaded
from kandian.store.fake import FakeStore

from .store_contract import StoreContract, contract


class KeysTests(unittest.TestCase):
    def setUp(self):
        self.store = FakeStore()
        self.keys = Keys(self.store.secrets)
        return self.keys.load()

    def test_not_loaded(self):
        with self.assertRaises(KeysNotLoaded):
            Keys(self.store.secrets).ftp_password("81100000001")

    def test_ftp_password_per_device_and_generation(self):
        a = self.keys.ftp_password("81100000001")
        self.assertEqual(len(a), 16)
        self.assertTrue(a.isalnum())
        self.assertEqual(a, self.keys.ftp_password("81100000001"))
        self.assertNotEqual(a, self.keys.ftp_password("81100000002"))
        self.assertNotEqual(a, self.keys.ftp_password("81100000001", 1))

    def test_another_platform_derives_other_passwords(self):
        other = Keys(FakeStore().secrets)
        other.load()
        self.assertNotEqual(other.ftp_password("81100000001"), self.keys.ftp_password("81100000001"))

    def test_signed_url(self):
        sig = self.keys.sign("picture", "/p/12", 1000)
        self.assertTrue(self.keys.verify("picture", "/p/12", 1000, sig, now=999))
        self.assertFalse(self.keys.verify("picture", "/p/12", 1000, sig, now=1000))  # expired
        self.assertFalse(self.keys.verify("picture", "/p/13", 1000, sig, now=999))
        self.assertFalse(self.keys.verify("picture", "/p/12", 1001, sig, now=999))
        self.assertFalse(self.keys.verify("live", "/p/12", 1000, sig, now=999))
        self.assertFalse(self.keys.verify("picture", "/p/12", 1000, sig[:-1] + "é", now=999))


class SecretsContract(StoreContract):
    @defer.inlineCallbacks
    def test_made_once(self):
        first = yield self.store.secrets.get("platform")
        again = yield self.store.secrets.get("platform")
        other = yield self.store.secrets.get("other")
        self.assertEqual(first, again)
        self.assertGreaterEqual(len(first), 32)
        self.assertNotEqual(first, other)


RealSecrets, FakeSecrets = contract(SecretsContract)
