"""Video beyond the RTSP relay: child processes (ffmpeg), live HLS, platform recording, VOD (PRODUCT.md "Media").

Recording: :mod:`.recorder` (the scheduler and one ffmpeg per channel
recording), :mod:`.tools` (index, snapshot, MP4 of a finished piece),
:mod:`.vod` (the HLS VOD playlist of recorded pieces, sans-IO).
See docs/media.md.
"""
