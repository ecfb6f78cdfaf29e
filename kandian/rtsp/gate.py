"""What of a camera's media reaches a player whose play session paused it (sans-IO).

The relay passes media on as it reads it, frame boundaries or not
(:meth:`kandian.rtsp.message.RTSPDecoder.feed_media`), so a player may be in
the middle of a frame between two reads.  A pause must not cut a frame: the
player is handed the rest of the frame under way, then nothing; what the
camera sends meanwhile is kept (up to a limit: what was under way as the
camera paused) for the player once it resumes, so that its pictures go on
where they stopped.  A camera that goes on sending past the limit cannot
pause, and all it sent is dropped: on resume the player then goes on at the
next frame boundary of the stream, never inside a frame.

The gate counts bytes only; the frame boundaries come from the decoder
(``frame_left``: the bytes of the frame under way not yet handed out), given
to :meth:`MediaGate.hold` and :meth:`MediaGate.release`.
"""

from __future__ import annotations

__all__ = ["MediaGate"]


class MediaGate:
    """Between a pause and a resume, what of the media goes to the player now
    (:meth:`media`'s answer), what is kept for later, what is dropped."""

    def __init__(self, limit: int):
        self.limit = limit
        self.holding = False
        self._kept: list[bytes] | None = []  # None: more than the limit came, all dropped
        self._kept_bytes = 0
        self._owed = 0  # bytes the player still gets after the pause: the rest of the frame under way
        self._skip = 0  # bytes dropped after a resume: the rest of a frame that was dropped

    @property
    def open(self) -> bool:
        """Everything passes: not paused, nothing to skip."""
        return not self.holding and not self._skip

    def hold(self, frame_left: int) -> None:
        """Pause; *frame_left*: the bytes of the frame under way not yet handed to the gate."""
        if self.holding:
            return
        self.holding = True
        # while skipping, the player already stands at a frame boundary
        self._owed = 0 if self._skip else frame_left

    def media(self, data: bytes) -> tuple[bytes, int]:
        """``(now, held)``: what of *data* goes to the player now, and how many
        of its bytes were held back (kept, or dropped): ``len(now) + held == len(data)``."""
        skipped = 0
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return b"", len(data)
            skipped = self._skip
            data = data[skipped:]
            self._skip = 0
        if not self.holding:
            return data, skipped
        now = b""
        if self._owed:
            if len(data) <= self._owed:
                self._owed -= len(data)
                return data, skipped
            now, data = data[: self._owed], data[self._owed:]
            self._owed = 0
        if data and self._kept is not None:
            self._kept.append(data)
            self._kept_bytes += len(data)
            if self._kept_bytes > self.limit:
                self._kept = None
        return now, skipped + len(data)

    def release(self, frame_left: int) -> bytes:
        """Resume: what was kept, for the player now (``b""`` if it was dropped, and
        the rest of the frame under way, *frame_left* bytes, is dropped too)."""
        if not self.holding:
            return b""
        self.holding = False
        self._owed = 0
        kept, self._kept, self._kept_bytes = self._kept, [], 0
        if kept is None:
            self._skip = frame_left
            return b""
        return b"".join(kept)
