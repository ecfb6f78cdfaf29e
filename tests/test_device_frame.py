"""Tests for the device link frame codec, kandian.device.frame (spec §7.4)."""

from __future__ import annotations

import hashlib
import struct

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kandian.device.frame import (
    HEAD,
    HEADER_SIZE,
    MAX_DATA,
    BadDigest,
    Frame,
    FrameDecoder,
    FrameError,
    FrameTooLarge,
    OutOfSync,
    decode_frame,
    next_seq,
)
from tests.strategies import chunked, frames, mutated


def _split(sent: list[Frame]) -> st.SearchStrategy[tuple[list[Frame], list[bytes]]]:
    return st.tuples(st.just(sent), chunked(b"".join(frame.to_wire() for frame in sent)))


# Several frames, and their bytes cut into arbitrary chunks.
split_streams = st.lists(frames(), min_size=1, max_size=5).flatmap(_split)
# Several frames' bytes with a few bytes flipped, inserted or deleted.
mutated_streams = st.lists(frames(), min_size=1, max_size=4).flatmap(
    lambda sent: mutated(b"".join(frame.to_wire() for frame in sent))
)


def feed_all(decoder: FrameDecoder, chunks: list[bytes]) -> list[object]:
    return [event for chunk in chunks for event in decoder.feed(chunk)]


class FrameTests(SynchronousTestCase):
    def test_wire_layout(self) -> None:
        """Header, big-endian SEQ and LEN, Remark 0, MD5 over header + data (§7.4.1)."""
        data = b"<HEARTBEAT_REQ/>"
        header = b"\xfa\xf5\x33\x12\x34\x00\x00\x10"
        self.assertEqual(
            Frame(cmd=0x33, seq=0x1234, data=data).to_wire(),
            header + data + hashlib.md5(header + data).digest(),
        )

    def test_empty_data(self) -> None:
        wire = Frame(cmd=0x31, seq=0, data=b"").to_wire()
        self.assertEqual(len(wire), HEADER_SIZE + 16)
        self.assertEqual(decode_frame(wire), (Frame(cmd=0x31, seq=0, data=b""), len(wire)))

    def test_invalid_frames_cannot_be_built(self) -> None:
        for kwargs in [
            dict(cmd=256, seq=0, data=b""),
            dict(cmd=-1, seq=0, data=b""),
            dict(cmd=1, seq=65536, data=b""),
            dict(cmd=1, seq=0, data=b"", remark=256),
            dict(cmd=1, seq=0, data=b"x" * (MAX_DATA + 1)),
        ]:
            self.assertRaises(ValueError, Frame, **kwargs)
        self.assertRaises(TypeError, Frame, cmd=True, seq=0, data=b"")
        self.assertRaises(TypeError, Frame, cmd=1, seq=0, data="text")

    def test_largest_frame(self) -> None:
        frame = Frame(cmd=0x72, seq=65535, data=b"x" * MAX_DATA)
        self.assertEqual(list(FrameDecoder().feed(frame.to_wire())), [frame])

    @given(st.lists(frames(), max_size=6))
    @settings(max_examples=50)
    def test_round_trip(self, sent: list[Frame]) -> None:
        wire = b"".join(frame.to_wire() for frame in sent)
        decoder = FrameDecoder()
        self.assertEqual(list(decoder.feed(wire)), sent)
        self.assertEqual(decoder.buffered, 0)

    @given(split_streams)
    @settings(max_examples=100)
    def test_any_chunking(self, case: tuple[list[Frame], list[bytes]]) -> None:
        """Whatever the TCP segmentation, the same frames come out."""
        sent, chunks = case
        self.assertEqual(feed_all(FrameDecoder(), chunks), sent)


class DecoderOutcomeTests(SynchronousTestCase):
    def test_bad_start_word(self) -> None:
        self.assertRaises(OutOfSync, list, FrameDecoder().feed(b"\xfa\xf6" + b"\x00" * 30))

    def test_bad_first_byte_is_seen_at_once(self) -> None:
        self.assertRaises(OutOfSync, list, FrameDecoder().feed(b"G"))

    def test_garbage_after_a_frame(self) -> None:
        """Frames before the garbage are handed out before OutOfSync is raised."""
        good = Frame(cmd=0x33, seq=7, data=b"<HEARTBEAT_REQ/>")
        events = FrameDecoder().feed(good.to_wire() + b"GET / HTTP/1.1\r\n")
        self.assertEqual(next(events), good)
        self.assertRaises(OutOfSync, next, events)

    def test_error_is_sticky(self) -> None:
        decoder = FrameDecoder()
        self.assertRaises(OutOfSync, list, decoder.feed(b"\x00\x00"))
        self.assertRaises(OutOfSync, decoder.feed, Frame(cmd=1, seq=1, data=b"").to_wire())

    def test_bad_digest_then_good_frame(self) -> None:
        """A frame with a wrong MD5 is reported and dropped; the stream stays in step."""
        bad = bytearray(Frame(cmd=0x37, seq=1, data=b"<ALARM_NOTIFY_REQ/>").to_wire())
        bad[-1] ^= 0xFF
        good = Frame(cmd=0x33, seq=2, data=b"<HEARTBEAT_REQ/>")
        events = list(FrameDecoder().feed(bytes(bad) + good.to_wire()))
        self.assertEqual(len(events), 2)
        self.assertIsInstance(events[0], BadDigest)
        self.assertEqual((events[0].cmd, events[0].seq, events[0].data), (0x37, 1, b"<ALARM_NOTIFY_REQ/>"))
        self.assertEqual(events[1], good)

    def test_corrupted_data_is_bad_digest(self) -> None:
        wire = bytearray(Frame(cmd=0x31, seq=1, data=b"<LOGIN_REQ/>").to_wire())
        wire[HEADER_SIZE] ^= 0x01
        (event,) = FrameDecoder().feed(bytes(wire))
        self.assertIsInstance(event, BadDigest)

    def test_waits_for_data(self) -> None:
        """LEN beyond the bytes received so far: no event yet, then the frame."""
        frame = Frame(cmd=0x32, seq=3, data=b"x" * 100)
        wire = frame.to_wire()
        decoder = FrameDecoder()
        self.assertEqual(list(decoder.feed(wire[:50])), [])
        self.assertEqual(decoder.buffered, 50)
        self.assertEqual(list(decoder.feed(wire[50:-1])), [])
        self.assertEqual(list(decoder.feed(wire[-1:])), [frame])
        self.assertEqual(decoder.buffered, 0)

    def test_need_more(self) -> None:
        wire = Frame(cmd=0x32, seq=3, data=b"abc").to_wire()
        for end in range(len(wire)):
            self.assertIsNone(decode_frame(wire[:end]))

    def test_too_large(self) -> None:
        """LEN over the configured limit fails as soon as the header is in."""
        header = struct.pack(">2sBHBH", HEAD, 0x31, 0, 0, 1025)
        decoder = FrameDecoder(max_data=1024)
        self.assertRaises(FrameTooLarge, list, decoder.feed(header))

    def test_limit_allows_up_to_max(self) -> None:
        frame = Frame(cmd=0x31, seq=0, data=b"y" * 1024)
        self.assertEqual(list(FrameDecoder(max_data=1024).feed(frame.to_wire())), [frame])

    def test_limit_range(self) -> None:
        self.assertRaises(ValueError, FrameDecoder, max_data=MAX_DATA + 1)
        self.assertRaises(ValueError, FrameDecoder, max_data=-1)

    def test_error_hierarchy(self) -> None:
        self.assertTrue(issubclass(OutOfSync, FrameError))
        self.assertTrue(issubclass(FrameTooLarge, FrameError))

    @given(st.binary(max_size=300), st.integers(1, 64))
    @settings(max_examples=150)
    def test_random_bytes(self, data: bytes, step: int) -> None:
        """Random input yields events or FrameError, never anything else."""
        decoder = FrameDecoder(max_data=256)
        try:
            feed_all(decoder, [data[i : i + step] for i in range(0, len(data), step)])
        except FrameError:
            pass

    @given(mutated_streams)
    @settings(max_examples=150)
    def test_mutated_frames(self, data: bytes) -> None:
        decoder = FrameDecoder()
        try:
            for event in decoder.feed(data):
                self.assertIsInstance(event, (Frame, BadDigest))
        except FrameError:
            pass


class SeqTests(SynchronousTestCase):
    def test_wraps(self) -> None:
        """§7.4.4: 0 … 65535, then 0 again."""
        self.assertEqual(next_seq(0), 1)
        self.assertEqual(next_seq(65534), 65535)
        self.assertEqual(next_seq(65535), 0)

    @given(st.integers(0, 65535))
    @settings(max_examples=50)
    def test_always_valid(self, seq: int) -> None:
        following = next_seq(seq)
        self.assertTrue(0 <= following <= 65535)
        Frame(cmd=0x60, seq=following, data=b"")
