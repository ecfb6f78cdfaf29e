"""The OpenAPI document against the routes: every route documented, every documented route routed and answering."""

import json

from twisted.internet import defer
from twisted.trial import unittest

from kandian.core.commands import CATALOGUE, request_fields
from kandian.portal.handlers import Handlers
from kandian.portal.openapi import document

from .portal_helpers import PortalTestCase

METHODS = ("get", "post", "patch", "delete", "put")


def routed() -> set:
    return {(r.method.lower(), r.template) for r in Handlers(None, None, token_ttl=1).routes()}


def documented(doc) -> set:
    return {(method, path) for path, item in doc["paths"].items() for method in item if method in METHODS}


class DocumentTests(unittest.SynchronousTestCase):
    def test_every_route_documented_and_every_documented_route_routed(self):
        doc = document()
        self.assertEqual(routed() - documented(doc), set(), "routes missing from the OpenAPI document")
        self.assertEqual(documented(doc) - routed(), set(), "documented paths without a route")

    def test_it_is_openapi_3_with_responses_and_error_schemas(self):
        doc = json.loads(json.dumps(document()))  # JSON all the way down
        self.assertTrue(doc["openapi"].startswith("3."))
        for path, item in doc["paths"].items():
            params = {p[1:-1] for p in path.split("/") if p.startswith("{")}
            for method, op in item.items():
                if method not in METHODS:
                    continue
                self.assertTrue(op["responses"], (method, path))
                declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
                self.assertEqual(declared, params, (method, path))
                for status, response in op["responses"].items():
                    if int(status) >= 400:
                        self.assertEqual(response["content"]["application/json"]["schema"],
                                         {"$ref": "#/components/schemas/Error"})

    def test_each_command_is_described_with_the_spec_names(self):
        commands = document()["paths"]["/devices/{DevID}/commands/{name}"]["post"]["x-commands"]
        self.assertEqual(set(commands), set(CATALOGUE))
        self.assertEqual(len(CATALOGUE), 31)
        add = commands["add_record_policy"]
        self.assertEqual(add["cmd"], "0x67")
        week = add["request"]["properties"]["WeekPolicy"]["items"]
        self.assertEqual(set(week["required"]), {"StoreType", "StreamType", "Week", "StartTime", "EndTime"})
        self.assertEqual((week["properties"]["Week"]["minimum"], week["properties"]["Week"]["maximum"]), (1, 7))
        self.assertNotIn("FtpPassword", commands["upgrade"]["request"]["properties"])  # the platform's to fill
        self.assertEqual([f.name for f in request_fields(CATALOGUE["ptz"])], ["ChannelNo", "PtzDirection"])
        self.assertEqual(commands["set_wifi"]["request"]["properties"]["Password"]["format"], "password")


class ServedTests(PortalTestCase):
    @defer.inlineCallbacks
    def test_the_document_is_served_and_every_documented_route_answers(self):
        answer = yield self.get("/api/v1/openapi.json")
        self.assertEqual(answer.code, 200)
        doc = answer.json
        self.assertEqual(doc, json.loads(json.dumps(document())))
        token = yield self.operator()
        # logging out last: the token must stay valid for the others
        for method, path in sorted(documented(doc), key=lambda r: (r == ("post", "/logout"), r)):
            concrete = (path.replace("{DevID}", "81100009999").replace("{mobile}", "13899999999")
                        .replace("{name}", "ptz").replace("{id}", "1"))
            answer = yield self.call(method.upper(), "/api/v1" + concrete, {} if method in ("post", "patch") else None,
                                     token)
            # a route that exists answers anything but "no such API path" / "use another method"
            self.assertNotIn(answer.code, (405,), (method, path, answer))
            if answer.code == 404:
                self.assertNotEqual(answer.json["message"], "no such API path", (method, path))
