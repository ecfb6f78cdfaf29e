"""HLS video on demand over recorded MPEG-TS pieces (RFC 8216 §4.3; PRODUCT.md "Media").

Sans-IO: no Twisted, no files.  A piece is indexed once, when it is
finished: ffprobe lists its video packets (:func:`parse_packets`: time,
byte position, key flag), :func:`table_start` moves each key frame's
position back over the PAT/PMT/SDT packets the muxer wrote just before it
(so every range decodes on its own, after a seek too), and
:func:`segments` groups key frames into byte ranges of about
:data:`TARGET` seconds.  :func:`playlist` writes the VOD playlist of a run's
pieces (``EXT-X-BYTERANGE``, version 4), starting playback at the piece asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

TS = 188
TARGET = 4.0  # seconds of a VOD segment, at least (key frames decide)
PSI_TABLES = (0x00, 0x02, 0x42)  # PAT, PMT, SDT
MAX_TABLES = 8  # packets of tables looked at before a key frame


class BadIndex(ValueError):
    """ffprobe's answer is not a list of packets with times and positions."""


def parse_packets(text: str) -> tuple[list[tuple[float, int]], float | None]:
    """Key frames ``[(seconds, byte position)]`` and the duration (None if not said) from
    ``ffprobe -select_streams v:0 -show_entries packet=pts_time,pos,flags:format=duration -of compact``;
    also the first packet's time, as the first key frame's when the file opens with one."""
    keys: list[tuple[float, int]] = []
    duration = None
    first = None
    for line in text.splitlines():
        section, _, rest = line.partition("|")
        fields = dict(part.partition("=")[::2] for part in rest.split("|") if "=" in part)
        if section == "packet":
            try:
                seconds = float(fields["pts_time"])
                pos = int(fields["pos"])
            except (KeyError, ValueError):
                continue  # a packet without a time (N/A) or position: not a place to start
            if not math.isfinite(seconds) or pos < 0:
                continue
            first = seconds if first is None else min(first, seconds)
            if fields.get("flags", "").startswith("K"):
                keys.append((seconds, pos))
        elif section == "format":
            try:
                duration = float(fields.get("duration", ""))
            except ValueError:
                duration = None
            if duration is not None and (not math.isfinite(duration) or duration <= 0):
                duration = None
    if not keys:
        raise BadIndex("no key frame with a time and a position")
    keys.sort(key=lambda k: k[1])
    if first is not None and first < keys[0][0]:
        keys[0] = (first, keys[0][1])
    return keys, duration


def table_start(before: bytes, pos: int) -> int:
    """*pos* moved back over the whole PSI table packets (PAT, PMT, SDT) that end right at it;
    *before* is the file's bytes just before *pos* (any length, ideally ``MAX_TABLES * 188``)."""
    start = pos
    end = len(before)
    while end >= TS and start >= TS:
        packet = before[end - TS:end]
        if packet[0] != 0x47 or not packet[1] & 0x40:
            break
        adaptation = (packet[3] >> 4) & 0x3
        offset = 4
        if adaptation in (2, 3):
            offset += 1 + packet[4]
        if adaptation == 2 or offset >= TS:
            break
        pointer = packet[offset]
        if offset + 1 + pointer >= TS or packet[offset + 1 + pointer] not in PSI_TABLES:
            break
        end -= TS
        start -= TS
    return start


def segments(keys: list[tuple[float, int]], size: int, duration: float | None,
             target: float = TARGET) -> tuple[tuple[int, int, float], ...]:
    """Byte ranges ``(offset, length, seconds)`` covering the file of *size* bytes, each starting at a
    key frame (the first at byte 0) and lasting at least *target* seconds where key frames allow."""
    if not keys or size <= 0:
        raise BadIndex("nothing to index")
    t0 = keys[0][0]
    bounds = [(0.0, 0)]
    for seconds, pos in keys[1:]:
        if seconds - t0 - bounds[-1][0] >= target and bounds[-1][1] < pos < size:
            bounds.append((seconds - t0, pos))
    last = keys[-1][0] - t0
    total = duration if duration is not None and duration > last else last + max(target / 4, 0.04)
    out = []
    for n, (start, offset) in enumerate(bounds):
        end, end_offset = bounds[n + 1] if n + 1 < len(bounds) else (total, size)
        out.append((offset, end_offset - offset, round(max(end - start, 0.001), 3)))
    return tuple(out)


def playlist(pieces: Iterable, url: Callable[[int], str], start_offset: float = 0.0, ended: bool = True) -> str:
    """The VOD playlist of *pieces* (each with ``recording_id``, ``seq`` and ``segments``);
    *url(recording_id)* is the address of a piece's file.  A gap in ``seq`` (a piece deleted) is a
    discontinuity; *ended* False makes it an EVENT playlist the player reloads."""
    pieces = list(pieces)
    longest = max((s[2] for p in pieces for s in p.segments), default=TARGET)
    lines = ["#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-TARGETDURATION:%d" % max(1, math.ceil(longest)),
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:%s" % ("VOD" if ended else "EVENT"),
             "#EXT-X-INDEPENDENT-SEGMENTS"]
    if start_offset > 0:
        lines.append("#EXT-X-START:TIME-OFFSET=%.3f,PRECISE=YES" % start_offset)
    previous = None
    for piece in pieces:
        if previous is not None and piece.seq != previous + 1:
            lines.append("#EXT-X-DISCONTINUITY")
        previous = piece.seq
        address = url(piece.recording_id)
        for offset, length, seconds in piece.segments:
            lines.append("#EXTINF:%.3f," % seconds)
            lines.append("#EXT-X-BYTERANGE:%d@%d" % (length, offset))
            lines.append(address)
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
