"""kandian.store.prepared: statements prepared once per pooled connection."""

from twisted.internet import defer
from twisted.trial import unittest

from kandian.store.prepared import Statement

from .pg import DatabaseTestCase


class StatementTextTests(unittest.SynchronousTestCase):
    def test_placeholders_become_numbered_parameters(self):
        s = Statement("SELECT %s, x LIKE 'a%%' FROM t WHERE a = %s AND b = %s")
        self.assertEqual(s.params, 3)
        self.assertEqual(s.prepare, "PREPARE %s AS SELECT $1, x LIKE 'a%%' FROM t WHERE a = $2 AND b = $3"
                         % (s.name,))
        self.assertEqual(s.execute, "EXECUTE %s (%%s, %%s, %%s)" % (s.name,))

    def test_no_parameters(self):
        s = Statement("SELECT 1")
        self.assertEqual((s.params, s.execute), (0, "EXECUTE " + s.name))

    def test_a_statement_that_need_not_wait_for_its_flush(self):
        s = Statement("INSERT INTO t VALUES (%s)", durable=False)
        self.assertEqual(s.execute, "SET LOCAL synchronous_commit = off; EXECUTE %s (%%s)" % (s.name,))
        self.assertEqual(s.prepare, "PREPARE %s AS INSERT INTO t VALUES ($1)" % (s.name,))

    def test_names_are_distinct(self):
        self.assertNotEqual(Statement("SELECT 1").name, Statement("SELECT 1").name)


SUM = Statement("SELECT %s::integer + %s::integer, %s::text, %s::text[], %s::float8")
MISSING = Statement("SELECT * FROM no_such_table WHERE x = %s")
WRITE = Statement("INSERT INTO prepared_test (v) VALUES (%s::text)")
SETTING = Statement("SELECT current_setting('synchronous_commit')")
RELAXED_SETTING = Statement("SELECT current_setting('synchronous_commit')", durable=False)
ADD_MANY = Statement("INSERT INTO prepared_many (v, x) SELECT * FROM unnest(%s::text[], %s::float8[])")
ADD_ONE = Statement("INSERT INTO prepared_many (v) VALUES (%s::text)")


class PreparedOnPoolTests(DatabaseTestCase):
    pool_size = 3

    @defer.inlineCallbacks
    def prepared_names(self):
        names = []
        for connection in list(self.db.pool.connections):
            rows = yield connection.runQuery("SELECT name FROM pg_prepared_statements ORDER BY name")
            names.append([r[0] for r in rows])
        return names

    @defer.inlineCallbacks
    def test_each_connection_prepares_once_and_results_match_the_plain_query(self):
        params = (2, 40, "它's", ["a", None, "b'c"], 0.5)
        plain = yield self.db.runQuery(SUM.sql, params)
        # more calls at once than connections: every connection runs it, some twice
        answers = yield defer.gatherResults([self.db.runQuery(SUM, params) for _ in range(9)])
        self.assertEqual(answers, [plain] * 9)
        self.assertEqual(plain, [(42, "它's", ["a", None, "b'c"], 0.5)])
        names = yield self.prepared_names()
        self.assertEqual(names, [[SUM.name]] * 3)
        for values in [(1, 1, None, [], -1.25), (-5, 0, "\\ ; DROP TABLE x; --", ["{", "}", ","], 1e300),
                       (2**30, 2**30 - 1, "\t\n\r\"", ["NULL"], 0.0)]:
            answer = yield self.db.runQuery(SUM, values)
            plain = yield self.db.runQuery(SUM.sql, values)
            self.assertEqual(answer, plain)
            self.assertEqual(answer, [(values[0] + values[1],) + values[2:]])
        self.assertEqual(len(self.db.pool.connections), 3)

    @defer.inlineCallbacks
    def test_an_error_reaches_the_caller_and_the_connection_goes_back(self):
        for _ in range(4):  # more than the pool: a connection not given back would hang this
            with self.assertRaises(Exception):
                yield self.db.runQuery(MISSING, (1,))
        self.assertEqual(len(self.db.pool.connections), 3)
        yield self.db.runOperation("CREATE TABLE prepared_test (v text)")
        yield defer.gatherResults([self.db.runOperation(WRITE, ("x%d" % i,)) for i in range(6)])
        rows = yield self.db.runQuery("SELECT count(*) FROM prepared_test")
        self.assertEqual(rows, [(6,)])
        self.assertEqual(len(self.db.pool.connections), 3)

    @defer.inlineCallbacks
    def test_relaxed_durability_covers_its_own_transaction_only(self):
        for connection in list(self.db.pool.connections):
            yield connection.runOperation("SET synchronous_commit = on")  # the suite's server defaults to off
        for _ in range(2):
            relaxed = yield defer.gatherResults([self.db.runQuery(RELAXED_SETTING) for _ in range(3)])
            self.assertEqual(relaxed, [[("off",)]] * 3)
            durable = yield defer.gatherResults([self.db.runQuery(SETTING) for _ in range(3)])
            self.assertEqual(durable, [[("on",)]] * 3)

    @defer.inlineCallbacks
    def test_a_statement_the_server_already_has_is_used_as_it_is(self):
        """A PREPARE whose answer never arrived (a cancelled call) must not break the connection."""
        statement = Statement("SELECT %s::integer * 2")
        for connection in list(self.db.pool.connections):
            yield connection.runOperation(statement.prepare)
        answers = yield defer.gatherResults([self.db.runQuery(statement, (i,)) for i in range(6)])
        self.assertEqual(answers, [[(2 * i,)] for i in range(6)])

    @defer.inlineCallbacks
    def test_several_in_one_round_trip_and_one_transaction(self):
        yield self.db.runOperation("CREATE TABLE prepared_many (v text UNIQUE, x float8)")
        # a list of None alone (ARRAY[NULL, NULL]) is taken for the float8[] too
        for i in range(4):  # more than the pool's connections: each prepares each statement once
            yield self.db.runPrepared([(ADD_MANY, (["a%d" % i, "b%d" % i], [None, None] if i else [None, 1.5])), (ADD_ONE, ("c%d" % i,))])
        rows = yield self.db.runQuery("SELECT count(*), count(x) FROM prepared_many")
        self.assertEqual(rows, [(12, 1)])
        names = yield self.prepared_names()
        self.assertTrue(all(sorted(n) in ([], sorted([ADD_MANY.name, ADD_ONE.name])) for n in names), names)
        # the second fails (a duplicate): the first is rolled back with it
        with self.assertRaises(Exception):
            yield self.db.runPrepared([(ADD_ONE, ("new",)), (ADD_ONE, ("a0",))])
        rows = yield self.db.runQuery("SELECT count(*) FROM prepared_many WHERE v = 'new'")
        self.assertEqual(rows, [(0,)])
        self.assertEqual(len(self.db.pool.connections), 3)
