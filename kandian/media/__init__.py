"""The media layer (issue 16; PRODUCT.md "Media"): child processes that turn camera streams into files.

:mod:`.process` supervises one child (ffmpeg) on the reactor: started,
its output drained into the log, restarted with backoff after a crash,
stopped with SIGTERM then SIGKILL.  :mod:`.hls` packages live HLS on
demand, one packager per stream.  Every stream is pulled through the
platform's own RTSP relay with a fresh token from
:meth:`kandian.core.media.Media.source_url`, so a child never dials a
camera itself and the relay's checks (§7.5.5, §10.2, the dial policy)
apply to it as to any player.

Platform recording: :mod:`.recorder` (the scheduler and one supervised
ffmpeg per channel recording), :mod:`.tools` (index, snapshot, MP4 of a
finished piece), :mod:`.vod` (the HLS VOD playlist of recorded pieces,
sans-IO).  See docs/media.md.
"""
