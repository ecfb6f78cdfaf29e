"""A camera's media source for end-to-end tests: a real RTSP server (GStreamer).

Run it with Debian's system Python, which has ``gi`` (the virtualenv's Python
does not)::

    /usr/bin/python3 -I kandian/sim/gst_camera.py --port 0

It serves one live H.264 stream (``videotestsrc`` → ``x264enc`` →
``rtph264pay``) with GStreamer's own RTSP server (``GstRtspServer``) and
prints one line ``READY rtsp://ADDRESS:PORT/PATH`` on stdout once it listens
(the real port when ``--port 0``). SIGTERM or SIGINT stops it: it stops
listening, drops every client and session, takes the pipeline to NULL and
exits 0 (players see the end of the stream).

The same stream is mounted at ``--path`` (``/stream``) and at ``/realplay``,
so the spec's device URL ``rtsp://host:port/realplay?devid=…&hashtoken=…``
(§10, §15) is served: the server finds the mount by the URL's path; the query
is ignored here (this camera checks no token).

The media is *shared*: one pipeline, one encoder, for every client of every
mount, whatever the query string (GStreamer keys shared media by the whole
URL, query included, so the key is replaced by a constant one below: without
that every ``hashtoken`` would start an encoder of its own). The encoder
starts at the first DESCRIBE and stops when the last client has gone. Clients
may use RTP over UDP or interleaved in the RTSP TCP connection. The media is
live and reports itself unseekable, so a PLAY's ``Range`` is ignored (see
``set_publish_clock_mode`` below for why that matters).

With ``--recording FILE`` (an MP4 of H.264) the camera also has recordings:
``/record`` (and any path below it, such as ``/record/NAME.mp4``) plays
FILE from its start, each client its own pipeline, seekable — a PLAY's
``Range`` moves it, its ``Scale`` changes its speed, PAUSE pauses it — as a
camera plays a file of its storage (§7.5.23).

With ``--clock`` the picture burns in the wall-clock time at which each
frame was made, for glass-to-glass latency (``bench/media.py``): instead of
``videotestsrc`` an ``appsrc`` is fed, from a GLib timeout on the main loop
at the frame rate, with I420 frames whose top 32 rows carry
``time.time()`` at the frame's making in milliseconds (modulo 2**32) as
black and white blocks (``kandian/sim/stamp.py`` says the layout and reads
it back; at least 128 pixels wide), and whose rest is a grey picture with a
white square moving across it.  The frame goes to ``x264enc`` at once
(``tune=zerolatency``), so that time is the "glass".  The source is made
only while the shared media is prepared (the first client to the last);
its queue holds at most two frames and drops the oldest, as a camera does
when nobody reads fast enough.

This file is a script, not part of the ``kandian`` package's import graph:
nothing in ``kandian`` imports it, and it imports nothing from ``kandian``
(``-I`` keeps the script's own folder off ``sys.path``); with ``--clock`` it
loads its sibling ``stamp.py`` (standard library only) by its path. ``gi``
is imported inside :func:`main` so that importing the module by accident is
harmless.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import time

REALPLAY = "/realplay"
RECORD = "/record"


ENCODER = (
    "x264enc tune=zerolatency speed-preset=ultrafast threads=1 "
    "bitrate={bitrate} pass=cbr vbv-buf-capacity=1000 key-int-max={keyint} "
    "option-string=nal-hrd=cbr:filler "
    "! video/x-h264,profile=baseline "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def launch_line(width: int, height: int, fps: int, bitrate: int, keyint: int) -> str:
    """The pipeline, in ``gst-launch`` syntax, that each media is built from.

    ``x264enc``: ``tune=zerolatency`` (no look-ahead, no B-frames, one frame
    in, one frame out), ``speed-preset=ultrafast``, ``key-int-max`` frames
    between IDR frames, constant bitrate (``pass=cbr`` with a one-second VBV
    buffer and HRD filler, so the stream carries ``bitrate`` kbit/s whatever
    the picture), baseline profile. ``rtph264pay config-interval=1`` repeats
    SPS/PPS every second, so a client that joins a shared stream late can
    decode from the next IDR frame.
    """
    return (
        "( videotestsrc is-live=true pattern=ball animation-mode=frames "
        f"! video/x-raw,format=I420,width={width},height={height},framerate={fps}/1 "
        "! " + ENCODER.format(bitrate=bitrate, keyint=keyint)
    )


CLOCK_SOURCE = "clock"


def clock_line(width: int, height: int, fps: int, bitrate: int, keyint: int) -> str:
    """The pipeline of ``--clock``: frames pushed by :class:`ClockPicture` into an ``appsrc``.

    ``is-live`` and ``do-timestamp``: each frame is timestamped with the
    pipeline's running time when it is pushed, as a live camera's.
    ``leaky-type=downstream`` with ``max-buffers=2``: a queue that cannot
    grow (the oldest frame is dropped) if the encoder ever falls behind.
    """
    return "( " + clock_source(width, height, fps) + " ! " + ENCODER.format(bitrate=bitrate, keyint=keyint)


def clock_source(width: int, height: int, fps: int) -> str:
    """The ``appsrc`` of :func:`clock_line`, that :class:`Feeder` pushes frames into."""
    return (
        f"appsrc name={CLOCK_SOURCE} is-live=true do-timestamp=true format=time "
        "leaky-type=downstream max-buffers=2 max-bytes=0 "
        f"caps=video/x-raw,format=I420,width={width},height={height},framerate={fps}/1"
        ",pixel-aspect-ratio=1/1,colorimetry=bt601"
    )


def load_stamp():
    """The sibling ``stamp.py``, loaded by its path (``-I``: the script's folder is not on ``sys.path``)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stamp.py")
    spec = importlib.util.spec_from_file_location("kandian_camera_stamp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ClockPicture:
    """I420 frames of *width* × *height*: the stamp band on top, a grey field with a moving square below."""

    def __init__(self, stamp, width: int, height: int):
        self.stamp = stamp
        self.width, self.height = width, height
        stamp.geometry(width)  # too narrow: ValueError now, not at the first frame
        if height < stamp.BAND_ROWS + 16:
            raise ValueError("a picture %d pixels high is too low for the stamp (at least %d)"
                             % (height, stamp.BAND_ROWS + 16))
        self.stride = -(-width // 4) * 4  # GStreamer's default I420 layout: rows padded to 4 bytes
        self.chroma_width = -(-width // 2)
        self.chroma_stride = -(-self.chroma_width // 4) * 4
        self.chroma_height = -(-height // 2)
        pad = bytes(self.stride - width)
        self.row = bytes([96]) * width + pad  # the field
        self.band_rows = stamp.BAND_ROWS
        self.chroma = bytes([128]) * (self.chroma_stride * self.chroma_height) * 2  # no colour
        self.square = min(64, (height - self.band_rows) // 2)
        self.frames = 0

    def frame(self, now: float) -> bytes:
        """The frame made at *now* (``time.time()``), stamped with it; the square moves a step per frame."""
        luma = bytearray(self.row * self.height)
        band = self.stamp.encode(self.stamp.stamp_ms(now), self.width, 96)
        pad = bytes(self.stride - self.width)
        for y in range(self.band_rows):
            luma[y * self.stride:(y + 1) * self.stride] = band[y * self.width:(y + 1) * self.width] + pad
        side = self.square
        x = (4 * self.frames) % max(1, self.width - side)
        top = self.band_rows + (self.height - self.band_rows - side) // 2
        white = bytes([220]) * side
        for y in range(top, top + side):
            luma[y * self.stride + x:y * self.stride + x + side] = white
        self.frames += 1
        return bytes(luma) + self.chroma


def recording_line(path: str) -> str:
    """The pipeline of a recording: the file's H.264 as it is, seekable."""
    quoted = '"%s"' % path.replace("\\", "\\\\").replace('"', '\\"')
    return ("( filesrc location=%s ! qtdemux ! h264parse "
            "! rtph264pay name=pay0 pt=96 config-interval=1 )" % quoted)


class Feeder:
    """Pushes a :class:`ClockPicture` frame into *source* (an ``appsrc``) *fps* times a second, on the main loop.

    Each timeout is armed for the next frame's due time on a monotonic
    schedule (a GLib interval re-armed from "now" would drift below the
    frame rate); after a stall longer than a frame the schedule restarts
    from now instead of pushing a burst of late frames.

    A frame is pushed only while *source* plays; one made before is dropped,
    as a camera's sensor runs whether anyone reads or not.  The source stamps
    a frame (``do-timestamp``) with the pipeline clock's time less its own
    base time, and as a pipeline starts to play GStreamer first hands every
    element the clock, then sets each element's base time as it changes that
    element's state, sources last: a frame pushed in between carried the
    clock's absolute time (the machine's uptime, hours), the sink waited
    hours for it, holding the pipeline's one streaming thread, and that
    media sent no RTP at all, only RTCP (a player's "no video": 2 of 80
    starts of a fresh camera read by ffmpeg; docs/benchmarks.md, issue 19).
    """

    def __init__(self, source, picture: ClockPicture, fps: int, GLib, Gst):
        self.source, self.picture, self.fps = source, picture, fps
        self.GLib, self.Gst = GLib, Gst
        self.timer = None
        self.start_at = 0.0
        self.count = 0

    def start(self) -> None:
        self.start_at, self.count = time.monotonic(), 0
        self.timer = self.GLib.timeout_add(0, self.tick)

    def stop(self) -> None:
        if self.timer is not None:
            self.GLib.source_remove(self.timer)
            self.timer = None

    def tick(self) -> bool:
        frame = self.picture.frame(time.time())
        if self.source.get_state(0)[1] == self.Gst.State.PLAYING:  # its base time is set
            buffer = self.Gst.Buffer.new_wrapped(frame)
            buffer.duration = self.Gst.SECOND // self.fps
            self.source.emit("push-buffer", buffer)
        self.count += 1
        delay = self.start_at + self.count / self.fps - time.monotonic()
        if delay < -1 / self.fps:
            self.start_at, self.count, delay = time.monotonic(), 0, 0
        self.timer = self.GLib.timeout_add(max(0, round(delay * 1000)), self.tick)
        return self.GLib.SOURCE_REMOVE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Serve a live H.264 test stream over RTSP (GStreamer).")
    parser.add_argument("--address", default="127.0.0.1",
                        help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=0,
                        help="TCP port; 0 chooses a free one (default %(default)s)")
    parser.add_argument("--path", default="/stream",
                        help="mount path; the stream is also at %s (default %%(default)s)"
                        % REALPLAY)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--bitrate", type=int, default=2000, help="kbit/s (default %(default)s)")
    parser.add_argument("--recording", default=None,
                        help="an MP4 (H.264) played, seekable, at /record (default: no recordings)")
    parser.add_argument("--keyint", type=int, default=0,
                        help="frames between key frames (default: one second, = --fps)")
    parser.add_argument("--clock", action="store_true",
                        help="burn the wall-clock time of each frame into its top rows (kandian/sim/stamp.py)"
                        " instead of videotestsrc's ball")
    args = parser.parse_args(argv)
    if not args.path.startswith("/") or "?" in args.path:
        parser.error("--path must start with / and have no query")
    for name in ("width", "height", "fps", "bitrate"):
        if getattr(args, name) <= 0:
            parser.error("--%s must be positive" % name)
    if args.keyint <= 0:
        args.keyint = args.fps
    if args.clock and (args.width < 128 or args.height < 48):
        parser.error("--clock needs a picture at least 128 x 48")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

    Gst.init(None)

    class SharedFactory(GstRtspServer.RTSPMediaFactory):
        """One pipeline for all clients, whatever mount or query they ask for."""

        def do_gen_key(self, url):
            return "camera"

    factory = SharedFactory()
    geometry = (args.width, args.height, args.fps, args.bitrate, args.keyint)
    factory.set_launch(clock_line(*geometry) if args.clock else launch_line(*geometry))
    factory.set_shared(True)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    # Not seekable. ffmpeg's PLAY carries "Range: npt=0.000-", and on a
    # seekable media (videotestsrc answers the seeking query) GStreamer 1.22
    # does a flushing seek of the *shared* pipeline for every PLAY: with
    # clients joining at once that aborts the server (gst_rtsp_media_get_rates:
    # "assertion failed: (FALSE)") or deadlocks it. This clock mode is the
    # one switch that makes the media report itself unseekable (it also adds
    # RFC 7273 "a=ts-refclk:local" and "a=mediaclk:sender" to the SDP, which
    # players ignore). A live camera cannot seek either.
    factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
    medias = []  # the prepared ones, taken to NULL at exit

    def constructed(_factory, media):
        medias.append(media)
        media.connect("unprepared", medias.remove)

    factory.connect("media-constructed", constructed)
    if args.clock:
        picture = ClockPicture(load_stamp(), args.width, args.height)

        def configure(_factory, media):
            # One feeder per prepared media (the shared one, built at the first DESCRIBE after the last
            # client left): it stops when the media is unprepared, so nothing pushes into a dead pipeline.
            source = media.get_element().get_by_name(CLOCK_SOURCE)
            feeder = Feeder(source, picture, args.fps, GLib, Gst)
            media.connect("unprepared", lambda *_: feeder.stop())
            feeder.start()

        factory.connect("media-configure", configure)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for path in {args.path, REALPLAY}:
        mounts.add_factory(path, factory)
    if args.recording:
        recording = GstRtspServer.RTSPMediaFactory()
        recording.set_launch(recording_line(args.recording))
        recording.set_shared(False)
        recording.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
        recording.connect("media-constructed", constructed)
        mounts.add_factory(RECORD, recording)

    # Fail at once, with GStreamer's own words, if an element is missing
    # (e.g. no x264enc): the server itself would only build the pipeline at
    # the first DESCRIBE and answer 503.
    try:
        Gst.parse_launch(factory.get_launch()).set_state(Gst.State.NULL)
    except GLib.Error as error:
        print("camera: cannot build the pipeline: %s" % error.message, file=sys.stderr)
        return 1

    listening = server.attach(None)
    if not listening:
        print("camera: cannot listen on %s:%d" % (args.address, args.port), file=sys.stderr)
        return 1

    loop = GLib.MainLoop()

    def stop(*_):
        loop.quit()
        return GLib.SOURCE_REMOVE

    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, stop)

    host = "[%s]" % args.address if ":" in args.address else args.address
    print("READY rtsp://%s:%d%s" % (host, server.get_bound_port(), args.path), flush=True)
    loop.run()
    # GLib gives the signals back to their default action once their sources
    # are gone: a second SIGTERM during the teardown below would kill the
    # process mid-way.  The first one already asked for the stop.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)

    # Stop listening, drop every client and session, and take every media's
    # pipeline to NULL before the interpreter goes away.
    GLib.source_remove(listening)
    server.client_filter(lambda *_: GstRtspServer.RTSPFilterResult.REMOVE, None)
    server.get_session_pool().filter(lambda *_: GstRtspServer.RTSPFilterResult.REMOVE, None)
    for media in list(medias):
        media.unprepare()
    context = GLib.MainContext.default()
    while context.pending():
        context.iteration(False)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: the interpreter's finalization would free GStreamer's
    # objects while its streaming threads may still run (a crash at exit).
    # Everything is already at NULL and every socket is closed by the kernel.
    os._exit(code)
