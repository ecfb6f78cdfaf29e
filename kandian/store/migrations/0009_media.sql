-- Stream proxy channels (issue 16; PRODUCT.md "Media"): a virtual device
-- whose one channel (ChannelNo 0, StreamType 1) is fed by an external RTSP
-- URL.  The device row is an ordinary one (DevID 990 + 8 digits from the
-- sequence), so bindings, the relay, live HLS and recording treat it as a
-- camera; this table says where its video comes from.
CREATE SEQUENCE stream_proxy_number;

CREATE TABLE stream_proxy (
    dev_id      text PRIMARY KEY REFERENCES device ON DELETE CASCADE,
    url         text NOT NULL CHECK (url ~ '^rtsp://'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
