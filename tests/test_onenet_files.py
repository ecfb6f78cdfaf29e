"""spec/001 §5 pictures, §16 the public object store, §18 storage over real HTTP: the file's examples, the signed
picture URL fetched without a key, and the errors (names, sizes, keys, unknown devices)."""

import hashlib
import os

from twisted.internet import defer

from .onenet_helpers import OnenetTestCase

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(10_000) + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


class FileTestCase(OnenetTestCase):
    onenet_settings = "max_upload = 16K\n"

    @defer.inlineCallbacks
    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.settings = dict(self.settings, files="root = %s\n" % self.root)
        yield super().setUp()


class PictureTests(FileTestCase):
    @defer.inlineCallbacks
    def test_upload_list_info_fetch_delete(self):
        dev_id = yield self.create(auth_info="key-1")
        # §5.1's example: device_id, channel_id, format, name, desc
        query = {"device_id": dev_id, "channel_id": 1, "format": "jpg", "name": "111", "desc": "图片描述"}
        answer = yield self.put("/ipc/video/picture/upload", query, raw=JPEG)
        self.assertSucc(answer)
        path = os.path.join(self.root, "api-pictures", dev_id, "0", "111.jpg")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), JPEG)
        # the same name again is refused
        self.assertErrno((yield self.put("/ipc/video/picture/upload", query, raw=JPEG)), 400)
        self.clock.advance(10)
        yield self.put("/ipc/video/picture/upload", dict(query, name="112", format="png", desc=""), raw=PNG)

        answer = yield self.get("/ipc/video/picture/get_list", {"device_id": dev_id, "channel_id": 1,
                                                                 "page_start": 1, "page_size": 1})
        self.assertSucc(answer)
        self.assertEqual(answer.json["page_info"], {"total_num": 2, "page_total": 2, "page_size": 1,
                                                    "current_page": 1})
        [first] = answer.payload
        self.assertEqual({k: first[k] for k in ("format", "size", "date", "name", "desc")},
                         {"format": "jpg", "size": len(JPEG), "date": int(self.clock.seconds()) - 10, "name": "111",
                          "desc": "图片描述"})
        # UNIX-time filters
        answer = yield self.get("/ipc/video/picture/get_list", {"device_id": dev_id, "channel_id": 1,
                                                                 "start_time": int(self.clock.seconds()) - 5})
        self.assertEqual([p["name"] for p in answer.payload], ["112"])

        info = yield self.get("/ipc/video/picture/get_info", {"device_id": dev_id, "channel_id": 1, "name": "112"})
        self.assertSucc(info)
        self.assertEqual((info.payload["format"], info.payload["size"]), ("png", len(PNG)))
        # §5.5: the url is fetched without a key
        url = first["url"]
        self.assertTrue(url.startswith("http://127.0.0.1:%d/ipc/video/picture/%s/1/111.jpg?exp=" % (
            self.port("onenet"), dev_id)), url)
        fetched = yield self.get(url.split(str(self.port("onenet")), 1)[1], auth=False)
        self.assertEqual((fetched.code, fetched.header(b"content-type"), fetched.data), (200, "image/jpeg", JPEG))
        # a changed or expired signature is refused
        forged = url.replace("111.jpg", "112.jpg").split(str(self.port("onenet")), 1)[1]
        self.assertErrno((yield self.get(forged, auth=False)), 403)
        self.clock.advance(self.service.config.onenet.url_ttl)
        self.assertErrno((yield self.get(url.split(str(self.port("onenet")), 1)[1], auth=False)), 403)

        self.assertSucc((yield self.delete("/ipc/video/picture/delete_pictrue", {"device_id": dev_id,
                                                                                 "channel_id": 1, "name": "111"})))
        self.assertFalse(os.path.exists(path))
        self.assertErrno((yield self.delete("/ipc/video/picture/delete_pictrue", {"device_id": dev_id,
                                                                                  "channel_id": 1, "name": "111"})),
                         404)
        self.assertErrno((yield self.get("/ipc/video/picture/get_info", {"device_id": dev_id, "channel_id": 1,
                                                                         "name": "111"})), 404)

    @defer.inlineCallbacks
    def test_refusals(self):
        dev_id = yield self.create()
        other = yield self.create("other")
        key = yield self.device_key(other)
        base = {"device_id": dev_id, "channel_id": 1, "format": "jpg", "name": "p1"}
        for query, errno in ((dict(base, format="gif"), 400), (dict(base, name="../x"), 400),
                             (dict(base, name=".hidden"), 400), (dict(base, channel_id=2), 404),
                             (dict(base, device_id="81100000009"), 404), ({"device_id": dev_id}, 400)):
            self.assertErrno((yield self.put("/ipc/video/picture/upload", query, raw=JPEG)), errno)
        self.assertErrno((yield self.put("/ipc/video/picture/upload", base, raw=JPEG, key=key)), 403)
        self.assertErrno((yield self.put("/ipc/video/picture/upload", base, raw=b"")), 400)
        # over max_upload (16K here): refused before it is read, nothing stored
        self.assertErrno((yield self.put("/ipc/video/picture/upload", base, raw=b"x" * 17_000)), 413)
        answer = yield self.get("/ipc/video/picture/get_list", {"device_id": dev_id, "channel_id": 1})
        self.assertEqual(answer.payload, [])
        tmp = os.path.join(self.root, "tmp")  # its temporaries; the FTP's are in tmp/<node>/
        self.assertEqual([f for f in os.listdir(tmp) if os.path.isfile(os.path.join(tmp, f))]
                         if os.path.exists(tmp) else [], [])

    @defer.inlineCallbacks
    def test_a_deleted_device_takes_its_pictures(self):
        dev_id = yield self.create()
        yield self.put("/ipc/video/picture/upload", {"device_id": dev_id, "channel_id": 1, "format": "jpg",
                                                     "name": "p"}, raw=JPEG)
        self.assertTrue(os.path.exists(os.path.join(self.root, "api-pictures", dev_id)))
        self.assertSucc((yield self.delete("/devices/%s" % dev_id)))
        self.assertFalse(os.path.exists(os.path.join(self.root, "api-pictures", dev_id)))


class ObjectTests(FileTestCase):
    @defer.inlineCallbacks
    def test_upload_list_download_delete(self):
        answer = yield self.put("/ipc/video/file/upload", {"product_id": "1", "name": "test", "desc": "1111"},
                                raw=b"object bytes")
        self.assertEqual(answer.json, {"errno": 200, "error": "succ"})
        answer = yield self.get("/ipc/video/file/list", {"product_id": "1", "name": "te"})
        self.assertSucc(answer)
        [item] = answer.payload
        self.assertEqual({k: item[k] for k in ("product_id", "name", "size", "desc")},
                         {"product_id": 1, "name": "test", "size": 12, "desc": "1111"})
        self.assertEqual(item["date"], int(self.clock.seconds()))
        self.assertEqual(answer.json["page_info"], {"total_num": 1, "page_total": 1, "page_size": 50,
                                                    "current_page": 1})
        fetched = yield self.get("/ipc/video/file/download", {"product_id": "1", "name": "test"})
        self.assertEqual((fetched.code, fetched.data), (200, b"object bytes"))
        self.assertEqual(fetched.header(b"etag"), '"%s"' % hashlib.sha256(b"object bytes").hexdigest())
        answer = yield self.delete("/ipc/video/file/delete", {"product_id": "1", "name": "test"})
        self.assertEqual(answer.json, {"errno": 200, "error": "succ"})
        self.assertErrno((yield self.get("/ipc/video/file/download", {"product_id": "1", "name": "test"})), 404)
        self.assertErrno((yield self.delete("/ipc/video/file/delete", {"product_id": "1", "name": "test"})), 404)

    @defer.inlineCallbacks
    def test_the_file_s_codes(self):
        upload = {"product_id": "1", "name": "ok"}
        self.assertErrno((yield self.put("/ipc/video/file/upload", dict(upload, name="a b"), raw=b"x")), 1001, 400)
        self.assertErrno((yield self.put("/ipc/video/file/upload", dict(upload, name="n" * 257), raw=b"x")), 1002,
                         400)
        self.assertErrno((yield self.put("/ipc/video/file/upload", dict(upload, desc="d" * 1025), raw=b"x")), 1003,
                         400)
        self.assertErrno((yield self.put("/ipc/video/file/upload", dict(upload, product_id="2"), raw=b"x")), 404)
        self.assertErrno((yield self.put("/ipc/video/file/upload", upload, raw=b"x" * 17_000)), 413)
        self.assertEqual((yield self.put("/ipc/video/file/upload", upload, raw=b"x")).json["errno"], 200)
        self.assertErrno((yield self.put("/ipc/video/file/upload", upload, raw=b"x")), 400)
        dev_id = yield self.create()
        key = yield self.device_key(dev_id)
        self.assertErrno((yield self.get("/ipc/video/file/list", {"product_id": "1"}, key=key)), 403)


class StorageTests(FileTestCase):
    @defer.inlineCallbacks
    def test_capacity_and_devices(self):
        dev_id = yield self.create("shop")
        yield self.put("/ipc/video/picture/upload", {"device_id": dev_id, "channel_id": 1, "format": "jpg",
                                                     "name": "p"}, raw=JPEG)
        yield self.put("/ipc/video/file/upload", {"product_id": "1", "name": "o"}, raw=b"12345")
        answer = yield self.get("/ipc/video/storage/capacity", {"product_id": "1"})
        self.assertSucc(answer)
        self.assertEqual(answer.json["used"], len(JPEG) + 5)
        self.assertGreater(answer.json["total"], answer.json["used"])
        # §18.2 names an "Authorization" header: the key goes there as well
        answer = yield self.get("/ipc/video/storage/qry_dev_list", {"product_id": "1", "dev_name": "sho"},
                                auth=False, headers={b"authorization": [self.master.encode()]})
        self.assertSucc(answer)
        self.assertEqual(answer.json["result"], {"total_count": 1, "per_page": 30, "page": 1, "data": [
            {"device_id": int(dev_id), "dev_name": "shop", "sn": dev_id, "used": len(JPEG)}]})
        key = yield self.device_key(dev_id)
        answer = yield self.get("/ipc/video/storage/qry_dev_list", {"product_id": "1"}, key=key)
        self.assertEqual(answer.json["result"]["total_count"], 1)
        self.assertErrno((yield self.get("/ipc/video/storage/capacity", {"product_id": "1"}, key=key)), 403)
        self.assertErrno((yield self.get("/ipc/video/storage/capacity", {})), 400)


class CapacityTests(FileTestCase):
    onenet_settings = "storage_capacity = 10G\n"

    @defer.inlineCallbacks
    def test_configured_capacity(self):
        answer = yield self.get("/ipc/video/storage/capacity", {"product_id": "1"})
        self.assertEqual((answer.json["total"], answer.json["used"]), (10 * 1024 ** 3, 0))
