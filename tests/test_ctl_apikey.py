"""``kandianctl apikey``: a child process against real PostgreSQL."""

from twisted.internet import defer

from kandian.core.apikeys import key_hash

from .pg import DatabaseTestCase
from .test_ctl import kandianctl
from .test_twistd import write_config


class ApiKeyCommandTests(DatabaseTestCase):
    def setUp(self):
        d = super().setUp()
        d.addCallback(lambda _: setattr(self, "config", write_config(self.mktemp(), self.mktemp(), dsn=self.dsn)))
        return d

    @defer.inlineCallbacks
    def test_add_prints_the_key_alone_list_revoke(self):
        code, out = yield kandianctl(self.config, "apikey", "add", "crm")
        self.assertEqual(code, 0, out)
        self.assertRegex(out, r"^[A-Za-z0-9_-]{28}\n$")
        key = out.strip()
        code, out = yield kandianctl(self.config, "apikey", "add", "ops", "--master")
        self.assertEqual(code, 0, out)
        master = out.strip()
        rows = yield self.db.runQuery("SELECT name, key_hash, master, revoked_at FROM api_key ORDER BY name")
        self.assertEqual(rows, [("crm", key_hash(key), False, None), ("ops", key_hash(master), True, None)])
        code, out = yield kandianctl(self.config, "apikey", "list")
        self.assertEqual(code, 0, out)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "MASTER", "CREATED", "REVOKED"])
        self.assertEqual([line.split()[:2] for line in lines[1:]], [["crm", "no"], ["ops", "yes"]])
        self.assertNotIn(key, out)
        code, out = yield kandianctl(self.config, "apikey", "revoke", "crm")
        self.assertEqual((code, out), (0, "API key crm revoked\n"))
        rows = yield self.db.runQuery("SELECT revoked_at IS NOT NULL FROM api_key WHERE name = 'crm'")
        self.assertEqual(rows, [(True,)])

    @defer.inlineCallbacks
    def test_failures_are_one_line(self):
        yield kandianctl(self.config, "apikey", "add", "crm")
        for args, expected in [
            (["apikey", "add", "crm"], "kandianctl: an API key named crm exists already\n"),
            (["apikey", "add", "a b"], "kandianctl: an API key's name is 1 to 64 of A-Z a-z 0-9 _ . @ -\n"),
            (["apikey", "revoke", "nobody"], "kandianctl: no live API key named nobody\n"),
        ]:
            code, out = yield kandianctl(self.config, *args)
            self.assertEqual((code, out), (1, expected), args)
