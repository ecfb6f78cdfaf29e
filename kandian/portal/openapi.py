"""The OpenAPI 3 document of the REST API, served at ``/api/v1/openapi.json``.

Paths are written out here, one entry per route of
:meth:`kandian.portal.handlers.Handlers.routes` (tests/test_portal_openapi.py
checks both ways and calls every documented route); the command bodies and
answers are generated from the core's catalogue (:mod:`kandian.core.commands`),
so they carry the spec's element names and bounds.
"""

from __future__ import annotations

from ..core.commands import CATALOGUE, answer_fields, request_fields

ERROR = {"$ref": "#/components/schemas/Error"}


def _schema(fields) -> dict:
    properties, required = {}, []
    for f in fields:
        if f.type == "array":
            s = {"type": "array", "items": _schema(f.items), "maxItems": f.max_length}
        elif f.type == "object":
            s = _schema(f.items)
        elif f.type == "integer":
            s = {"type": "integer"}
            if f.minimum is not None:
                s["minimum"] = f.minimum
            if f.maximum is not None:
                s["maximum"] = f.maximum
        else:
            s = {"type": "string", "maxLength": f.max_length}
        if f.secret:
            s["format"] = "password"
        properties[f.name] = s
        if not f.optional and f.type != "array":
            required.append(f.name)
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _q(name, description, type_="string", **extra) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": type_, **extra}}


def _path(name, description) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


PAGE = [_q("page", "page number, from 1", "integer", minimum=1),
        _q("per_page", "items a page (1–200, default 50)", "integer", minimum=1, maximum=200)]
DEV = _path("DevID", "the device's DevID (11 digits, §7.2)")
MOBILE = _path("mobile", "the user's mobile number (the MCU account)")


def _op(summary, *, who, params=(), body=None, ok="200", answer=None, errors=(401, 403, 404, 422)) -> dict:
    responses = {ok: {"description": "done"}}
    if answer is not None:
        responses[ok]["content"] = {"application/json": {"schema": answer}}
    for status in errors:
        responses[str(status)] = {"description": "refused", "content": {"application/json": {"schema": ERROR}}}
    op = {"summary": summary, "description": "Who: " + who, "parameters": list(params), "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _obj(**properties) -> dict:
    return {"type": "object", "properties": {k: ({"type": v} if isinstance(v, str) else v)
                                             for k, v in properties.items()}}


def _list(item="object") -> dict:
    return _obj(items={"type": "array", "items": {"type": item} if isinstance(item, str) else item},
                page="integer", per_page="integer", total="integer")


ANYONE, OPERATORS, ADMINS = "any logged-in operator or user", "operators", "admin operators"
DEVICE_SEERS = "operators; users the device is bound to (owned or shared)"


def commands() -> dict:
    """Each command's CMD, root element, level, and the schemas of its body and answer."""
    return {name: {"cmd": "0x%02X" % c.request.CMD, "element": c.request.ROOT, "level": c.level,
                   "request": _schema(request_fields(c)), "answer": _schema(answer_fields(c))}
            for name, c in sorted(CATALOGUE.items())}


def paths() -> dict:
    return {
        "/login": {"post": _op("Log in: a token (and the portal's HttpOnly cookie and a CSRF token)",
                               who="anyone (throttled per account and address)",
                               body=_obj(account="string", password="string"),
                               answer=_obj(token="string", role={"type": "string", "enum": ["operator", "user"]},
                                           operator_role="string", account="string", csrf="string",
                                           expires_at="string"),
                               errors=(400, 401, 422, 429))},
        "/logout": {"post": _op("Revoke this token", who=ANYONE, ok="204", errors=(401,))},
        "/me": {"get": _op("Who this token is", who=ANYONE, answer=_obj(account="string", role="string"),
                           errors=(401,))},
        "/me/password": {"post": _op("Change one's own password", who="users",
                                     body=_obj(old_password="string", new_password="string"), ok="204")},
        "/devices": {
            "get": _op("Devices, filtered, sorted, paged", who=OPERATORS + " (all); users (theirs)", params=[
                _q("online", "true or false", "boolean"), _q("q", "part of the DevID, name or model"),
                _q("manufacturer", "manufacturer number (3 digits)"), _q("model", "model, exactly"),
                _q("firmware", "DevVer, exactly"),
                _q("sort", "dev_id, name, model, dev_ver, online, last_seen_at, created_at, manufacturer_no;"
                   " a leading - for descending"), *PAGE], answer=_list()),
            "post": _op("Add a device: operators provision it; a user binds it with its DevKey (§8.5)",
                        who="admin operators; users", ok="201", errors=(401, 403, 409, 422),
                        body=_obj(dev_id="string", dev_key="string", dev_type="integer", model="string",
                                  channels="integer"))},
        "/devices/import": {"post": {
            **_op("Provision devices from CSV: dev_id,dev_key[,dev_type[,model[,channels]]]", who=ADMINS,
                  answer=_obj(added="integer", exists="integer", invalid="integer", rows={"type": "array"})),
            "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}}},
        "/devices/{DevID}": {
            "get": _op("A device: channels, abilities, addresses, reachability, last seen, firmware", who=DEVICE_SEERS,
                       params=[DEV], answer={"type": "object"}),
            "patch": _op("Edit a device (operators: name, model, dev_key, dev_type; its owner: name)",
                         who="admin operators; the owner", params=[DEV],
                         body=_obj(name="string", model="string", dev_key="string", dev_type="integer")),
            "delete": _op("Delete a device (operators), remove it from one's account (its owner, §8.6: shares go"
                          " too, an online camera is reset), or end a share (the one it is shared with)",
                          who="admin operators; users it is bound to", params=[DEV], ok="204")},
        "/devices/{DevID}/exceptions": {"get": _op("The device's exception reports (§7.5.4)", who=DEVICE_SEERS,
                                                   params=[DEV, *PAGE], answer=_list())},
        "/devices/{DevID}/shares": {
            "get": _op("Who the device is shared with", who="operators; its owner", params=[DEV],
                       answer=_obj(items={"type": "array"})),
            "post": _op("Share the device with another account, read-only or with control", who="its owner",
                        params=[DEV], ok="201", errors=(401, 403, 404, 409, 422),
                        body=_obj(mobile="string", control="boolean"))},
        "/devices/{DevID}/shares/{mobile}": {"delete": _op("End a share", who="its owner; admin operators",
                                                           params=[DEV, MOBILE], ok="204")},
        "/devices/{DevID}/commands/{name}": {"post": {
            **_op("Send a platform→device command (0x60–0x82) by the name of its typed call; body and answer"
                  " use the spec's element names (see x-commands for each one's fields)",
                  who="depends on the command's level: view (anyone who sees the device), control (owner,"
                      " control share, admin), own (owner, admin), operator (admin operators)",
                  params=[DEV, {**_path("name", "the command"), "schema": {"type": "string",
                                                                             "enum": sorted(CATALOGUE)}}],
                  body={"type": "object"}, answer={"type": "object"}, errors=(401, 403, 404, 422, 503)),
            "x-commands": commands()}},
        "/commands": {"get": _op("The command catalogue: names, levels, fields", who=ANYONE,
                                 answer=_obj(items={"type": "array"}), errors=(401,))},
        "/alarms": {"get": _op("Alarms (§7.5.34), newest first", who=OPERATORS + " (all); users (their devices')",
                               params=[_q("devid", "one device"), _q("from", "ISO 8601 or YYYYMMDDHHMMSS"),
                                       _q("to", "ISO 8601 or YYYYMMDDHHMMSS"), *PAGE], answer=_list())},
        "/alarms/{id}": {"get": _op("One alarm", who=DEVICE_SEERS, params=[_path("id", "the alarm's id")],
                                    answer={"type": "object"})},
        "/alarms/{id}/picture": {"get": {
            **_op("The alarm's picture (JPEG) once the camera uploaded it (§7.5.27); 404 no_picture until then",
                  who=DEVICE_SEERS, params=[_path("id", "the alarm's id")]),
            "responses": {"200": {"description": "the picture", "content": {"image/jpeg": {}}},
                          **{str(s): {"description": "refused", "content": {"application/json": {"schema": ERROR}}}
                             for s in (401, 404)}}}},
        "/exceptions": {"get": _op("Exception reports of every device", who=OPERATORS, params=PAGE,
                                   answer=_list())},
        "/users": {
            "get": _op("Users, filtered, sorted, paged", who=OPERATORS,
                       params=[_q("q", "part of the mobile number"), _q("status", "active or suspended"),
                               _q("sort", "mobile, created_at, devices, status, max_devices; - for descending"),
                               *PAGE], answer=_list()),
            "post": _op("Add a user", who=ADMINS, ok="201", errors=(401, 403, 409, 422),
                        body=_obj(mobile="string", password="string", max_devices="integer"))},
        "/users/{mobile}": {
            "get": _op("A user and the devices bound to them", who="operators; the user", params=[MOBILE],
                       answer={"type": "object"}),
            "patch": _op("Suspend or resume a user, set their maximum of devices", who=ADMINS, params=[MOBILE],
                         body=_obj(status={"type": "string", "enum": ["active", "suspended"]},
                                   max_devices="integer")),
            "delete": _op("Delete a user (bindings, sessions and tokens go)", who=ADMINS, params=[MOBILE],
                          ok="204")},
        "/users/{mobile}/password": {"post": _op("Reset a password (made up and answered when none is given)",
                                                 who=ADMINS, params=[MOBILE], body=_obj(password="string"),
                                                 answer=_obj(password="string"))},
        "/manufacturers": {
            "get": _op("Manufacturers (a DevID's first three digits, §7.2)", who=OPERATORS,
                       answer=_obj(items={"type": "array"})),
            "post": _op("Add or rename a manufacturer", who=ADMINS, ok="201",
                        body=_obj(manufacturer_no="string", name="string"))},
        "/devices/{DevID}/live": {"get": _op(
            "A signed live HLS URL of one stream (…/index.m3u8?exp=&sig=), for a player on another page",
            who=DEVICE_SEERS, params=[DEV, _q("channel", "ChannelNo, default 0", "integer", minimum=0),
                                      _q("stream", "StreamType: 1 main (default), 2 sub", "integer"),
                                      _q("ttl", "seconds the URL stays valid (1–604800, default 3600)", "integer")],
            answer=_obj(url="string"))},
        "/proxies": {
            "get": _op("Stream proxy channels (virtual devices fed by an external RTSP URL)", who=OPERATORS,
                       answer=_obj(items={"type": "array"})),
            "post": _op("Add a stream proxy channel: its DevID (its one channel: ChannelNo 0, StreamType 1)",
                        who=ADMINS, ok="201", body=_obj(url="string", name="string"), answer=_obj(dev_id="string"))},
        "/stats/summary": {"get": _op("Statistics: totals, devices online over time, logins, alarms and plays a"
                                      " day", who=OPERATORS, params=[_q("days", "1–366, default 30", "integer")],
                                      answer={"type": "object"})},
    }


def document(server_url: str = "/api/v1") -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "kandian REST API", "version": "1",
                 "description": "The portal's API: operators run the platform, users manage their cameras."
                                " See docs/rest-api.md."},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "kandian_token",
                           "description": "the portal's session; writes also need the X-CSRF-Token header"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "message"], "properties": {
                "error": {"type": "string"}, "message": {"type": "string"}, "result": {"type": "integer"}}}}},
    }
