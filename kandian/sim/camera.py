"""The simulated camera's RTSP front (§7.5.5, §7.5.23, §10.1).

A real camera serves ``rtsp://LocalIP:RtspLocalPort/realplay?devid=…&hashtoken=…``
(the play URL of :mod:`kandian.playurl`) and, before it streams, asks the
platform over its link whether the token is good (VIDEO_PLAY_REQ 0x35, or RECORD_PLAY_REQ 0x74 for ``filename=``).  The
simulator does the same in front of a real RTSP media source (GStreamer's
RTSP server, :mod:`kandian.sim.gst_camera`): the relay code of
:mod:`kandian.rtsp.relay` with an authorizer that checks the token over the
device's link and then fetches the stream from the media source.
"""

from __future__ import annotations

from twisted.internet import defer

from kandian.playurl import parse_play_url, parse_rtsp_url
from kandian.rtsp.relay import Refused, RelayFactory, Upstream


class DeviceTokenAuthorizer:
    """Accept a request whose hashtoken the platform confirms over *link*;
    a recording (``filename=``) plays from *recording_url* when given (every
    file of the simulated storage is that one clip), else from *media_url*."""

    def __init__(self, link, media_url: str, recording_url: str | None = None):
        self.link = link
        self.media = parse_rtsp_url(media_url)
        self.media_url = media_url
        self.recording_url = recording_url

    @defer.inlineCallbacks
    def authorize(self, request, peer):
        try:
            play = parse_play_url(request.uri)
        except ValueError:
            raise Refused(404, "no such stream") from None
        if play.dev_id != self.link.state.dev_id:
            raise Refused(404, "no such stream")
        if play.file_name is not None:
            result = yield self.link.check_record_token(play.channel_no, play.file_name, play.token)
        else:
            result = yield self.link.check_video_token(play.channel_no, play.stream_type, play.token)
        if result != 0:
            raise Refused(401, "the platform refused the hashtoken (Result %d)" % (result,))
        url = self.recording_url if play.file_name is not None and self.recording_url else self.media_url
        return Upstream(self.link.state.dev_id, [(self.media.host, self.media.port, url)])

    def release(self, key: str) -> None:
        pass


def camera_front(reactor, link, media_url: str, recording_url: str | None = None, **options) -> RelayFactory:
    """A factory serving the camera's RTSP port for *link*'s device."""
    return RelayFactory(DeviceTokenAuthorizer(link, media_url, recording_url), reactor, **options)
