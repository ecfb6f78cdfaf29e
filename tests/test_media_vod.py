"""VOD over recorded pieces: the sans-IO index and playlist (kandian.media.vod), and the real tools
(kandian.media.tools: ffprobe, ffmpeg) on MPEG-TS that ffmpeg's segment muxer wrote, as the recorder does."""

import os
import shutil

from hypothesis import given, strategies as st
from twisted.internet import defer, reactor
from twisted.trial import unittest

from kandian.core import errors
from kandian.media import vod
from kandian.media.tools import RecordingTools

from . import camera

PSI = {0x0000: 0x00, 0x1000: 0x02, 0x0011: 0x42}


def packet(pid: int, table: int | None = None, pusi: bool = True, fill: int = 0xFF) -> bytes:
    head = bytes([0x47, (0x40 if pusi else 0) | (pid >> 8), pid & 0xFF, 0x10])
    body = bytes([0, table]) if table is not None else b""
    return head + body + bytes([fill]) * (vod.TS - len(head) - len(body))


class ParsePackets(unittest.TestCase):
    SAMPLE = ("packet|pts_time=4.480000|pos=564|flags=K_|side_data|\n\n"
              "packet|pts_time=4.640000|pos=4324|flags=__|side_data|\n"
              "packet|pts_time=4.400000|pos=4888|flags=__\n"
              "packet|pts_time=N/A|pos=5000|flags=K_\n"
              "packet|pts_time=5.480000|pos=14852|flags=K_|side_data|\n"
              "format|duration=3.000000\n")

    def test_key_frames_and_duration(self):
        keys, duration = vod.parse_packets(self.SAMPLE)
        # the first key frame takes the earliest packet time (B-frames come out of order)
        self.assertEqual(keys, [(4.4, 564), (5.48, 14852)])
        self.assertEqual(duration, 3.0)

    def test_no_key_frame_is_bad(self):
        self.assertRaises(vod.BadIndex, vod.parse_packets, "format|duration=3\n")
        self.assertRaises(vod.BadIndex, vod.parse_packets, "")

    @given(st.text(max_size=400))
    def test_garbage_raises_only_bad_index(self, text):
        try:
            keys, duration = vod.parse_packets(text)
        except vod.BadIndex:
            return
        self.assertTrue(keys)


class TableStart(unittest.TestCase):
    def test_moves_back_over_pat_pmt_sdt_only(self):
        data = packet(0x100) + packet(0x11, 0x42) + packet(0, 0x00) + packet(0x1000, 0x02)
        pos = len(data)
        self.assertEqual(vod.table_start(data, pos), vod.TS)
        self.assertEqual(vod.table_start(data[-2 * vod.TS:], pos), pos - 2 * vod.TS)
        self.assertEqual(vod.table_start(packet(0x100) + packet(0x100, pusi=False), 376), 376)
        self.assertEqual(vod.table_start(b"", 0), 0)

    @given(st.lists(st.sampled_from(["video", "cont", "pat", "pmt", "sdt", "junk"]), max_size=12))
    def test_lands_on_a_packet_boundary_after_the_last_non_table(self, kinds):
        made = {"video": packet(0x100), "cont": packet(0x100, pusi=False), "pat": packet(0, 0x00),
                "pmt": packet(0x1000, 0x02), "sdt": packet(0x11, 0x42), "junk": b"\x00" * vod.TS}
        data = b"".join(made[k] for k in kinds)
        start = vod.table_start(data, len(data))
        self.assertEqual(start % vod.TS, 0)
        tables = 0
        for k in reversed(kinds):
            if k not in ("pat", "pmt", "sdt"):
                break
            tables += 1
        self.assertEqual(start, len(data) - tables * vod.TS)


class Segments(unittest.TestCase):
    def test_groups_key_frames_into_four_second_ranges(self):
        keys = [(10.0 + n, 1000 * n + 100) for n in range(10)]
        out = vod.segments(keys, 10_500, 10.0)
        self.assertEqual(out, ((0, 4100, 4.0), (4100, 4000, 4.0), (8100, 2400, 2.0)))

    @given(st.lists(st.tuples(st.floats(0, 1000), st.integers(0, 10**6)), min_size=1, max_size=40),
           st.integers(1, 2 * 10**6), st.none() | st.floats(0.001, 2000))
    def test_ranges_cover_the_file_in_order(self, keys, size, duration):
        keys = sorted(set(keys), key=lambda k: (k[1], k[0]))
        keys = [k for k in keys if k[1] < size] or [(0.0, 0)]
        keys.sort(key=lambda k: k[1])
        out = vod.segments(keys, size, duration)
        self.assertEqual(out[0][0], 0)
        self.assertEqual(sum(length for _, length, _ in out), size)
        for (offset, length, seconds), following in zip(out, out[1:]):
            self.assertEqual(offset + length, following[0])
            self.assertGreater(length, 0)
            self.assertIn(following[0], [pos for _, pos in keys])
        self.assertTrue(all(seconds > 0 for _, _, seconds in out))


class Playlist(unittest.TestCase):
    class Piece:
        def __init__(self, recording_id, seq, segments):
            self.recording_id, self.seq, self.segments = recording_id, seq, segments

    def test_byte_ranges_start_offset_discontinuity_and_end(self):
        pieces = [self.Piece(7, 0, ((0, 100, 4.0), (100, 50, 2.5))), self.Piece(8, 1, ((0, 80, 4.0),)),
                  self.Piece(10, 3, ((0, 10, 4.5),))]
        text = vod.playlist(pieces, lambda rid: "/r/%d.ts?sig=x" % rid, start_offset=6.5)
        self.assertEqual(text.splitlines(), [
            "#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-TARGETDURATION:5", "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-START:TIME-OFFSET=6.500,PRECISE=YES",
            "#EXTINF:4.000,", "#EXT-X-BYTERANGE:100@0", "/r/7.ts?sig=x",
            "#EXTINF:2.500,", "#EXT-X-BYTERANGE:50@100", "/r/7.ts?sig=x",
            "#EXTINF:4.000,", "#EXT-X-BYTERANGE:80@0", "/r/8.ts?sig=x",
            "#EXT-X-DISCONTINUITY",
            "#EXTINF:4.500,", "#EXT-X-BYTERANGE:10@0", "/r/10.ts?sig=x",
            "#EXT-X-ENDLIST"])
        event = vod.playlist(pieces[:1], str, ended=False)
        self.assertIn("#EXT-X-PLAYLIST-TYPE:EVENT", event)
        self.assertNotIn("#EXT-X-ENDLIST", event)
        self.assertNotIn("EXT-X-START", event)


@defer.inlineCallbacks
def record_pieces(testcase, seconds=9, segment=4, audio=False):
    """MPEG-TS pieces as the recorder's ffmpeg cuts them (segment muxer, key frame every second)."""
    folder = os.path.abspath(testcase.mktemp())
    os.makedirs(folder)
    args = [camera.require("ffmpeg"), "-nostdin", "-v", "error", "-f", "lavfi", "-i",
            "testsrc=size=320x240:rate=25"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000"]
    args += ["-t", str(seconds), "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac"]
    args += ["-f", "segment", "-segment_time", str(segment), "-segment_format", "mpegts",
             "-segment_list", "pipe:1", "-segment_list_type", "csv", "-reset_timestamps", "0",
             os.path.join(folder, "r_%04d.ts")]
    code, out, err = yield camera.run_player(args, 60)
    testcase.assertEqual(code, 0, err)
    return folder, [line.split(",") for line in out.decode().splitlines()]


class RealTools(unittest.TestCase):
    timeout = 120

    def assertNear(self, a, b, delta):
        self.assertTrue(abs(a - b) <= delta, "%r is not within %r of %r" % (a, delta, b))

    def setUp(self):
        self.tools = RecordingTools(reactor, ffmpeg=camera.require("ffmpeg"), ffprobe=camera.require("ffprobe"))

    @defer.inlineCallbacks
    def test_every_range_of_a_piece_decodes_on_its_own(self):
        folder, pieces = yield record_pieces(self, audio=True)
        self.assertEqual([p[0] for p in pieces], ["r_0000.ts", "r_0001.ts", "r_0002.ts"])
        path = os.path.join(folder, "r_0001.ts")
        segments, duration = yield self.tools.index(path)
        self.assertNear(duration, float(pieces[1][2]) - float(pieces[1][1]), 0.1)
        self.assertEqual(sum(length for _, length, _ in segments), os.path.getsize(path))
        self.assertNear(sum(s for _, _, s in segments), duration, 0.1)
        self.assertGreaterEqual(len(segments), 1)
        with open(path, "rb") as f:
            data = f.read()
        for n, (offset, length, seconds) in enumerate(segments):
            part = os.path.join(folder, "part%d.ts" % n)
            with open(part, "wb") as f:
                f.write(data[offset:offset + length])
            self.assertEqual(data[offset], 0x47)
            # each range opens with the tables (SDT/PAT) the muxer wrote before its key frame
            self.assertIn(((data[offset + 1] & 0x1F) << 8) | data[offset + 2], (0x0000, 0x0011))
            probe = yield camera.run_player([camera.require("ffprobe"), "-v", "error", "-count_frames",
                                             "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames",
                                             "-of", "csv=p=0", part], 30)
            self.assertEqual(probe[0], 0, probe[2])
            frames = int(probe[1].decode().split()[0].split(",")[0])
            self.assertNear(frames, seconds * 25, 2)

    @defer.inlineCallbacks
    def test_snapshot_and_mp4(self):
        folder, _ = yield record_pieces(self, seconds=3, segment=10, audio=True)
        path = os.path.join(folder, "r_0000.ts")
        made = yield self.tools.snapshot(path, os.path.join(folder, "r_0000.jpg"))
        self.assertTrue(made)
        with open(os.path.join(folder, "r_0000.jpg"), "rb") as f:
            self.assertEqual(f.read(3), b"\xff\xd8\xff")
        yield self.tools.remux(path, os.path.join(folder, "r_0000.mp4"))
        probe = yield camera.ffprobe(os.path.join(folder, "r_0000.mp4"))
        self.assertEqual(probe.code, 0, probe.stderr)
        kinds = sorted(s["codec_name"] for s in probe.info["streams"])
        self.assertEqual(kinds, ["aac", "h264"])
        self.assertFalse(os.path.exists(os.path.join(folder, "r_0000.mp4.part")))
        yield self.tools.remove([os.path.join(folder, "r_0000.mp4"), os.path.join(folder, "nothing")])
        self.assertFalse(os.path.exists(os.path.join(folder, "r_0000.mp4")))
        self.assertIsNone((yield self.tools.size(os.path.join(folder, "r_0000.mp4"))))
        self.assertEqual((yield self.tools.size(path)), os.path.getsize(path))

    @defer.inlineCallbacks
    def test_a_file_that_is_not_video(self):
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        path = os.path.join(folder, "bad.ts")
        with open(path, "wb") as f:
            f.write(b"not a transport stream" * 100)
        yield self.assertFailure(self.tools.index(path), Exception)
        self.assertFalse((yield self.tools.snapshot(path, os.path.join(folder, "bad.jpg"))))
        self.assertFalse(os.path.exists(os.path.join(folder, "bad.jpg.part")))
        yield self.assertFailure(self.tools.remux(path, os.path.join(folder, "bad.mp4")), errors.RecordingUnavailable)
        self.assertEqual(sorted(os.listdir(folder)), ["bad.ts"])
        self.assertTrue(shutil.which("ffmpeg"))
