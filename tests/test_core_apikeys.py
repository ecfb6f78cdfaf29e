"""kandian.core.apikeys: integrators' API keys and spec/002's access tokens."""

from __future__ import annotations

from twisted.internet import defer, task
from twisted.trial import unittest

from kandian.core import errors
from kandian.core.apikeys import ApiKeys, key_hash
from kandian.core.keys import Keys
from kandian.store.fake import FakeStore

NOW = 1_800_000_000


class ApiKeysTests(unittest.TestCase):
    def setUp(self):
        self.store = FakeStore()
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.keys = Keys(self.store.secrets)
        self.keys.load()
        self.api = ApiKeys(self.store, self.clock, self.keys, token_ttl=7200, cache_seconds=10)

    @defer.inlineCallbacks
    def test_add_prints_a_key_kept_only_as_its_hash(self):
        key, row = yield self.api.add("crm")
        self.assertEqual(len(key), 28)
        self.assertRegex(key, r"^[A-Za-z0-9_-]+$")
        self.assertFalse(row.master)
        [stored] = self.store.tables["api_key"].values()
        self.assertEqual(stored["key_hash"], key_hash(key))
        self.assertNotIn(key, repr(stored))
        other, _ = yield self.api.add("ops", master=True)
        self.assertNotEqual(key, other)

    @defer.inlineCallbacks
    def test_bad_names_and_taken_names(self):
        for name in ("", "a b", "x" * 65, "名字", None):
            yield self.assertFailure(self.api.add(name), errors.BadValue)
        yield self.api.add("crm")
        yield self.assertFailure(self.api.add("crm"), errors.ApiKeyExists)

    @defer.inlineCallbacks
    def test_check_is_name_and_master_or_none(self):
        key, _ = yield self.api.add("crm")
        master, _ = yield self.api.add("ops", master=True)
        self.assertEqual((yield self.api.check(key)), ("crm", False))
        self.assertEqual((yield self.api.check(master)), ("ops", True))
        for bad in ("", "short", key + "x", "A" * 28, None, 12, "é" * 20):
            self.assertIsNone((yield self.api.check(bad)), bad)

    @defer.inlineCallbacks
    def test_a_revoked_key_checks_none_and_lookup_says_so(self):
        key, _ = yield self.api.add("crm")
        yield self.api.check(key)  # cached
        yield self.api.revoke("crm")
        self.assertIsNone((yield self.api.check(key)))
        yield self.assertFailure(self.api.lookup(key), errors.ApiKeyRevoked)
        yield self.assertFailure(self.api.lookup("A" * 28), errors.NoSuchApiKey)
        yield self.assertFailure(self.api.lookup("?"), errors.BadValue)
        yield self.assertFailure(self.api.revoke("crm"), errors.NoSuchApiKey)

    @defer.inlineCallbacks
    def test_the_principal_is_an_admin_operator(self):
        key, _ = yield self.api.add("crm")
        principal = self.api.principal((yield self.api.lookup(key)))
        self.assertTrue(principal.admin)
        self.assertEqual(principal.name, "apikey:crm")

    @defer.inlineCallbacks
    def test_access_token_lives_token_ttl_seconds(self):
        key, row = yield self.api.add("crm")
        token = yield self.api.access_token(key)
        self.assertEqual(token.expires_in, 7200)
        self.assertEqual((yield self.api.token_key(token.token)).key_id, row.key_id)
        self.clock.advance(7199)
        yield self.api.token_key(token.token)
        self.clock.advance(1)
        yield self.assertFailure(self.api.token_key(token.token), errors.AccessTokenExpired)

    @defer.inlineCallbacks
    def test_forged_and_garbled_tokens_are_bad_not_expired(self):
        key, row = yield self.api.add("crm")
        token = (yield self.api.access_token(key)).token
        key_id, expires, signature = token.split(".")
        forged = [
            "%s.%d.%s" % (key_id, int(expires) + 1, signature),  # a later expiry
            "%d.%s.%s" % (row.key_id + 1, expires, signature),  # another key
            "%s.%s.%s" % (key_id, expires, "A" * 24),
            "%s.%s.%s" % (key_id, str(NOW - 10), signature),  # expired *and* forged: still forged
            token + "x", "", "1.2", "x.y.z", "0.%s.%s" % (expires, signature), None,
        ]
        for bad in forged:
            yield self.assertFailure(self.api.token_key(bad), errors.BadAccessToken)
        other = Keys(FakeStore().secrets)
        other.load()
        elsewhere = ApiKeys(self.store, self.clock, other)
        yield self.assertFailure(elsewhere.token_key(token), errors.BadAccessToken)

    @defer.inlineCallbacks
    def test_revoking_the_key_ends_its_tokens(self):
        key, _ = yield self.api.add("crm")
        token = (yield self.api.access_token(key)).token
        yield self.api.token_key(token)
        yield self.api.revoke("crm")
        yield self.assertFailure(self.api.token_key(token), errors.ApiKeyRevoked)
        yield self.assertFailure(self.api.access_token(key), errors.ApiKeyRevoked)

    @defer.inlineCallbacks
    def test_a_revocation_elsewhere_is_seen_within_cache_seconds(self):
        key, _ = yield self.api.add("crm")
        token = (yield self.api.access_token(key)).token
        yield self.api.token_key(token)
        yield self.store.apikeys.revoke("crm", NOW)  # another node
        yield self.api.token_key(token)  # remembered
        self.clock.advance(10)
        yield self.assertFailure(self.api.token_key(token), errors.ApiKeyRevoked)
