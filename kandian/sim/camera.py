"""The simulated camera's RTSP front (§7.5.5, §7.5.23, §10.1).

A real camera serves ``rtsp://LocalIP:RtspLocalPort/realplay?devid=…&hashtoken=…``
and, before it streams, asks the platform over its link whether the token is
good (VIDEO_PLAY_REQ 0x35, or RECORD_PLAY_REQ 0x74 for ``filename=``).  The
simulator does the same in front of a real RTSP media source (GStreamer's
RTSP server, :mod:`kandian.sim.gst_camera`): the relay code of
:mod:`kandian.rtsp.relay` with an authorizer that checks the token over the
device's link and then fetches the stream from the media source.
"""

from __future__ import annotations

from twisted.internet import defer

from kandian.rtsp.relay import Refused, RelayFactory, Upstream
from kandian.rtsp.url import parse_rtsp_url


class DeviceTokenAuthorizer:
    """Accept a request whose hashtoken the platform confirms over *link*."""

    def __init__(self, link, media_url: str):
        self.link = link
        self.media = parse_rtsp_url(media_url)
        self.media_url = media_url

    @defer.inlineCallbacks
    def authorize(self, request, peer):
        try:
            url = parse_rtsp_url(request.uri)
        except ValueError:
            raise Refused(404, "not an rtsp URL") from None
        query = url.query
        if url.path.rstrip("/") != "/realplay" or query.get("devid") != self.link.state.dev_id:
            raise Refused(404, "no such stream")
        try:
            channel_no = int(query.get("channelno", ""))
        except ValueError:
            raise Refused(404, "no such channel") from None
        token = query.get("hashtoken", "")
        if query.get("filename"):
            result = yield self.link.check_record_token(channel_no, query["filename"], token)
        else:
            try:
                stream_type = int(query.get("streamtype", ""))
            except ValueError:
                raise Refused(404, "no such stream type") from None
            result = yield self.link.check_video_token(channel_no, stream_type, token)
        if result != 0:
            raise Refused(401, "the platform refused the hashtoken (Result %d)" % (result,))
        return Upstream(self.link.state.dev_id, [(self.media.host, self.media.port, self.media_url)])

    def release(self, key: str) -> None:
        pass


def camera_front(reactor, link, media_url: str, **options) -> RelayFactory:
    """A factory serving the camera's RTSP port for *link*'s device."""
    return RelayFactory(DeviceTokenAuthorizer(link, media_url), reactor, **options)
