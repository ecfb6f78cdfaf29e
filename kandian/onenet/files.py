"""spec/001 §5 pictures, §16 the public object store, §18 storage used — over :mod:`kandian.core.apifiles`.

Uploads are the request's raw body, at most ``[onenet] max_upload`` bytes
(§16.1: 8M); a picture's ``url`` (§5.5) is a signed URL of this listener,
fetched without a key.  §16 answers errno 200 for an upload and a deletion,
as the file writes it.
"""

from __future__ import annotations

from twisted.internet import defer

from ..core import errors
from . import views
from .api import FileBody, Reply, Route
from .signing import Signer

PICTURE_URL = "/ipc/video/picture/"
TYPES = {"jpg": b"image/jpeg", "png": b"image/png"}


def _format(text) -> str:
    value = (text or "").strip().strip("\"'“”").lower()
    if value == "jpeg":
        value = "jpg"
    return value


class FileHandlers:
    def __init__(self, core, signer: Signer, product, *, max_upload: int):
        self.core = core
        self.signer = signer
        self.product = product
        self.max_upload = max_upload

    def routes(self) -> list[Route]:
        upload = dict(body="raw", max_body=self.max_upload)
        return [
            Route("PUT", "/ipc/video/picture/upload", self.upload_picture, **upload),
            Route("GET", "/ipc/video/picture/get_list", self.pictures),
            Route("GET", "/ipc/video/picture/get_info", self.picture_info),
            Route("DELETE", "/ipc/video/picture/delete_pictrue", self.delete_picture),  # sic, §5.4
            Route("DELETE", "/ipc/video/picture/delete_picture", self.delete_picture),
            Route("GET", PICTURE_URL + "{device_id}/{channel_id}/{file}", self.picture_file, auth=False),
            Route("PUT", "/ipc/video/file/upload", self.upload_object, **upload),
            Route("GET", "/ipc/video/file/download", self.download_object),
            Route("DELETE", "/ipc/video/file/delete", self.delete_object),
            Route("GET", "/ipc/video/file/list", self.objects),
            Route("GET", "/ipc/video/storage/capacity", self.capacity),
            Route("GET", "/ipc/video/storage/qry_dev_list", self.usage),
        ]

    # -- §5

    def _picture(self, row) -> dict:
        path = "%s%s/%d/%s.%s" % (PICTURE_URL, row.dev_id, views.channel_id(row.channel_no), row.name, row.format)
        return {"format": row.format, "size": row.size, "date": int(row.created_at), "name": row.name,
                "desc": row.description, "url": self.signer.url(path)}

    @defer.inlineCallbacks
    def upload_picture(self, call):
        q = call.query
        if call.body is None or not call.size:
            raise errors.BadValue("the body is the picture")
        row = yield self.core.api_files.add_picture(
            call.grant, views.device_id(q), views.channel_no(q), _format(q.get("format")),
            views.required(q, "name").strip().strip("\"'“”"), q.get("desc", "").strip("\"'“”"), call.body)
        del row
        return Reply()

    @defer.inlineCallbacks
    def pictures(self, call):
        q = call.query
        since = views.integer(q, "start_time", None)
        until = views.integer(q, "end_time", None)
        page, per_page = views.integer(q, "page_start", 1), views.integer(q, "page_size", 50)
        total, rows = yield self.core.api_files.pictures(call.grant, views.device_id(q), views.channel_no(q), since,
                                                         until, page, per_page)
        return Reply({"data": [self._picture(r) for r in rows], "page_info": views.page_info(total, page, per_page)})

    @defer.inlineCallbacks
    def picture_info(self, call):
        q = call.query
        row = yield self.core.api_files.picture(call.grant, views.device_id(q), views.channel_no(q),
                                                views.required(q, "name"))
        return Reply({"data": self._picture(row)})

    @defer.inlineCallbacks
    def delete_picture(self, call):
        q = call.query
        yield self.core.api_files.delete_picture(call.grant, views.device_id(q), views.channel_no(q),
                                                 views.required(q, "name"))
        return Reply()

    @defer.inlineCallbacks
    def picture_file(self, call):
        p = call.params
        self.signer.check(PICTURE_URL + "%s/%s/%s" % (p["device_id"], p["channel_id"], p["file"]), call.query)
        name, _, fmt = p["file"].rpartition(".")
        channel = int(p["channel_id"])  # signed: one we wrote
        row = yield self.core.api_files.picture(None, p["device_id"], channel - 1, name)
        if row.format != fmt:
            raise errors.NoSuchFile("no picture %s" % (p["file"][:128],))
        return FileBody(self.core.api_files.picture_path(row), row.size, TYPES[row.format],
                        b'"%s"' % row.sha256.encode("ascii"))

    # -- §16

    @defer.inlineCallbacks
    def upload_object(self, call):
        q = call.query
        self.product(q)
        if call.body is None:
            raise errors.BadValue("the body is the object")
        yield self.core.api_files.put_object(call.grant, views.required(q, "name"), q.get("desc", "").strip("\"'“”"),
                                             call.body)
        return Reply(errno=200)

    @defer.inlineCallbacks
    def download_object(self, call):
        q = call.query
        self.product(q)
        row = yield self.core.api_files.object(call.grant, views.required(q, "name"))
        return FileBody(self.core.api_files.object_path(row.name), row.size, b"application/octet-stream",
                        b'"%s"' % row.sha256.encode("ascii"))

    @defer.inlineCallbacks
    def delete_object(self, call):
        q = call.query
        self.product(q)
        yield self.core.api_files.delete_object(call.grant, views.required(q, "name"))
        return Reply(errno=200)

    @defer.inlineCallbacks
    def objects(self, call):
        q = call.query
        self.product(q)
        page, per_page = views.integer(q, "page", 1), views.integer(q, "page_size", 50)
        total, rows = yield self.core.api_files.objects(call.grant, views.text(q, "name"), page, per_page)
        product = views.dev_number(q["product_id"].strip())
        return Reply({"data": [{"product_id": product, "name": r.name, "size": r.size, "date": int(r.created_at),
                                "desc": r.description} for r in rows],
                      "page_info": views.page_info(total, page, per_page)})

    # -- §18

    @defer.inlineCallbacks
    def capacity(self, call):
        self.product(call.query)
        total, used = yield self.core.api_files.capacity(call.grant)
        return Reply({"total": total, "used": used})

    @defer.inlineCallbacks
    def usage(self, call):
        q = call.query
        self.product(q)
        dev_id = views.device_id(q, required_=False)
        page, per_page = views.integer(q, "page", 1), views.integer(q, "per_page", 30)
        total, rows = yield self.core.api_files.usage(call.grant, None if dev_id in (None, "0") else dev_id,
                                                      views.text(q, "dev_name", 64), page, per_page)
        return Reply({"result": {"total_count": total, "per_page": per_page, "page": page, "data": [
            {"device_id": views.dev_number(r.dev_id), "dev_name": r.name, "sn": r.dev_id, "used": r.used}
            for r in rows]}})
