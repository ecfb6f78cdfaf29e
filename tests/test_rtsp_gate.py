"""kandian.rtsp.gate: a paused player's media, with the decoder's media path, in any chunking (sans-IO)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kandian.rtsp.gate import MediaGate
from kandian.rtsp.message import Interleaved, InterleavedRun, RTSPDecoder, scan_interleaved


def numbered(sizes: list[int]) -> list[bytes]:
    """Frames whose data starts with their number (sizes >= 2)."""
    return [Interleaved(n % 2, n.to_bytes(2, "big") + b"x" * (size - 2)).to_bytes() for n, size in enumerate(sizes)]


@st.composite
def played(draw: st.DrawFn) -> tuple[list[bytes], list[tuple[str, bytes]]]:
    """Numbered frames, cut into reads, with pauses and resumes between some reads."""
    frames = numbered(draw(st.lists(st.integers(2, 300), min_size=1, max_size=30)))
    data = b"".join(frames)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=25)))
    reads = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    steps: list[tuple[str, bytes]] = []
    for read in reads:
        steps += [(op, b"") for op in draw(st.lists(st.sampled_from(["hold", "release"]), max_size=2))]
        steps.append(("read", read))
    return frames, steps


class Player:
    """The relay's side: the decoder's feed_media, the gate, what the player is written."""

    def __init__(self, limit: int):
        self.decoder = RTSPDecoder(coalesce_interleaved=True)
        self.gate = MediaGate(limit)
        self.written = bytearray()
        self.held = 0
        self.at_hold: int | None = None  # what the player had at the last pause plus the rest of that frame

    def step(self, op: str, data: bytes) -> None:
        if op == "hold":
            if not self.gate.holding:
                self.at_hold = len(self.written) + self.decoder.frame_left
            self.gate.hold(self.decoder.frame_left)
        elif op == "release":
            self.written += self.gate.release(self.decoder.frame_left)
        else:
            run, events = self.decoder.feed_media(data)
            for media in [run, *(e.data for e in events if isinstance(e, InterleavedRun))]:
                now, held = self.gate.media(media)
                assert len(now) + held == len(media)
                self.written += now
                self.held += held
                if self.gate.holding:
                    assert len(self.written) <= self.at_hold, "media written while paused"


def frames_of(data: bytes) -> list[bytes]:
    end, count = scan_interleaved(data)
    assert end == len(data), "not whole frames: %d of %d bytes" % (end, len(data))
    out, pos = [], 0
    while pos < len(data):
        size = 4 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        out.append(data[pos : pos + size])
        pos += size
    return out


class GateTests(SynchronousTestCase):
    @given(played())
    @settings(max_examples=300)
    def test_nothing_lost_below_the_limit(self, case) -> None:
        """Paused and resumed anywhere, in any chunking: once resumed the player has the stream as sent."""
        frames, steps = case
        player = Player(limit=1 << 30)
        for op, data in steps:
            player.step(op, data)
        player.step("release", b"")
        self.assertEqual(bytes(player.written), b"".join(frames))
        self.assertTrue(player.gate.open)

    @given(played(), st.integers(0, 600))
    @settings(max_examples=300)
    def test_past_the_limit_whole_frames_are_dropped(self, case, limit: int) -> None:
        """A camera that does not pause: the player gets whole frames, in order, none twice; what is
        lost was sent while it was paused."""
        frames, steps = case
        player = Player(limit)
        for op, data in steps:
            player.step(op, data)
        player.step("release", b"")
        got = frames_of(bytes(player.written))
        numbers = [int.from_bytes(f[4:6], "big") for f in got]
        self.assertEqual(numbers, sorted(set(numbers)))
        self.assertEqual(got, [frames[n] for n in numbers])
        self.assertLessEqual(sum(len(frames[n]) for n in set(range(len(frames))) - set(numbers)), player.held)
        self.assertTrue(player.gate.open)

    def test_a_pause_inside_a_frame_passes_the_rest_of_it(self) -> None:
        frames = numbered([100, 100, 100])
        data = b"".join(frames)
        player = Player(limit=1000)
        player.step("read", data[:50])
        player.step("hold", b"")
        player.step("read", data[50:250])
        self.assertEqual(bytes(player.written), frames[0])  # 104 bytes: the frame under way, whole
        self.assertEqual(player.held, 250 - 104)
        player.step("release", b"")
        self.assertEqual(bytes(player.written), data[:250])

    def test_after_a_drop_the_player_goes_on_at_a_frame_boundary(self) -> None:
        frames = numbered([100, 100, 100, 100])
        data = b"".join(frames)
        player = Player(limit=60)
        player.step("hold", b"")
        player.step("read", data[:150])  # frame 0 and half of frame 1: past the limit, dropped
        player.step("release", b"")
        self.assertEqual(bytes(player.written), b"")
        player.step("read", data[150:])  # the rest of frame 1 is dropped too
        self.assertEqual(bytes(player.written), frames[2] + frames[3])
        self.assertTrue(player.gate.open)
