"""The contract of the compatibility APIs' store components — apikeys, integrations — fake and PostgreSQL."""

from twisted.internet import defer

from kandian.core.errors import ApiKeyExists

from .store_contract import StoreContract, contract

H1, H2, H3 = "a" * 64, "b" * 64, "c" * 64


class ApiKeysContract(StoreContract):
    @defer.inlineCallbacks
    def test_add_find_list_revoke(self):
        k = yield self.store.apikeys.add("crm", H1, False, self.now)
        self.assertEqual((k.name, k.master, k.created_at, k.revoked_at), ("crm", False, self.now, None))
        m = yield self.store.apikeys.add("ops", H2, True, self.now + 1)
        self.assertTrue(m.master)
        self.assertNotEqual(k.key_id, m.key_id)
        yield self.assertFailure(self.store.apikeys.add("crm", H3, True, self.now), ApiKeyExists)
        self.assertEqual((yield self.store.apikeys.by_hash(H1)), k)
        self.assertEqual((yield self.store.apikeys.by_id(m.key_id)), m)
        self.assertIsNone((yield self.store.apikeys.by_hash(H3)))
        self.assertIsNone((yield self.store.apikeys.by_id(999999)))
        self.assertEqual([x.name for x in (yield self.store.apikeys.list())], ["crm", "ops"])
        self.assertTrue((yield self.store.apikeys.revoke("crm", self.now + 5)))
        self.assertFalse((yield self.store.apikeys.revoke("crm", self.now + 6)))
        self.assertFalse((yield self.store.apikeys.revoke("nobody", self.now + 6)))
        self.assertEqual((yield self.store.apikeys.by_hash(H1)).revoked_at, self.now + 5)
        # a revoked key's name is not given again
        yield self.assertFailure(self.store.apikeys.add("crm", H3, False, self.now), ApiKeyExists)


RealApiKeys, FakeApiKeys = contract(ApiKeysContract)
