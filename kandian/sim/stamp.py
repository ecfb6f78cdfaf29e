"""The wall-clock stamp burnt into the test camera's frames (``gst_camera.py --clock``), and its reader.

Glass-to-glass latency (issue 16) is "the moment a frame was made" to "the
moment a player shows it".  The camera writes the first into the picture
itself, so every reader — ffmpeg through the platform's HLS, hls.js in the
browser — can read it back from the decoded frame, whatever happened to the
stream on the way (relay, packager, segments, player buffer)::

    band = encode(stamp_ms(time.time()), width)     # camera: BAND_ROWS rows of luma
    code = decode(pixels, width)                     # reader: None if unreadable
    made = unwrap(code, time.time() * 1000)          # ms since the epoch

The band is the top :data:`BAND_ROWS` (32) rows of the picture: 32 blocks
across, each ``width // 32`` pixels wide (20 at 640, 10 at 320), centred;
the upper 16 rows carry the time in milliseconds modulo 2**32, most
significant bit on the left, white (235) for 1 and black (16) for 0; the
lower 16 rows carry the same bits inverted.  The inverted row is the
check: a frame whose blocks were smeared by the encoder (or a band that
is not there) does not read as a bit and its complement and is rejected
instead of giving a wrong time.  Blocks this large survive x264 at the
camera's bit rates (a 16-row block is one macroblock high).

A reader takes the mean of each block's middle (half its width, the middle
8 of its 16 rows: away from the encoder's ringing at the edges) and
compares it with the midpoint of the darkest and brightest block — the
inverted row guarantees both are present, so the threshold follows the
decoder's range (ffmpeg's ``gray`` and a canvas's RGB differ).

Pure: no I/O, the standard library only (the camera script runs under
Debian's Python and loads this file by its path).  :data:`DECODE_JS` is
the same reader for a browser (an RGBA ``ImageData`` of the band), and
:func:`watch_js` reads every frame a page's ``<video>`` presents with it.
"""

from __future__ import annotations

import json

BITS = 32
HALF = 16  # rows of each of the two halves of the band
BAND_ROWS = 2 * HALF
WHITE, BLACK = 235, 16
MIN_CONTRAST = 64  # brightest block - darkest block, or the band is not there
MODULUS = 1 << BITS


def stamp_ms(seconds: float) -> int:
    """The code of a wall-clock time (``time.time()``): milliseconds modulo 2**32."""
    return int(seconds * 1000) % MODULUS


def unwrap(code: int, now_ms: float) -> int:
    """The wall-clock time in whole ms of *code*, read at *now_ms*: the latest one not after *now_ms* with that
    code (a code read up to 49 days after it was made)."""
    now = int(now_ms)
    return now - ((now - code) % MODULUS)


def geometry(width: int) -> tuple[int, int]:
    """(left edge, block width) of the blocks across a picture *width* pixels wide."""
    block = width // BITS
    if block < 4:
        raise ValueError("a picture %d pixels wide is too narrow for the stamp (at least %d)" % (width, 4 * BITS))
    return (width - block * BITS) // 2, block


def encode(code: int, width: int, background: int = 128) -> bytes:
    """The band of *code*: :data:`BAND_ROWS` rows of *width* luma bytes (*background* outside the blocks)."""
    if not 0 <= code < MODULUS:
        raise ValueError("the code is 32 bits: %r" % code)
    left, block = geometry(width)
    rows = []
    for inverted in (False, True):
        row = bytearray([background]) * width
        for i in range(BITS):
            bit = (code >> (BITS - 1 - i)) & 1
            value = WHITE if bit != inverted else BLACK
            row[left + i * block:left + (i + 1) * block] = bytes([value]) * block
        rows.append(bytes(row) * HALF)
    return b"".join(rows)


def block_means(pixels, width: int, stride: int = 0, step: int = 1) -> list[float]:
    """The mean of each block's middle, upper row's 32 then lower row's 32.

    *pixels*: the band's rows (at least :data:`BAND_ROWS`), *stride* bytes apart (default *width*), a pixel
    every *step* bytes (1 for grey, 4 for RGBA: the first byte of each, its red — grey is R = G = B)."""
    stride = stride or width * step
    left, block = geometry(width)
    x0, x1 = block // 4, block - block // 4
    means = []
    for half in range(2):
        rows = range(half * HALF + HALF // 4, half * HALF + HALF - HALF // 4)
        for i in range(BITS):
            total = count = 0
            for y in rows:
                start = y * stride + (left + i * block + x0) * step
                cells = pixels[start:start + (x1 - x0) * step:step]
                total += sum(cells)
                count += len(cells)
            means.append(total / count)
    return means


def decode(pixels, width: int, stride: int = 0, step: int = 1) -> int | None:
    """The code the band in *pixels* carries, or None when it does not read as one (no band, smeared).

    See :func:`block_means` for *pixels*, *stride* and *step*."""
    if len(pixels) < ((BAND_ROWS - 1) * (stride or width * step) + width * step):
        raise ValueError("need %d rows of %d pixels" % (BAND_ROWS, width))
    means = block_means(pixels, width, stride, step)
    low, high = min(means), max(means)
    if high - low < MIN_CONTRAST:
        return None
    middle = (low + high) / 2
    code = 0
    for i in range(BITS):
        bit, check = means[i] > middle, means[BITS + i] > middle
        if bit == check:
            return None
        code = (code << 1) | bit
    return code


# The same reader in a browser: decodeStamp(ImageData of the band's rows) → the code, or null.
DECODE_JS = """
function decodeStamp(image) {
  const BITS = %(bits)d, HALF = %(half)d, width = image.width, px = image.data;
  const block = Math.floor(width / BITS), left = Math.floor((width - block * BITS) / 2);
  const x0 = Math.floor(block / 4), x1 = block - Math.floor(block / 4);
  const means = [];
  for (let half = 0; half < 2; half++) {
    for (let i = 0; i < BITS; i++) {
      let total = 0, count = 0;
      for (let y = half * HALF + Math.floor(HALF / 4); y < half * HALF + HALF - Math.floor(HALF / 4); y++) {
        for (let x = left + i * block + x0; x < left + i * block + x1; x++) {
          const p = (y * width + x) * 4;
          total += (px[p] * 299 + px[p + 1] * 587 + px[p + 2] * 114) / 1000; count++;
        }
      }
      means.push(total / count);
    }
  }
  const low = Math.min(...means), high = Math.max(...means);
  if (high - low < %(contrast)d) return null;
  const middle = (low + high) / 2;
  let code = 0;
  for (let i = 0; i < BITS; i++) {
    const bit = means[i] > middle, check = means[BITS + i] > middle;
    if (bit === check) return null;
    code = code * 2 + (bit ? 1 : 0);
  }
  return code;
}
""" % {"bits": BITS, "half": HALF, "contrast": MIN_CONTRAST}


def watch_js(video_id: str) -> str:
    """A function for Playwright's ``page.evaluate`` (a page's CSP may bar inline scripts) that reads the stamp of
    every frame the ``<video>`` *video_id* presents (``requestVideoFrameCallback``, the band drawn onto a canvas):
    ``window.__stamps`` gets ``[expected display time in epoch ms, code, Date.now()]`` for each, ``window.__unread``
    counts frames without a readable stamp and ``window.__stalls`` the video's ``waiting`` events.  It waits for the
    element to appear."""
    return "() => {" + DECODE_JS + """
window.__stamps = []; window.__unread = 0; window.__stalls = 0;
(function watch() {
  const video = document.getElementById(%(id)s);
  if (!video || !video.requestVideoFrameCallback) { setTimeout(watch, 20); return; }
  video.addEventListener("waiting", () => { window.__stalls++; });
  const canvas = document.createElement("canvas");
  const g = canvas.getContext("2d", { willReadFrequently: true });
  const frame = (now, meta) => {
    const w = meta.width, rows = %(rows)d;
    if (canvas.width !== w) { canvas.width = w; canvas.height = rows; }
    g.drawImage(video, 0, 0, w, rows, 0, 0, w, rows);
    const code = decodeStamp(g.getImageData(0, 0, w, rows));
    if (code === null) window.__unread++;
    else window.__stamps.push([performance.timeOrigin + meta.expectedDisplayTime, code, Date.now()]);
    video.requestVideoFrameCallback(frame);
  };
  video.requestVideoFrameCallback(frame);
})();
}""" % {"id": json.dumps(video_id), "rows": BAND_ROWS}
