"""The firmware form read as it comes (kandian.portal.multipart): round trip, any chunking, garbage."""

import os

from hypothesis import example, given, settings, strategies as st
from twisted.trial import unittest

from kandian.core import errors
from kandian.portal import multipart, upload

BOUNDARY = b"----kandianFormBoundary7MA4YWxkTrZu0gW"
names = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x9FFF, blacklist_characters='"\\'), min_size=1,
                max_size=12).filter(lambda n: n.strip() == n)
payloads = st.binary(max_size=300).filter(lambda b: b"\r\n--" + BOUNDARY not in b"\r\n" + b + b"\r\n")
parts = st.lists(st.tuples(names, st.none() | names, payloads), max_size=4)


def body(items, boundary=BOUNDARY, preamble=b"", epilogue=b"") -> bytes:
    out = preamble
    for name, filename, payload in items:
        out += b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"" + name.encode()
        if filename is not None:
            out += b"\"; filename=\"" + filename.encode()
        out += b"\"\r\n"
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + payload + b"\r\n"
    return out + b"--" + boundary + b"--" + epilogue


def read(data: bytes, cuts, boundary=BOUNDARY):
    reader = multipart.FormReader(boundary)
    events, at = [], 0
    for cut in sorted(set(cuts)) + [len(data)]:
        events += reader.feed(data[at:cut])
        at = cut
    reader.close()
    got, current = [], None
    for event in events:
        if isinstance(event, multipart.Part):
            current = [event.name, event.filename, b""]
        elif event is multipart.END:
            got.append(tuple(current))
            current = None
        else:
            current[2] += event
    return got


class FormReaderTests(unittest.SynchronousTestCase):
    @settings(max_examples=300)
    @given(parts, st.lists(st.integers(0, 2000), max_size=8), st.sampled_from([b"", b"ignored preamble\r\n"]),
           st.sampled_from([b"", b"\r\n", b"\r\nepilogue"]))
    def test_round_trip_in_any_chunking(self, items, cuts, preamble, epilogue):
        data = body(items, preamble=preamble, epilogue=epilogue)
        self.assertEqual(read(data, [c % (len(data) + 1) for c in cuts]), items)

    @given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=4))
    @example(b"--" + BOUNDARY + b"\r\n" + b"x" * (multipart.MAX_HEADERS + 10), [])
    @example(b"--" + BOUNDARY + b"junk\r\n", [])
    @example(b"--" + BOUNDARY + b"\r\nno colon\r\n\r\n", [])
    def test_garbage_raises_only_the_readers_error(self, data, cuts):
        try:
            read(data, cuts)
        except multipart.MultipartError:
            pass

    def test_truncated_bodies_are_refused(self):
        data = body([("file", "a.bin", b"12345")])
        for end in range(len(data)):
            with self.assertRaises(multipart.MultipartError):
                read(data[:end], [])

    def test_a_browsers_form(self):
        data = body([("manufacturer", None, b"811"), ("file", "c1.bin", b"\x00\r\n--not-it\r\n" * 3)])
        self.assertEqual(read(data, range(0, len(data), 7)),
                         [("manufacturer", None, b"811"), ("file", "c1.bin", b"\x00\r\n--not-it\r\n" * 3)])

    def test_the_boundary_of_a_content_type(self):
        self.assertEqual(multipart.boundary_of('multipart/form-data; boundary="a b"'), b"a b")
        for bad in ("multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=" + "x" * 71):
            with self.assertRaises(multipart.MultipartError):
                multipart.boundary_of(bad)

    def test_a_transfer_encoding_is_refused(self):
        data = (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"file\"\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--" + BOUNDARY + b"--")
        with self.assertRaises(multipart.MultipartError):
            read(data, [])


class _Upload:
    def __init__(self, data: bytes, content_type: str):
        import io
        self.content = io.BytesIO(data)
        self.content_type = content_type


class SaveTests(unittest.SynchronousTestCase):
    content_type = "multipart/form-data; boundary=" + BOUNDARY.decode()

    def save(self, items):
        directory = self.mktemp()
        os.makedirs(directory)
        return directory, upload.save(_Upload(body(items), self.content_type), {}, directory)

    def test_the_image_is_written_under_its_name_and_the_fields_kept(self):
        image = os.urandom(3 << 20)  # three of save's chunks
        directory, (fields, path) = self.save([("manufacturer", None, b"811"), ("model", None, "型号".encode()),
                                               ("file", "c1.bin", image), ("version", None, b" V1.6_20270101 ")])
        self.assertEqual(fields, {"manufacturer": "811", "model": "型号", "version": "V1.6_20270101"})
        self.assertEqual(path, os.path.join(directory, "c1.bin"))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), image)
        self.assertEqual(os.listdir(directory), ["c1.bin"])

    def test_bad_forms_leave_nothing(self):
        for items in ([("manufacturer", None, b"811")], [("file", "a", b"1"), ("file", "b", b"2")],
                      [("file", "a", b"1"), ("model", None, b"x" * (upload.MAX_FIELD + 1))],
                      [("file", "a", b"1"), ("model", None, b"\xff")]):
            with self.assertRaises(errors.BadValue):
                directory, _ = self.save(items)
        directory = self.mktemp()
        os.makedirs(directory)
        with self.assertRaises(errors.BadValue):
            upload.save(_Upload(body([("file", "a", b"1")])[:-5], self.content_type), {}, directory)
        self.assertEqual(os.listdir(directory), [])
