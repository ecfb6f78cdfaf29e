"""spec/002's two URL styles (kandian.cloudmonitor.routes): the file's examples, round trips, garbage."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from hypothesis import given, strategies as st
from twisted.trial import unittest

from kandian.cloudmonitor import routes

names = st.from_regex(r"[a-z_]{1,16}", fullmatch=True)
keys = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


class RouteTests(unittest.TestCase):
    def test_the_files_examples(self):
        self.assertEqual(routes.parse(b"/api/v1/version"), ("version", {}))
        self.assertEqual(routes.parse(b"/api/v1/list_gather", b"token=ACCESS_TOKEN&cur=1&per=10"),
                         ("list_gather", {"token": "ACCESS_TOKEN", "cur": "1", "per": "10"}))
        self.assertEqual(routes.parse(b"/api/v1/list_gather/token/ACCESS_TOKEN/cur/1/per/10"),
                         ("list_gather", {"token": "ACCESS_TOKEN", "cur": "1", "per": "10"}))
        # the file's mod_gather example sends name_set unencoded; del_camera a list
        self.assertEqual(routes.parse(b"/api/v1/mod_gather", "token=T&gather_id=3&name_set=采集端".encode())[1],
                         {"token": "T", "gather_id": "3", "name_set": "采集端"})
        self.assertEqual(routes.parse(b"/api/v1/del_camera", b"token=T&camera_id=1,2,3")[1]["camera_id"], "1,2,3")

    def test_mixed_styles_and_edge_cases(self):
        self.assertEqual(routes.parse(b"/api/v1/play_camera/camera_id/7/", b"token=T&width=300"),
                         ("play_camera", {"camera_id": "7", "token": "T", "width": "300"}))
        self.assertEqual(routes.parse(b"/api/v1/x/a/1", b"a=2")[1], {"a": "2"})  # the query over the path
        self.assertEqual(routes.parse(b"/api/v1/x/a")[1], {"a": ""})
        self.assertEqual(routes.parse(b"/api/v1/x/n/%E4%B8%80%E7%8F%AD")[1], {"n": "一班"})
        self.assertEqual(routes.parse(b"/api/v1/List_Gather")[0], "List_Gather")  # case kept: no such endpoint

    def test_refused(self):
        for path, query in [(b"/api/v2/version", b""), (b"/", b""), (b"/api/v1/", b""), (b"/api/v1/x/%ff/1", b""),
                            (b"/api/v1/x", b"a=%ff"), (b"/api/v1/x", b"\xff=1"), (b"/api/v1/x//1", b""),
                            (b"/api/v1/x", b"=1"), (b"/api/v1/x", b"&".join(b"k%d=1" % n for n in range(40)))]:
            self.assertRaises(routes.BadUrl, routes.parse, path, query)

    @given(names, st.lists(st.tuples(keys, values), max_size=6, unique_by=lambda kv: kv[0]))
    def test_both_styles_say_the_same(self, name, params):
        by_path = routes.parse(routes.path_style(name, params).encode())
        by_query = routes.parse(("/api/v1/" + name).encode(), urlencode(params).encode())
        self.assertEqual(by_path, (name, dict(params)))
        self.assertEqual(by_query, (name, dict(params)))

    @given(st.binary(max_size=60), st.binary(max_size=60))
    def test_garbage_raises_only_bad_url(self, path, query):
        try:
            routes.parse(b"/api/v1/" + path, query)
        except routes.BadUrl:
            pass

    def test_quote(self):
        self.assertEqual(routes.path_style("x", [("a b", "c/d")]), "/api/v1/x/%s/%s" % (quote("a b", safe=""),
                                                                                     quote("c/d", safe="")))
