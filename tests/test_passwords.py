"""Passwords are stored as scrypt hashes (§8.2; PRODUCT.md "Security")."""

from hypothesis import given, settings, strategies as st
from twisted.trial import unittest

from kandian import passwords


class PasswordTests(unittest.SynchronousTestCase):
    def test_hash_verifies_and_hides_the_password(self):
        stored = passwords.hash_password("s3cret-口令")
        self.assertTrue(stored.startswith("scrypt$14$8$1$"))
        self.assertNotIn("s3cret", stored)
        self.assertTrue(passwords.verify_password("s3cret-口令", stored))
        self.assertFalse(passwords.verify_password("s3cret", stored))

    def test_salted(self):
        self.assertNotEqual(passwords.hash_password("same"), passwords.hash_password("same"))

    def test_foreign_or_corrupt_hashes_never_verify_and_never_raise(self):
        for stored in ["", "plain", "md5$x", "scrypt$14$8$1$!!$!!", "scrypt$99$8$1$AAAA$AAAA",
                       "scrypt$a$b$c$d$e", "scrypt$14$8$1$AAAA"]:
            self.assertFalse(passwords.verify_password("x", stored), stored)

    @settings(max_examples=25)
    @given(st.text(max_size=40), st.text(max_size=40))
    def test_only_the_right_password_verifies(self, right, other):
        stored = passwords.hash_password(right, log2_n=4)
        self.assertTrue(passwords.verify_password(right, stored))
        self.assertEqual(passwords.verify_password(other, stored), other == right)
