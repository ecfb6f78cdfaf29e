"""Tests for the RTSP codec, kandian.rtsp.message (spec §10, §15; RFC 2326).

The ffmpeg and GStreamer vectors were captured byte for byte on the loopback
between ``ffmpeg -rtsp_transport tcp`` (Lavf59.27.100), GStreamer's rtspsrc
1.22 and GStreamer's RTSP server (kandian/sim/gst_camera.py); the live555
response follows live555's ``RTSPServer::handleCmd_DESCRIBE``; the §15
samples are the spec's, without its ``//`` comments.
"""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kandian.playurl import RTSP_PORT, parse_rtsp_url, strict_query
from kandian.rtsp.message import (
    MAX_INTERLEAVED,
    REASONS,
    BadMessage,
    BadVersion,
    Event,
    Headers,
    Interleaved,
    InterleavedRun,
    MessageTooLarge,
    Request,
    Response,
    RTSPDecoder,
    RTSPError,
    reason_phrase,
    scan_interleaved,
)
from kandian.rtsp.transport import TransportSpec, format_transport, offers_tcp_interleaved, parse_transport
from kandian.rtsp.url import rebase_url, replace_base
from tests.strategies import (
    chunked,
    mutated,
    rtsp_events,
    rtsp_interleaved,
    rtsp_requests,
    rtsp_responses,
)


def wire(events: list[Event]) -> bytes:
    return b"".join(event.to_bytes() for event in events)


def feed_all(decoder: RTSPDecoder, chunks: list[bytes]) -> list[Event]:
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def decode(data: bytes, **kwargs: int) -> list[Event]:
    decoder = RTSPDecoder(**kwargs)
    events = decoder.feed(data)
    assert decoder.buffered == 0, decoder.buffered
    return events


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def outcome(decoder: RTSPDecoder, chunks: list[bytes]) -> tuple[list[Event], type | None]:
    """Every event handed out, and the class of the error that ended decoding."""
    events: list[Event] = []
    for chunk in chunks:
        try:
            events += decoder.feed(chunk)
        except RTSPError as e:
            return events + e.events, type(e)
    return events, None


def _split(sent: list[Event]) -> st.SearchStrategy[tuple[list[Event], list[bytes]]]:
    return st.tuples(st.just(sent), chunked(wire(sent)))


split_streams = st.lists(rtsp_events, min_size=1, max_size=6).flatmap(_split)
mutated_streams = st.lists(rtsp_events, min_size=1, max_size=4).flatmap(lambda sent: mutated(wire(sent)))


# --------------------------------------------------------------------------- vectors

URL = "rtsp://127.0.0.1:18555/realplay?devid=1&channelno=0&streamtype=2&hashtoken=abc"

# ffmpeg (Lavf59.27.100) → GStreamer RTSP server, RTP over TCP.
FFMPEG_REQUESTS = [
    b"OPTIONS rtsp://127.0.0.1:18555/realplay?devid=1&channelno=0&streamtype=2&hashtoken=abc RTSP/1.0\r\n"
    b"CSeq: 1\r\nUser-Agent: Lavf59.27.100\r\n\r\n",
    b"DESCRIBE rtsp://127.0.0.1:18555/realplay?devid=1&channelno=0&streamtype=2&hashtoken=abc RTSP/1.0\r\n"
    b"Accept: application/sdp\r\nCSeq: 2\r\nUser-Agent: Lavf59.27.100\r\n\r\n",
    b"SETUP rtsp://127.0.0.1:18555/realplay/stream=0 RTSP/1.0\r\n"
    b"Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nCSeq: 3\r\nUser-Agent: Lavf59.27.100\r\n\r\n",
    b"PLAY rtsp://127.0.0.1:18555/realplay/ RTSP/1.0\r\n"
    b"Range: npt=0.000-\r\nCSeq: 4\r\nUser-Agent: Lavf59.27.100\r\nSession: Gyc3pxoJhTmnPOKM\r\n\r\n",
    b"TEARDOWN rtsp://127.0.0.1:18555/realplay/ RTSP/1.0\r\n"
    b"CSeq: 5\r\nUser-Agent: Lavf59.27.100\r\nSession: Gyc3pxoJhTmnPOKM\r\n\r\n",
]
GST_SDP = (
    b"v=0\r\no=- 16150519229964737887 1 IN IP4 127.0.0.1\r\ns=Session streamed with GStreamer\r\n"
    b"i=rtsp-server\r\nt=0 0\r\na=tool:GStreamer\r\na=type:broadcast\r\na=control:*\r\n"
    b"a=range:npt=now-\r\nm=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\nb=AS:2048\r\n"
    b"a=rtpmap:96 H264/90000\r\na=framerate:25\r\na=fmtp:96 packetization-mode=1;"
    b"sprop-parameter-sets=Z0LAHtoCgL/lwFqDAwNSgAAAAwCAAAAZcTAAehIAD0JySQA8WLqA,aM48gA==;"
    b"profile-level-id=42c01e;level-asymmetry-allowed=1\r\na=control:stream=0\r\n"
    b"a=ts-refclk:local\r\na=mediaclk:sender\r\na=ssrc:1359608261 cname:user928221525@host-6f85cc38\r\n"
)
GST_RESPONSES = [
    b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, ANNOUNCE, GET_PARAMETER, PAUSE, PLAY, "
    b"RECORD, SETUP, SET_PARAMETER, TEARDOWN\r\nServer: GStreamer RTSP server\r\n"
    b"Date: Mon, 23 Nov 2026 15:28:18 GMT\r\n\r\n",
    b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n"
    b"Content-Base: rtsp://127.0.0.1:18555/realplay/\r\nServer: GStreamer RTSP server\r\n"
    b"Date: Mon, 23 Nov 2026 15:28:18 GMT\r\nContent-Length: 541\r\n\r\n" + GST_SDP,
    b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=5109F9C5;"
    b'mode="PLAY"\r\nServer: GStreamer RTSP server\r\nSession: Gyc3pxoJhTmnPOKM\r\n'
    b"Date: Mon, 23 Nov 2026 15:28:18 GMT\r\n\r\n",
    b"RTSP/1.0 200 OK\r\nCSeq: 4\r\nRTP-Info: url=rtsp://127.0.0.1:18555/realplay/stream=0;seq=17315;"
    b"rtptime=3644819275\r\nRange: npt=now-\r\nServer: GStreamer RTSP server\r\n"
    b"Session: Gyc3pxoJhTmnPOKM\r\nDate: Mon, 23 Nov 2026 15:28:18 GMT\r\n\r\n",
    b"RTSP/1.0 200 OK\r\nCSeq: 5\r\nServer: GStreamer RTSP server\r\nSession: Gyc3pxoJhTmnPOKM\r\n"
    b"Connection: close\r\nDate: Mon, 23 Nov 2026 15:28:19 GMT\r\n\r\n",
]
# The first TCP segments after the PLAY response: an RTP packet (18 bytes),
# SPS and PPS (two frames in one segment), SEI — as GStreamer sent them.
GST_MEDIA = [
    b"$\x00\x00\x0e\x80`C\xa3\xd9?\x87KQ\t\xf9\xc5\t\x10",
    b"$\x00\x003\x80`C\xa4\xd9?\x87KQ\t\xf9\xc5gB\xc0\x1e\xda\x02\x80\xbf\xe5\xc0Z\x83\x03\x03R\x80\x00"
    b"\x00\x03\x00\x80\x00\x00\x19q0\x00z\x12\x00\x0fBrI\x00<X\xba\x80"
    b"$\x00\x00\x10\x80`C\xa5\xd9?\x87KQ\t\xf9\xc5h\xce<\x80",
    b"$\x00\x00\x15\x80`C\xa6\xd9?\x87KQ\t\xf9\xc5\x06\x00\x05\x93\xc6pFS\x80",
]
# GStreamer's rtspsrc sends User-Agent twice.
GST_CLIENT_OPTIONS = (
    b"OPTIONS rtsp://127.0.0.1:18556/realplay?devid=1&channelno=0&streamtype=2&hashtoken=abc RTSP/1.0\r\n"
    b"CSeq: 1\r\nUser-Agent: GStreamer/1.22.0\r\n"
    b"User-Agent: RealMedia Player Version 6.0.9.1235 (linux-2.0-libc6-i386-gcc2.95)\r\n"
    b"ClientChallenge: 9e26d33f2984236010ef6253fb1887f7\r\nCompanyID: KnKV4M4I/B2FjJ1TToLycw==\r\n"
    b"GUID: 00000000-0000-0000-0000-000000000000\r\nRegionData: 0\r\n"
    b"PlayerStarttime: [28/03/2003:22:50:23 00:00]\r\nClientID: Linux_2.4_6.0.9.1235_play32_RN01_EN_586\r\n"
    b"Date: Mon, 23 Nov 2026 15:28:30 GMT\r\n\r\n"
)

LIVE555_BASE = "rtsp://192.168.1.64:554/realplay?devid=88&channelno=1&streamtype=1&hashtoken=0a1b"
LIVE555_SDP = (
    b"v=0\r\no=- 1331091981424364 1 IN IP4 192.168.1.64\r\n"
    b"s=H.264 Video, streamed by the LIVE555 Media Server\r\ni=realplay\r\nt=0 0\r\n"
    b"a=tool:LIVE555 Streaming Media v2011.05.25\r\na=type:broadcast\r\na=control:*\r\n"
    b"a=range:npt=0-\r\na=x-qt-text-nam:H.264 Video, streamed by the LIVE555 Media Server\r\n"
    b"a=x-qt-text-inf:realplay\r\nm=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\nb=AS:500\r\n"
    b"a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=4D401F;"
    b"sprop-parameter-sets=Z01AH5WgLASabAQ=,aO48gA==\r\na=control:track1\r\n"
)
LIVE555_DESCRIBE = (
    b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nDate: Wed, Mar 07 2012 03:48:18 GMT\r\n"
    b"Content-Base: " + LIVE555_BASE.encode() + b"/\r\n"
    b"Content-Type: application/sdp\r\nContent-Length: 500\r\n\r\n" + LIVE555_SDP
)

# Spec §15 step 1 (the "//请求 TCP 协议传输 RTP 数据包" comment left out).
SPEC_SETUP = (
    b"SETUP rtsp://localIP:localPort/realplay?devid=xxx&channelno=xxx&streamtype=xxx&hashtoken=xxx RTSP/1.0\r\n"
    b"CSeq: 4\r\n"
    b"User-Agent: LibVLC/1.1.11 (LIVE555 Streaming Media v2011.05.25)\r\n"
    b"Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
)
SPEC_SETUP_REPLY = (
    b"RTSP/1.0 200 OK\r\nCSeq: 4\r\nDate: Wed, Mar 07 2012 03:48:18 GMT\r\n"
    b"Transport: RTP/AVP/TCP;unicast;destination=125.216.243.188;source=222.201.145.236;interleaved=0-1\r\n\r\n"
)
# Spec §15 step 3 (RTP over UDP), its odd "Cseq" spelling kept and the reply's
# wrapped Transport line written as a folded header.
SPEC_UDP_SETUP = (
    b"SETUP rtsp://turnRelayIP:turnRelayPort/realplay?devid=xxx&channelno=xxx&streamtype=xxx&hashtoken=xxx"
    b" RTSP/1.0\r\nUser-Agent: LibVLC/1.1.11 (LIVE555 Streaming Media v2011.05.25)\r\nCseq: 3\r\n"
    b"Transport: RTP/AVP;UNICAST;destination=114.23.72.118;client_port=16264-16265;mode=play\r\n\r\n"
)
SPEC_UDP_REPLY = (
    b"RTSP/1.0 200 OK\r\nCseq: 3\r\nSession: 26633092229589\r\nDate: Mon, 03 Aug 2009 08:21:33 GMT\r\n"
    b"Expires: Mon, 03 Aug 2009 08:21:33 GMT\r\n"
    b"Transport: RTP/AVP;UNICAST;mode=play;                source=129.240.65.208;\r\n"
    b"        server_port=20026-20027; destination=114.23.72.118;client_port=16264-16265\r\n\r\n"
)


# --------------------------------------------------------------------------- tests


class HeadersTests(SynchronousTestCase):
    def test_case_insensitive_and_ordered(self) -> None:
        headers = Headers([("CSeq", "1"), ("User-Agent", "a"), ("user-agent", "b")])
        self.assertEqual(headers.get("cseq"), "1")
        self.assertEqual(headers.get_all("USER-AGENT"), ["a", "b"])
        self.assertIsNone(headers.get("Session"))
        self.assertEqual(headers.get("Session", "x"), "x")
        self.assertIn("Cseq", headers)
        self.assertNotIn("Session", headers)
        self.assertEqual(len(headers), 3)
        self.assertEqual(list(headers), [("CSeq", "1"), ("User-Agent", "a"), ("user-agent", "b")])

    def test_set_keeps_first_place_and_spelling(self) -> None:
        headers = Headers([("cseq", "1"), ("User-Agent", "a"), ("CSEQ", "2")])
        headers.set("CSeq", 7)
        self.assertEqual(headers.items(), [("cseq", "7"), ("User-Agent", "a")])
        headers.set("Session", "s")
        self.assertEqual(headers.items()[-1], ("Session", "s"))

    def test_add_remove(self) -> None:
        headers = Headers({"A": "1"})
        headers.add("a", " 2\t")
        self.assertEqual(headers.get_all("A"), ["1", "2"])
        self.assertEqual(headers.remove("A"), 2)
        self.assertEqual(headers.remove("A"), 0)
        self.assertEqual(len(headers), 0)

    def test_equality_is_exact(self) -> None:
        self.assertEqual(Headers([("A", "1"), ("B", "2")]), Headers([("A", "1"), ("B", "2")]))
        self.assertNotEqual(Headers([("A", "1"), ("B", "2")]), Headers([("B", "2"), ("A", "1")]))
        self.assertNotEqual(Headers([("A", "1")]), Headers([("a", "1")]))

    def test_copy_is_independent(self) -> None:
        headers = Headers([("A", "1")])
        copy = headers.copy()
        copy.add("B", "2")
        self.assertEqual(len(headers), 1)

    def test_invalid(self) -> None:
        for name, value in [("Bad Name", "x"), ("", "x"), ("A:B", "x"), ("A", "x\r\ny: z"), ("A", "x\n"),
                            ("A", "\ud800")]:
            self.assertRaises(ValueError, Headers, [(name, value)])
        self.assertRaises(TypeError, Headers, [("A", b"x")])


class EncodeTests(SynchronousTestCase):
    def test_request_layout(self) -> None:
        request = Request("OPTIONS", "*", [("CSeq", "1")])
        self.assertEqual(request.to_bytes(), b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")

    def test_content_length_from_body(self) -> None:
        """Set from the body, in place of a wrong one (spelling and place kept)."""
        response = Response(200, "OK", [("CSeq", "2"), ("content-length", "99"), ("X", "y")], b"v=0\r\n")
        self.assertEqual(
            response.to_bytes(), b"RTSP/1.0 200 OK\r\nCSeq: 2\r\ncontent-length: 5\r\nX: y\r\n\r\nv=0\r\n"
        )
        self.assertEqual(response.headers.get("Content-Length"), "99")  # the message is untouched
        appended = Request("ANNOUNCE", "rtsp://h/a", [("CSeq", "3")], b"abc").to_bytes()
        self.assertTrue(appended.endswith(b"CSeq: 3\r\nContent-Length: 3\r\n\r\nabc"))

    def test_no_body_no_content_length(self) -> None:
        self.assertNotIn(b"Content-Length", Response(200, "OK", [("CSeq", "1")]).to_bytes())
        given = Response(200, "OK", [("CSeq", "1"), ("Content-Length", "12")]).to_bytes()
        self.assertEqual(given, b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 0\r\n\r\n")

    def test_interleaved_layout(self) -> None:
        self.assertEqual(Interleaved(1, b"\x80\x00").to_bytes(), b"$\x01\x00\x02\x80\x00")
        frame = Interleaved(255, b"x" * MAX_INTERLEAVED)
        self.assertEqual(frame.to_bytes()[:4], b"$\xff\xff\xff")
        self.assertEqual(decode(frame.to_bytes()), [frame])

    def test_invalid_messages_cannot_be_built(self) -> None:
        for build in [
            lambda: Interleaved(256, b""),
            lambda: Interleaved(-1, b""),
            lambda: Interleaved(0, b"x" * (MAX_INTERLEAVED + 1)),
            lambda: Request("BAD METHOD", "*", ()),
            lambda: Request("$X", "*", ()),
            lambda: Request("PLAY", "", ()),
            lambda: Request("PLAY", "a b", ()),
            lambda: Request("PLAY", "a\r\nX: y", ()),
            lambda: Response(99, "x", ()),
            lambda: Response(200, "OK\r\n", ()),
            lambda: Response(200, "OK", (), version="HTTP/1.1"),
        ]:
            self.assertRaises(ValueError, build)
        self.assertRaises(ValueError, Interleaved, True, b"")
        self.assertRaises(TypeError, Interleaved, 1, "text")
        self.assertRaises(TypeError, Request, "PLAY", "*", (), "body")

    def test_cseq_and_session(self) -> None:
        request = Request("PLAY", "*", [("cseq", " 12 "), ("Session", "ABC;timeout=60")])
        self.assertEqual(request.cseq, 12)
        self.assertEqual(request.session_id, "ABC")
        self.assertIsNone(Request("PLAY", "*", [("CSeq", "x1")]).cseq)
        self.assertIsNone(Response(200, "OK", ()).cseq)

    def test_for_request(self) -> None:
        request = Request("PLAY", "*", [("cseq", "4"), ("User-Agent", "u"), ("Session", "S1")])
        response = Response.for_request(request, 454, headers=[("Server", "kandian")])
        self.assertEqual(
            response.to_bytes(),
            b"RTSP/1.0 454 Session Not Found\r\nCSeq: 4\r\nSession: S1\r\nServer: kandian\r\n\r\n",
        )
        self.assertEqual(Response.for_request(request, 200, "Fine").reason, "Fine")
        self.assertEqual(Response.for_request(None, 400).to_bytes(), b"RTSP/1.0 400 Bad Request\r\n\r\n")

    def test_reason_phrases(self) -> None:
        """The codes the relay answers (§10.2 and RFC 2326 §7.1.1)."""
        for code, reason in [(200, "OK"), (301, "Moved Permanently"), (302, "Moved Temporarily"),
                             (400, "Bad Request"), (401, "Unauthorized"), (403, "Forbidden"),
                             (404, "Not Found"), (405, "Method Not Allowed"), (406, "Not Acceptable"),
                             (451, "Parameter Not Understood"), (453, "Not Enough Bandwidth"),
                             (454, "Session Not Found"), (455, "Method Not Valid in This State"),
                             (457, "Invalid Range"), (459, "Aggregate Operation Not Allowed"),
                             (461, "Unsupported Transport"), (500, "Internal Server Error"),
                             (501, "Not Implemented"), (503, "Service Unavailable"),
                             (505, "RTSP Version Not Supported"), (551, "Option Not Supported")]:
            self.assertEqual(REASONS[code], reason)
            self.assertEqual(reason_phrase(code), reason)
        self.assertEqual(reason_phrase(499), "Client Error")


class RoundTripTests(SynchronousTestCase):
    @given(rtsp_requests())
    @settings(max_examples=60)
    def test_requests(self, request: Request) -> None:
        self.assertEqual(decode(request.to_bytes()), [request])

    @given(rtsp_responses())
    @settings(max_examples=60)
    def test_responses(self, response: Response) -> None:
        self.assertEqual(decode(response.to_bytes()), [response])

    @given(st.lists(rtsp_interleaved(max_data=300), min_size=1, max_size=8))
    @settings(max_examples=40)
    def test_interleaved(self, frames: list[Interleaved]) -> None:
        self.assertEqual(decode(wire(frames)), frames)

    @given(split_streams)
    @settings(max_examples=80)
    def test_any_chunking(self, case: tuple[list[Event], list[bytes]]) -> None:
        """Whatever the TCP segmentation, the same events come out."""
        sent, chunks = case
        decoder = RTSPDecoder()
        self.assertEqual(feed_all(decoder, chunks), sent)
        self.assertEqual(decoder.buffered, 0)

    @given(split_streams)
    @settings(max_examples=60)
    def test_coalescing_keeps_bytes_and_order(self, case: tuple[list[Event], list[bytes]]) -> None:
        """Runs of frames carry the same bytes, in order, as the frames one by one."""
        sent, chunks = case
        events = feed_all(RTSPDecoder(coalesce_interleaved=True), chunks)
        self.assertEqual(wire(events), wire(sent))
        frames = [frame for event in events if isinstance(event, InterleavedRun) for frame in event.split()]
        self.assertEqual(frames, [event for event in sent if isinstance(event, Interleaved)])
        self.assertEqual(
            [event for event in events if not isinstance(event, InterleavedRun)],
            [event for event in sent if not isinstance(event, Interleaved)],
        )
        for event in events:
            if isinstance(event, InterleavedRun):
                self.assertEqual(event.frames, len(event.split()))

    @given(st.binary(max_size=300), st.integers(1, 64))
    @settings(max_examples=100)
    def test_random_bytes(self, data: bytes, step: int) -> None:
        """Random input yields events or RTSPError, never anything else."""
        decoder = RTSPDecoder(max_header_bytes=128, max_body_bytes=64)
        try:
            feed_all(decoder, [data[i : i + step] for i in range(0, len(data), step)])
        except RTSPError:
            pass

    @given(mutated_streams, st.integers(1, 40))
    @settings(max_examples=100)
    def test_mutated_streams(self, data: bytes, step: int) -> None:
        """Damaged streams: only RTSPError; whatever decodes can be written
        out again; and the outcome does not depend on the chunking."""
        whole = outcome(RTSPDecoder(), [data])
        pieces = outcome(RTSPDecoder(), [data[i : i + step] for i in range(0, len(data), step)])
        self.assertEqual(pieces, whole)
        for event in whole[0]:
            event.to_bytes()


class RealWorldTests(SynchronousTestCase):
    def test_ffmpeg_client(self) -> None:
        """ffmpeg's OPTIONS, DESCRIBE, SETUP (TCP interleaved), PLAY, TEARDOWN."""
        events = decode(b"".join(FFMPEG_REQUESTS))
        self.assertEqual([e.method for e in events], ["OPTIONS", "DESCRIBE", "SETUP", "PLAY", "TEARDOWN"])
        self.assertEqual([e.cseq for e in events], [1, 2, 3, 4, 5])
        self.assertEqual(events[0].uri, URL)
        self.assertEqual(events[1].headers.get("accept"), "application/sdp")
        self.assertTrue(offers_tcp_interleaved(events[2].headers.get("Transport")))
        self.assertEqual(events[3].headers.get("Range"), "npt=0.000-")
        self.assertEqual(events[4].session_id, "Gyc3pxoJhTmnPOKM")
        self.assertEqual([e.to_bytes() for e in events], FFMPEG_REQUESTS)  # written out unchanged

    def test_gstreamer_server(self) -> None:
        """GStreamer's answers, then media, then the TEARDOWN answer between frames."""
        stream = b"".join(GST_RESPONSES[:4]) + b"".join(GST_MEDIA) + GST_RESPONSES[4]
        for chunks in ([stream], bytewise(stream)):
            events = feed_all(RTSPDecoder(), chunks)
            self.assertEqual([type(e).__name__ for e in events], ["Response"] * 4 + ["Interleaved"] * 4 + ["Response"])
            describe = events[1]
            self.assertEqual(describe.body, GST_SDP)
            self.assertEqual(describe.headers.get("Content-Base"), "rtsp://127.0.0.1:18555/realplay/")
            self.assertEqual(events[4], Interleaved(0, GST_MEDIA[0][4:]))
            self.assertEqual([len(e.data) for e in events[4:8]], [14, 51, 16, 21])
            self.assertEqual(events[8].cseq, 5)
            self.assertEqual(wire(events), stream)
        runs = RTSPDecoder(coalesce_interleaved=True).feed(stream)
        self.assertEqual(runs[4], InterleavedRun(b"".join(GST_MEDIA), 4))
        self.assertEqual(len(runs), 6)

    def test_gstreamer_setup_transport(self) -> None:
        (setup,) = decode(GST_RESPONSES[2])
        (spec,) = parse_transport(setup.headers.get("Transport"))
        self.assertEqual((spec.protocol, spec.lower_transport, spec.cast), ("RTP/AVP/TCP", "TCP", "unicast"))
        self.assertEqual(spec.interleaved, (0, 1))
        self.assertEqual(spec.get("ssrc"), "5109F9C5")
        self.assertEqual(spec.mode, "PLAY")
        self.assertTrue(spec.is_tcp_interleaved)
        self.assertEqual(str(spec), 'RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=5109F9C5;mode="PLAY"')
        self.assertEqual(setup.session_id, "Gyc3pxoJhTmnPOKM")

    def test_gstreamer_client_repeats_user_agent(self) -> None:
        (options,) = decode(GST_CLIENT_OPTIONS)
        self.assertEqual(len(options.headers.get_all("user-agent")), 2)
        self.assertEqual(options.headers.get("User-Agent"), "GStreamer/1.22.0")
        self.assertEqual(options.to_bytes(), GST_CLIENT_OPTIONS)

    def test_live555_describe(self) -> None:
        """Content-Base is the request URL plus '/': a relay rewrites it and the SDP."""
        (describe,) = decode(LIVE555_DESCRIBE)
        self.assertEqual(describe.body, LIVE555_SDP)
        self.assertEqual(describe.headers.get("Content-Type"), "application/sdp")
        base = describe.headers.get("Content-Base")
        self.assertEqual(base, LIVE555_BASE + "/")
        public = "rtsp://relay.example:8554/realplay?devid=88&channelno=1&streamtype=1&hashtoken=ffee"
        self.assertEqual(replace_base(base, LIVE555_BASE, public), public + "/")
        track = parse_rtsp_url(base + "track1")
        self.assertEqual((track.host, track.port, track.path), ("192.168.1.64", 554, "/realplay"))
        self.assertEqual(track.query["hashtoken"], "0a1b")
        self.assertEqual(track.suffix, "/track1")
        self.assertEqual(rebase_url(public + "/track1", public, LIVE555_BASE), LIVE555_BASE + "/track1")

    def test_spec_setup(self) -> None:
        """§15 steps 1, 2, 4: SETUP asking for RTP interleaved over TCP, and the answer."""
        (setup,) = decode(SPEC_SETUP)
        self.assertEqual((setup.method, setup.cseq), ("SETUP", 4))
        self.assertEqual(setup.headers.get("User-Agent"), "LibVLC/1.1.11 (LIVE555 Streaming Media v2011.05.25)")
        self.assertTrue(offers_tcp_interleaved(setup.headers.get("Transport")))
        (reply,) = decode(SPEC_SETUP_REPLY)
        (spec,) = parse_transport(reply.headers.get("transport"))
        self.assertEqual((spec.interleaved, spec.get("destination"), spec.get("source")),
                         ((0, 1), "125.216.243.188", "222.201.145.236"))

    def test_spec_udp_setup(self) -> None:
        """§15 step 3: RTP over UDP, 'Cseq', upper-case UNICAST, a folded Transport."""
        (setup,) = decode(SPEC_UDP_SETUP)
        self.assertEqual(setup.cseq, 3)
        (spec,) = parse_transport(setup.headers.get("Transport"))
        self.assertFalse(spec.is_tcp_interleaved)
        self.assertEqual((spec.lower_transport, spec.cast, spec.client_port, spec.mode),
                         ("UDP", "unicast", (16264, 16265), "PLAY"))
        (reply,) = decode(SPEC_UDP_REPLY)
        self.assertEqual(reply.session_id, "26633092229589")
        (spec,) = parse_transport(reply.headers.get("Transport"))
        self.assertEqual(spec.server_port, (20026, 20027))
        self.assertEqual(spec.get("destination"), "114.23.72.118")

    def test_lf_only(self) -> None:
        """Some cameras end lines with a bare LF."""
        stream = (
            b"RTSP/1.0 200 OK\nCSeq: 1\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\n\n"
            b"RTSP/1.0 200 OK\nCSeq: 2\nContent-Length: 4\n\nv=0\n"
            b"$\x01\x00\x01\x81"
            b"RTSP/1.0 200 OK\r\nCSeq: 3\n\r\n"
        )
        for chunks in ([stream], bytewise(stream)):
            events = feed_all(RTSPDecoder(), chunks)
            self.assertEqual([e.cseq for e in events if isinstance(e, Response)], [1, 2, 3])
            self.assertEqual(events[1].body, b"v=0\n")
            self.assertEqual(events[2], Interleaved(1, b"\x81"))

    def test_blank_lines_between_messages(self) -> None:
        events = decode(b"\r\n" + FFMPEG_REQUESTS[0] + b"\r\n\r\n" + FFMPEG_REQUESTS[1])
        self.assertEqual([e.cseq for e in events], [1, 2])

    def test_lenient_header_lines(self) -> None:
        (response,) = decode(b"RTSP/1.0 200 OK\r\nCSeq : 7\r\nX-Folded: a\r\n\tb\r\n \r\nEmpty:\r\n\r\n")
        self.assertEqual(response.headers.items(), [("CSeq", "7"), ("X-Folded", "a b"), ("Empty", "")])
        (response,) = decode(b"RTSP/1.0 404\r\n\r\n")
        self.assertEqual((response.code, response.reason), (404, ""))

    def test_any_byte_survives(self) -> None:
        """Header bytes that are not UTF-8 come out as they came in."""
        raw = b"DESCRIBE rtsp://h/\xe9t\xe9 RTSP/1.0\r\nCSeq: 1\r\nX-Name: \xff\xfe caf\xc3\xa9\r\n\r\n"
        (request,) = decode(raw)
        self.assertEqual(request.headers.get("X-Name")[-4:], "café")
        self.assertEqual(request.to_bytes(), raw)


class LimitTests(SynchronousTestCase):
    def test_header_too_large(self) -> None:
        data = b"DESCRIBE rtsp://h/ RTSP/1.0\r\n" + b"X-Pad: " + b"a" * 300 + b"\r\n\r\n"
        for chunks in ([data], bytewise(data)):
            decoder = RTSPDecoder(max_header_bytes=256)
            self.assertRaises(MessageTooLarge, feed_all, decoder, chunks)
        self.assertEqual(len(decode(data, max_header_bytes=len(data))), 1)
        self.assertRaises(MessageTooLarge, RTSPDecoder(max_header_bytes=len(data) - 1).feed, data)

    def test_unterminated_header(self) -> None:
        decoder = RTSPDecoder(max_header_bytes=64)
        self.assertEqual(decoder.feed(b"OPTIONS * RTSP/1.0\r\n" + b"A: b\r\n" * 7), [])
        self.assertRaises(MessageTooLarge, decoder.feed, b"A: b\r\n")

    def test_body_too_large(self) -> None:
        data = Response(200, "OK", [("CSeq", "2")], b"x" * 101).to_bytes()
        self.assertRaises(MessageTooLarge, RTSPDecoder(max_body_bytes=100).feed, data)
        head = data[: data.index(b"\r\n\r\n") + 4]
        self.assertRaises(MessageTooLarge, RTSPDecoder(max_body_bytes=100).feed, head)  # before the body
        self.assertEqual(len(decode(data, max_body_bytes=101)), 1)
        huge = b"RTSP/1.0 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n"
        self.assertRaises(MessageTooLarge, RTSPDecoder(max_header_bytes=8192).feed, huge)

    def test_http_request_is_bad_version(self) -> None:
        """An HTTP request: BadVersion, with what a 505 answer needs."""
        data = b"GET /realplay HTTP/1.1\r\nHost: relay\r\nCSeq: 9\r\n\r\n"
        with self.assertRaises(BadVersion) as caught:
            RTSPDecoder().feed(data)
        error = caught.exception
        self.assertIsInstance(error, BadMessage)
        self.assertEqual((error.version, error.method, error.uri, error.cseq), ("HTTP/1.1", "GET", "/realplay", 9))
        self.assertEqual(
            Response.for_request(error, 505).to_bytes(), b"RTSP/1.0 505 RTSP Version Not Supported\r\nCSeq: 9\r\n\r\n"
        )
        self.assertRaises(BadVersion, RTSPDecoder().feed, b"OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n")

    def test_http_response_is_bad_message(self) -> None:
        with self.assertRaises(BadMessage) as caught:
            RTSPDecoder().feed(b"HTTP/1.1 200 OK\r\n")
        self.assertNotIsInstance(caught.exception, BadVersion)
        self.assertEqual(caught.exception.version, "HTTP/1.1")

    def test_garbage(self) -> None:
        for data in [
            b"\x00\x01\x02",  # not even a token: seen at once
            b"hello\r\n",
            b"PLAY\r\n",
            b"PLAY * RTSP/1.0 extra\r\n",
            b"RTSP/1.0 2000 OK\r\n",
            b"RTSP/1.0 abc OK\r\n",
            b"PL@Y * RTSP/1.0\r\n",
            b"OPTIONS * RTSP/1.0\r\nno colon here\r\n\r\n",
            b"OPTIONS * RTSP/1.0\r\n continuation first\r\n\r\n",
            b"OPTIONS * RTSP/1.0\r\nBad Name: x\r\n\r\n",
            b"OPTIONS * RTSP/1.0\r\nX: a\rb\r\n\r\n",
            b"OPTIONS * RTSP/1.0\r\nContent-Length: -1\r\n\r\n",
            b"OPTIONS * RTSP/1.0\r\nContent-Length: 1, 2\r\n\r\n",
            b"OPTIONS * RTSP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ]:
            self.assertRaises(BadMessage, RTSPDecoder().feed, data)
            self.assertRaises(BadMessage, feed_all, RTSPDecoder(), bytewise(data))

    def test_same_content_length_twice(self) -> None:
        (request,) = decode(b"ANNOUNCE * RTSP/1.0\r\nContent-Length: 2\r\ncontent-length: 02\r\n\r\nab")
        self.assertEqual(request.body, b"ab")

    def test_error_is_sticky_and_keeps_earlier_events(self) -> None:
        decoder = RTSPDecoder()
        frame = Interleaved(0, b"rtp")
        with self.assertRaises(BadMessage) as caught:
            decoder.feed(FFMPEG_REQUESTS[0] + frame.to_bytes() + b"\x00junk")
        self.assertEqual([type(e) for e in caught.exception.events], [Request, Interleaved])
        self.assertIs(decoder.error, caught.exception)
        with self.assertRaises(BadMessage) as again:
            decoder.feed(FFMPEG_REQUESTS[1])
        self.assertIs(again.exception, caught.exception)
        self.assertEqual(again.exception.events, [])

    def test_waits_for_body_and_frames(self) -> None:
        data = GST_RESPONSES[1]
        decoder = RTSPDecoder()
        self.assertEqual(decoder.feed(data[:-10]), [])
        self.assertEqual(decoder.buffered, len(data) - 10)
        self.assertEqual(decoder.feed(data[-10:-1]), [])
        self.assertEqual(len(decoder.feed(data[-1:])), 1)
        self.assertEqual(decoder.buffered, 0)
        for end in range(len(GST_MEDIA[0])):
            self.assertEqual(RTSPDecoder().feed(GST_MEDIA[0][:end]), [])
        self.assertEqual(RTSPDecoder(coalesce_interleaved=True).feed(GST_MEDIA[0][:-1]), [])

    def test_decoder_limits(self) -> None:
        self.assertRaises(ValueError, RTSPDecoder, max_header_bytes=0)
        self.assertRaises(ValueError, RTSPDecoder, max_body_bytes=-1)


class ScanTests(SynchronousTestCase):
    def test_scan(self) -> None:
        media = b"".join(GST_MEDIA)
        self.assertEqual(scan_interleaved(media), (len(media), 4))
        self.assertEqual(scan_interleaved(media + b"RTSP/1.0"), (len(media), 4))
        self.assertEqual(scan_interleaved(media[:-1]), (len(media) - len(GST_MEDIA[-1]), 3))
        self.assertEqual(scan_interleaved(bytearray(b"xx" + media), 2), (2 + len(media), 4))
        self.assertEqual(scan_interleaved(memoryview(media), len(media)), (len(media), 0))
        self.assertEqual(scan_interleaved(b"$\x00\x00"), (0, 0))

    @given(st.lists(rtsp_interleaved(), max_size=6), st.binary(max_size=8))
    @settings(max_examples=50)
    def test_scan_frames(self, frames: list[Interleaved], tail: bytes) -> None:
        data = wire(frames)
        end, count = scan_interleaved(data + tail)
        self.assertGreaterEqual(end, len(data))
        self.assertGreaterEqual(count, len(frames))
        if not tail.startswith(b"$"):
            self.assertEqual((end, count), (len(data), len(frames)))


def _media_and_messages(items: list[bytes | Event]) -> list[bytes | Event]:
    """Media bytes (runs, frames, fast-path runs) merged where they follow each other; messages as they are."""
    out: list[bytes | Event] = []
    for item in items:
        if isinstance(item, (Interleaved, InterleavedRun)):
            item = item.to_bytes()
        if isinstance(item, bytes):
            if not item:
                continue
            if out and isinstance(out[-1], bytes):
                out[-1] += item
                continue
        out.append(item)
    return out


def _takewhile_frames(sent: list[Event]):
    for event in sent:
        if not isinstance(event, Interleaved):
            return
        yield event


def _held_media(decoder: RTSPDecoder, chunks: list[bytes]) -> bytes:
    """The start of a frame that *decoder* holds at the end of *chunks* (``b""`` if it holds none)."""
    data = b"".join(chunks)
    tail = data[len(data) - decoder.buffered:] if decoder.buffered else b""
    return tail if tail.startswith(b"$") else b""


def _outcome_fast(decoder: RTSPDecoder, chunks: list[bytes]) -> tuple[list[bytes | Event], type | None]:
    """What feed_media hands out (and, at the end, a frame's start it holds)."""
    got: list[bytes | Event] = []
    for chunk in chunks:
        try:
            run, events = decoder.feed_media(chunk)
        except RTSPError as e:
            return _media_and_messages([*got, e.media, *e.events]), type(e)
        got += [run, *events]
    return _media_and_messages([*got, _held_media(decoder, chunks)]), None


def _outcome_full(chunks: list[bytes]) -> tuple[list[bytes | Event], type | None]:
    """What feed hands out (and, at the end, a frame's start it holds)."""
    decoder = RTSPDecoder(coalesce_interleaved=True)
    events, error = outcome(decoder, chunks)
    return _media_and_messages([*events, _held_media(decoder, chunks) if error is None else b""]), error


media_streams = st.lists(
    st.one_of(rtsp_interleaved(max_data=1500), rtsp_interleaved(max_data=3), rtsp_requests(), rtsp_responses()),
    min_size=1, max_size=12,
).flatmap(_split)


@st.composite
def _equal_runs(draw: st.DrawFn) -> tuple[list[Event], list[bytes]]:
    """Runs of frames of one size (a camera's MTU-sized packets), other frames and messages between."""
    sent: list[Event] = []
    for _ in range(draw(st.integers(1, 4))):
        size = draw(st.integers(0, 40))
        count = draw(st.integers(1, 12))
        sent += [Interleaved(draw(st.integers(0, 3)), draw(st.binary(min_size=size, max_size=size)))
                 for _ in range(count)]
        sent += draw(st.lists(st.one_of(rtsp_interleaved(max_data=40), rtsp_responses()), max_size=2))
    return sent, draw(chunked(wire(sent)))


class FastPathTests(SynchronousTestCase):
    """RTSPDecoder.feed_media, the relay's media path: the same bytes and messages as feed."""

    @given(media_streams)
    @settings(max_examples=150)
    def test_any_chunking_as_feed(self, case: tuple[list[Event], list[bytes]]) -> None:
        sent, chunks = case
        decoder = RTSPDecoder(coalesce_interleaved=True, max_body_bytes=1 << 20)
        got = _outcome_fast(decoder, chunks)
        self.assertEqual(got, (_media_and_messages(sent), None))
        self.assertEqual(decoder.buffered, 0)

    @given(_equal_runs())
    @settings(max_examples=150)
    def test_equal_size_runs(self, case: tuple[list[Event], list[bytes]]) -> None:
        sent, chunks = case
        self.assertEqual(_outcome_fast(RTSPDecoder(coalesce_interleaved=True), chunks),
                         (_media_and_messages(sent), None))
        self.assertEqual(_outcome_full(chunks), (_media_and_messages(sent), None))
        data = b"".join(chunks)
        end, frames = scan_interleaved(data)
        self.assertEqual(frames, sum(1 for _ in _takewhile_frames(sent)))

    @given(_equal_runs(), st.integers(0, 10_000), st.integers(1, 255))
    @settings(max_examples=150)
    def test_equal_size_runs_damaged(self, case: tuple[list[Event], list[bytes]], where: int, flip: int) -> None:
        """A header broken inside a run of equal frames is found as feed finds it."""
        data = bytearray(b"".join(case[1]))
        data[where % len(data)] ^= flip
        chunks = [bytes(data[i : i + 97]) for i in range(0, len(data), 97)]
        self.assertEqual(_outcome_fast(RTSPDecoder(coalesce_interleaved=True), chunks), _outcome_full(chunks))

    @given(split_streams)
    @settings(max_examples=80)
    def test_mixed_with_feed(self, case: tuple[list[Event], list[bytes]]) -> None:
        """Calls of feed and feed_media on one decoder, feed whenever no frame is under way, keep the stream whole."""
        sent, chunks = case
        decoder = RTSPDecoder(coalesce_interleaved=True)
        got: list[bytes | Event] = []
        for i, chunk in enumerate(chunks):
            if i % 2 and not decoder.frame_left:
                got += decoder.feed(chunk)
            else:
                run, events = decoder.feed_media(chunk)
                got += [run, *events]
        self.assertEqual(_media_and_messages(got), _media_and_messages(sent))

    def test_feed_inside_a_frame_is_a_bug(self) -> None:
        decoder = RTSPDecoder(coalesce_interleaved=True)
        decoder.feed_media(GST_MEDIA[0][:6])
        self.assertEqual(decoder.frame_left, len(GST_MEDIA[0]) - 6)
        self.assertRaises(RuntimeError, decoder.feed, GST_MEDIA[0][6:])

    @given(mutated_streams, st.integers(1, 40))
    @settings(max_examples=150)
    def test_damaged_streams_as_feed(self, data: bytes, step: int) -> None:
        """Damaged streams: what comes out before the error, and the error, as with feed."""
        chunks = [data[i : i + step] for i in range(0, len(data), step)]
        self.assertEqual(_outcome_fast(RTSPDecoder(coalesce_interleaved=True), chunks), _outcome_full(chunks))

    @given(media_streams)
    @settings(max_examples=150)
    def test_frame_left_points_at_the_next_boundary(self, case: tuple[list[Event], list[bytes]]) -> None:
        """After each read, the media handed out plus frame_left ends on a frame boundary."""
        sent, chunks = case
        boundaries, offset = {0}, 0
        for event in sent:
            if isinstance(event, Interleaved):
                offset += len(event.to_bytes())
                boundaries.add(offset)
        decoder = RTSPDecoder(coalesce_interleaved=True, max_body_bytes=1 << 20)
        handed = 0
        for chunk in chunks:
            run, events = decoder.feed_media(chunk)
            handed += len(run) + sum(len(e.data) for e in events if isinstance(e, InterleavedRun))
            self.assertIn(handed + decoder.frame_left, boundaries)
            if decoder.frame_left:
                self.assertEqual(events, [])  # a frame under way is the end of the read
        self.assertEqual((handed, decoder.frame_left), (offset, 0))

    def test_media_reads_are_passed_unchanged(self) -> None:
        """A read of media only is handed back as it is, wherever its frames begin and end."""
        media = b"".join(GST_MEDIA) * 3
        decoder = RTSPDecoder(coalesce_interleaved=True)
        run, events = decoder.feed_media(media)
        self.assertIs(run, media)
        self.assertEqual(events, [])
        first = len(GST_MEDIA[0])
        for cut in (first + 5, first + len(GST_MEDIA[1]) - 1, len(media)):  # inside frames, then the end
            piece = media[first:cut]
            run, events = decoder.feed_media(piece)
            self.assertIs(run, piece)
            self.assertEqual((events, decoder.buffered), ([], 0))
            first = cut
        self.assertEqual(decoder.frame_left, 0)

    def test_a_cut_header_is_held(self) -> None:
        """A read that ends inside a frame header: those 1-3 bytes wait for the rest of the header."""
        frames = [Interleaved(0, b"a" * 14), Interleaved(1, b"b" * 51), Interleaved(0, b"c" * 8)]
        media = wire(frames)
        cut = 18 + 3
        decoder = RTSPDecoder(coalesce_interleaved=True)
        self.assertEqual(decoder.feed_media(media[:cut]), (media[:18], []))
        self.assertEqual((decoder.buffered, decoder.frame_left), (3, 0))
        self.assertEqual(decoder.feed_media(media[cut:cut + 10]), (media[18:cut + 10], []))
        self.assertEqual(decoder.frame_left, 55 - 13)
        self.assertEqual(decoder.feed_media(media[cut + 10:]), (media[cut + 10:], []))
        self.assertEqual((decoder.buffered, decoder.frame_left), (0, 0))

    def test_message_between_frames(self) -> None:
        media = b"".join(GST_MEDIA)
        stream = media + GST_RESPONSES[4] + media
        decoder = RTSPDecoder(coalesce_interleaved=True)
        run, events = decoder.feed_media(stream[:-3])
        self.assertEqual(run, media)
        self.assertEqual([type(e).__name__ for e in events], ["Response", "InterleavedRun"])
        self.assertEqual(events[0].cseq, 5)
        self.assertEqual(decoder.feed_media(stream[-3:]), (GST_MEDIA[-1], []))

    def test_a_message_after_part_of_a_frame(self) -> None:
        """A read that ends a frame passed on in part, then a message: the run is the frame's end."""
        media = b"".join(GST_MEDIA)
        stream = media + GST_RESPONSES[4]
        decoder = RTSPDecoder(coalesce_interleaved=True)
        self.assertEqual(decoder.feed_media(stream[:10]), (stream[:10], []))
        run, events = decoder.feed_media(stream[10:])
        self.assertEqual(run, media[10:])
        self.assertEqual([e.cseq for e in events], [5])

    def test_an_error_carries_the_media_before_it(self) -> None:
        media = b"".join(GST_MEDIA)
        decoder = RTSPDecoder(coalesce_interleaved=True)
        decoder.feed_media(media[:10])
        with self.assertRaises(RTSPError) as caught:
            decoder.feed_media(media[10:] + b"\x00garbage\r\n\r\n")
        self.assertEqual((caught.exception.media, caught.exception.events), (media[10:], []))
        with self.assertRaises(RTSPError) as again:
            decoder.feed_media(media)
        self.assertEqual(again.exception.media, b"")


class URLTests(SynchronousTestCase):
    def test_spec_url(self) -> None:
        url = parse_rtsp_url(URL)
        self.assertEqual(url, ("127.0.0.1", 18555, "/realplay",
                               {"devid": "1", "channelno": "0", "streamtype": "2", "hashtoken": "abc"},
                               "devid=1&channelno=0&streamtype=2&hashtoken=abc", ""))

    def test_track_suffixes(self) -> None:
        """Controls appended after the query (ffmpeg, live555, VLC) come out as the suffix."""
        for suffix in ["/trackID=1", "/streamid=0", "/", "/track1"]:
            url = parse_rtsp_url(URL + suffix)
            self.assertEqual(url.query["hashtoken"], "abc")
            self.assertEqual(url.raw_query, "devid=1&channelno=0&streamtype=2&hashtoken=abc")
            self.assertEqual(url.suffix, suffix)

    def test_forms(self) -> None:
        self.assertEqual(parse_rtsp_url("rtsp://Cam.Example/realplay?devid=1").port, RTSP_PORT)
        self.assertEqual(parse_rtsp_url("rtsp://cam.example").path, "/")
        self.assertEqual(parse_rtsp_url("RTSP://user:pw@[::1]:8554/a?x=%2Fy&x=2&flag").query, {"x": "/y", "flag": ""})
        self.assertEqual(parse_rtsp_url("rtsp://[::1]:8554/a").host, "::1")
        self.assertEqual(parse_rtsp_url("rtsps://h/a").port, 322)
        gst = parse_rtsp_url("rtsp://h:8554/realplay/stream=0?devid=1&hashtoken=abc")
        self.assertEqual((gst.path, gst.query["hashtoken"], gst.suffix), ("/realplay/stream=0", "abc", ""))
        for bad in ["http://h/a", "rtsp://", "rtsp://h:0/a", "rtsp://h:99999/", "rtsp://h:x/", "rtsp://[::1/a"]:
            self.assertRaises(ValueError, parse_rtsp_url, bad)

    def test_replace_base(self) -> None:
        old = "rtsp://10.0.0.5:554/realplay?devid=1&hashtoken=abc"
        new = "rtsp://relay:8554/realplay?devid=1&hashtoken=fff"
        self.assertEqual(replace_base(old, old, new), new)
        self.assertEqual(replace_base(old + "/", old, new), new + "/")
        self.assertEqual(
            replace_base(f"url={old}/trackID=1;seq=1;rtptime=2,url={old}/trackID=2;seq=3", old, new),
            f"url={new}/trackID=1;seq=1;rtptime=2,url={new}/trackID=2;seq=3",
        )
        sdp = f"a=control:{old}/trackID=1\r\na=control:{old}d/trackID=2\r\na=control:{old}&x=1\r\n"
        self.assertEqual(
            replace_base(sdp, old, new), f"a=control:{new}/trackID=1\r\na=control:{old}d/trackID=2\r\na=control:{old}&x=1\r\n"
        )
        self.assertEqual(replace_base("rtsp://h/live2 rtsp://h/live", "rtsp://h/live", "X"), "rtsp://h/live2 X")
        self.assertEqual(replace_base("rtsp://h/live?a=1", "rtsp://h/live", "rtsp://r/x"), "rtsp://r/x?a=1")
        self.assertEqual(replace_base("rtsp://h/live/track1", "rtsp://h/live/", "rtsp://r/"), "rtsp://r/track1")

    @given(st.text(max_size=40).filter(lambda t: "rtsp" not in t), st.text(max_size=40).filter(lambda t: "rtsp" not in t))
    @settings(max_examples=50)
    def test_replace_base_only_touches_the_base(self, before: str, after: str) -> None:
        old, new = "rtsp://cam/live", "rtsp://relay/x"
        text = f"{before}{old};{after} {old}x {old}/track1 {old}"
        self.assertEqual(replace_base(text, old, new), f"{before}{new};{after} {old}x {new}/track1 {new}")

    def test_rebase_url(self) -> None:
        client = "rtsp://relay:8554/realplay?devid=1&hashtoken=T1"
        camera = "rtsp://10.0.0.5/realplay?devid=1&hashtoken=T2"
        self.assertEqual(rebase_url(client, client, camera), camera)
        self.assertEqual(rebase_url(client + "/", client, camera), camera + "/")
        self.assertEqual(rebase_url(client + "/trackID=1", client, camera), camera + "/trackID=1")
        # GStreamer puts the control before the query.
        self.assertEqual(
            rebase_url("rtsp://relay:8554/realplay/stream=0?devid=1&hashtoken=T1", client, camera),
            "rtsp://10.0.0.5/realplay/stream=0?devid=1&hashtoken=T2",
        )
        self.assertIsNone(rebase_url(client + "9", client, camera))
        self.assertIsNone(rebase_url("rtsp://elsewhere/realplay", client, camera))
        self.assertEqual(rebase_url("rtsp://relay:8554/realplay/stream=0", "rtsp://relay:8554/realplay/",
                                    "rtsp://cam/realplay/"), "rtsp://cam/realplay/stream=0")


class StrictQueryTests(SynchronousTestCase):
    """strict_query: what a play URL's query may carry to the store."""

    def test_bad_queries(self):
        for raw in ["devid=%00", "devid=%ff", "devid=%e4%b8", "devid=%zz", "devid=%4", "devid=1&devid=2",
                    "a=%0d%0a", "a=" + "x" * 257]:
            with self.assertRaises(ValueError, msg=raw):
                strict_query(raw)

    def test_good_query(self):
        self.assertEqual(strict_query("devid=81100000001&filename=%E5%BD%95%20a.mp4&&flag"),
                         {"devid": "81100000001", "filename": "录 a.mp4", "flag": ""})

    @given(st.dictionaries(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8),
                           st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=16), max_size=5))
    @settings(max_examples=200)
    def test_property_printable_parameters_round_trip(self, params):
        params = {k: v for k, v in params.items() if k.isprintable() and v.isprintable()}
        raw = "&".join("%s=%s" % (quote(k, safe=""), quote(v, safe="")) for k, v in params.items())
        self.assertEqual(strict_query(raw), params)

    @given(st.text(max_size=60))
    @settings(max_examples=300)
    def test_property_any_text_is_parameters_or_value_error(self, raw):
        try:
            query = strict_query(raw)
        except ValueError:
            return
        self.assertTrue(all((k + v).isprintable() for k, v in query.items()))


class TransportTests(SynchronousTestCase):
    def test_several_specs(self) -> None:
        specs = parse_transport(
            'RTP/AVP/TCP;unicast;interleaved=2-3, RTP/AVP;multicast;ttl=127;port=5000-5001;mode="PLAY,RECORD",'
            "RTP/AVP/UDP;unicast;client_port=5000"
        )
        self.assertEqual([s.lower_transport for s in specs], ["TCP", "UDP", "UDP"])
        self.assertEqual([s.cast for s in specs], ["unicast", "multicast", "unicast"])
        self.assertEqual(specs[0].interleaved, (2, 3))
        self.assertEqual((specs[1].port, specs[1].get("ttl"), specs[1].mode), ((5000, 5001), "127", "PLAY,RECORD"))
        self.assertEqual(specs[2].client_port, (5000, 5000))
        self.assertTrue(offers_tcp_interleaved(specs))
        self.assertFalse(offers_tcp_interleaved(specs[1:]))
        self.assertEqual(parse_transport(format_transport(specs)), specs)

    def test_tcp_without_channels(self) -> None:
        (spec,) = parse_transport("RTP/AVP/TCP;unicast")
        self.assertTrue(spec.is_tcp_interleaved)
        self.assertIsNone(spec.interleaved)

    def test_bad(self) -> None:
        for bad in ["", " , ", "RTP", ";unicast", "RTP/AVP/TCP;interleaved=a-b", "RTP/AVP/TCP;interleaved=0-256",
                    "RTP/AVP;client_port=5001-5000", "RTP/AVP;client_port=70000"]:
            self.assertRaises(ValueError, parse_transport, bad)
        self.assertRaises(ValueError, TransportSpec, "RTP/AVP", (("interleaved", "x"),))
