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


FIRMWARE = _obj(id="integer", manufacturer_no="string", model="string", version="string", file_name="string",
                size="integer", sha256="string", released_at="string")
CAMPAIGN = _obj(id="integer", firmware_id="integer", state="string", batch="integer", max_failures="integer",
                reason="string", devices={"type": "object"}, targets={"type": "array"})
CAMPAIGN_ID = _path("id", "the campaign's id")

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
        "/firmware": {
            "get": _op("The firmware catalogue (§7.5.17): id, manufacturer_no, model, version, file_name, size,"
                       " sha256", who=OPERATORS, answer=_obj(items={"type": "array"})),
            "post": {**_op("Upload a firmware image: the raw image (application/octet-stream, the fields in the"
                           " query) or multipart/form-data (the fields and a `file` part); at most 64 MiB",
                           who=ADMINS, ok="201", answer=FIRMWARE, errors=(400, 401, 403, 409, 422),
                           params=[_q("manufacturer", "3 digits (§7.2)"), _q("model", "the device model"),
                                   _q("version", "DevVer, V<protocol>_<YYYYMMDD> (§7.5.1)"),
                                   _q("file_name", "the image's file name (letters, digits, . _ -)")]),
                     "requestBody": {"required": True, "content": {
                         "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                         "multipart/form-data": {"schema": _obj(
                             manufacturer="string", model="string", version="string", file_name="string",
                             file={"type": "string", "format": "binary"})}}}}},
        "/upgrades": {
            "get": _op("Upgrade campaigns, newest first, with their devices by state", who=OPERATORS,
                       params=[_q("state", "running, paused, finished or cancelled")],
                       answer=_obj(items={"type": "array", "items": CAMPAIGN})),
            "post": _op("Start a campaign of a firmware: to `devices`, or else to every device of its model",
                        who=ADMINS, ok="201", errors=(401, 403, 404, 422),
                        body={**_obj(firmware="integer", devices={"type": "array", "items": {"type": "string"}},
                                     model="string", batch={"type": "integer", "minimum": 1, "default": 50},
                                     max_failures={"type": "integer", "minimum": 0, "default": 5}),
                              "required": ["firmware"]},
                        answer=_obj(id="integer", devices="integer", skipped={"type": "array"}))},
        "/upgrades/{id}": {"get": _op(
            "One campaign: its firmware and each device's state (pending, sent, downloaded, done, failed) and"
            " reason", who=OPERATORS, params=[CAMPAIGN_ID], answer=CAMPAIGN)},
        **{"/upgrades/{id}/%s" % action: {"post": _op(summary, who=ADMINS, params=[CAMPAIGN_ID], answer=CAMPAIGN,
                                                      errors=(401, 403, 404, 409))}
           for action, summary in (("pause", "Pause a campaign (nothing more is sent)"),
                                   ("resume", "Resume a campaign (its failures so far forgiven)"),
                                   ("cancel", "Cancel a campaign: pending devices fail, those in flight are"
                                              " still followed"))},
        "/devices/{DevID}/logs": {"get": _op("The device's uploaded log files (§7.5.35), newest first",
                                             who=OPERATORS, params=[DEV], answer=_obj(items={"type": "array"}))},
        "/devices/{DevID}/logs/request": {"post": _op(
            "Ask the device for its logs (LOG_UPLOAD_REQ at the next round; an offline device when it logs in)",
            who=ADMINS, params=[DEV], ok="202", answer=_obj(request_id="integer", state="string"))},
        "/devices/{DevID}/send-key": {"post": _op(
            "Send the device's DevKey by SMS to its owner (§4.17; once a minute at most)",
            who="its owner; admin operators", params=[DEV], ok="202", errors=(401, 403, 404, 503),
            answer=_obj(mobile="string"))},
        "/stats/summary": {"get": _op("Statistics: totals, devices online over time, logins, alarms and plays a"
                                      " day", who=OPERATORS, params=[_q("days", "1–366, default 30", "integer")],
                                      answer={"type": "object"})},
        **_recording_paths(),
    }


def _file(summary: str, kind: str, who: str) -> dict:
    params = [_path("id", "the recording's id"), _q("exp", "a signed URL's expiry (POSIX seconds)", "integer"),
              _q("sig", "a signed URL's signature (instead of a login)")]
    return {"get": {**_op(summary, who=who, params=params), "security": [{"bearer": []}, {"cookie": []}, {}],
                    "responses": {"200": {"description": summary, "content": {kind: {}}},
                                  **{str(s): {"description": "refused",
                                              "content": {"application/json": {"schema": ERROR}}}
                                     for s in (401, 404, 409, 503)}}}}


def _recording_paths() -> dict:
    """Platform recording (PRODUCT.md "Media"; docs/media.md)."""
    channel = [DEV, _path("ChannelNo", "the channel, from 0")]
    window = _obj(weekday={"type": "integer", "minimum": 0, "maximum": 6, "description": "0 Sunday … 6 Saturday"},
                  start={"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$"},
                  duration={"type": "integer", "minimum": 1, "description": "seconds; start + duration ≤ 23:59:59"})
    schedule = _obj(id="integer", dev_id="string", channel_no="integer", weekday="integer", start="string",
                    duration="integer", end="string", created_at="string", updated_at="string")
    recording = _obj(id="integer", dev_id="string", channel_no="integer", stream_type="integer",
                     schedule_id="integer", run_id="integer", seq="integer", started_at="string",
                     ended_at="string", duration="number", size="integer", complete="boolean", snapshot="string",
                     vod="string", download="string")
    one = [_path("id", "the recording's id")]
    viewers = DEVICE_SEERS
    steerers = "admin operators; the owner and shares with control"
    return {
        "/devices/{DevID}/channels/{ChannelNo}/schedules": {
            "get": _op("The channel's recording windows (spec 002's courses)", who=viewers, params=channel,
                       answer=_obj(items={"type": "array", "items": schedule})),
            "post": _op("Add a weekly recording window; one already in progress starts recording at once."
                        " 409 overlap, 422 crosses_midnight", who=steerers, params=channel, body=window, ok="201",
                        answer=schedule, errors=(400, 401, 403, 404, 409, 422))},
        "/devices/{DevID}/channels/{ChannelNo}/schedules/{id}": {
            "get": _op("One window", who=viewers, params=[*channel, _path("id", "the window's id")],
                       answer=schedule),
            "delete": _op("Delete a window (a recording it started stops)", who=steerers,
                          params=[*channel, _path("id", "the window's id")], ok="204")},
        "/recordings": {"get": _op(
            "Recorded pieces, newest first; pieces still being written have complete false", who=viewers,
            params=[_q("devid", "the DevID"), _q("channel", "the channel", "integer"),
                    _q("from", "pieces ending after (ISO 8601 or YYYYMMDDHHMMSS)"),
                    _q("to", "pieces starting before"), *PAGE], answer=_list(recording))},
        "/recordings/{id}": {
            "get": _op("One recorded piece", who=viewers, params=one, answer=recording),
            "delete": _op("Delete a piece: its file, snapshot and row together. 409 in_progress while written",
                          who=steerers, params=one, ok="204", errors=(401, 403, 404, 409))},
        "/recordings/{id}/index.m3u8": _file(
            "HLS VOD of the piece's run, starting at the piece (byte-range segments; signed piece URLs)",
            "application/vnd.apple.mpegurl", viewers + ", or a signed URL"),
        "/recordings/{id}/media.ts": _file("The piece (MPEG-TS), with HTTP ranges", "video/mp2t",
                                          viewers + ", or a signed URL"),
        "/recordings/{id}/snapshot.jpg": _file("The piece's snapshot (JPEG)", "image/jpeg",
                                              viewers + ", or a signed URL"),
        "/recordings/{id}/download": _file("The piece as one MP4 (an attachment, with HTTP ranges)", "video/mp4",
                                          viewers + ", or a signed URL"),
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
