-- 0010: platform recording (PRODUCT.md "Media"; spec 002 §3.14–§3.17 "courses").

-- Weekly windows of a channel in the platform's time zone: weekday 0 Sunday
-- … 6 Saturday, start in seconds after midnight, duration in seconds; a
-- window never passes 23:59:59 (spec 002: no task across midnight).  No
-- overlap within a channel and weekday: checked under the channel's
-- advisory lock (kandian.store.recordings).
CREATE TABLE recording_schedule (
    schedule_id  bigserial PRIMARY KEY,
    dev_id       text NOT NULL REFERENCES device ON DELETE CASCADE,
    channel_no   integer NOT NULL CHECK (channel_no BETWEEN 0 AND 255),
    weekday      smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_second integer NOT NULL CHECK (start_second BETWEEN 0 AND 86399),
    duration     integer NOT NULL CHECK (duration > 0 AND start_second + duration <= 86399),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX recording_schedule_by_channel ON recording_schedule (dev_id, channel_no, weekday, start_second);

-- One piece of a recording: a file under [files] root (path relative to it)
-- written by the node that recorded it.  Pieces of one uninterrupted run of
-- the recorder share run_id (the first piece's id) and follow each other by
-- seq.  complete is false while the file is written; segments are the byte
-- ranges of its key frames ([[offset, length, seconds], …]) for HLS VOD,
-- snapshot the path of its JPEG.  A row marked deleting is invisible: its
-- files are being removed, then the row (the retention job finishes any a
-- crash left).  No foreign key to device: a deleted device's recordings stay
-- until retention or an operator deletes them, files and rows together.
CREATE TABLE recording (
    recording_id bigserial PRIMARY KEY,
    run_id       bigint NOT NULL,
    seq          integer NOT NULL CHECK (seq >= 0),
    node         text NOT NULL,
    dev_id       text NOT NULL,
    channel_no   integer NOT NULL,
    stream_type  smallint NOT NULL,
    schedule_id  bigint REFERENCES recording_schedule ON DELETE SET NULL,
    path         text NOT NULL,
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    duration     double precision NOT NULL DEFAULT 0,
    size         bigint NOT NULL DEFAULT 0,
    complete     boolean NOT NULL DEFAULT false,
    segments     jsonb,
    snapshot     text,
    deleting     boolean NOT NULL DEFAULT false,
    UNIQUE (run_id, seq)
);
CREATE INDEX recording_by_channel ON recording (dev_id, channel_no, started_at);
CREATE INDEX recording_by_time ON recording (started_at);
CREATE INDEX recording_unfinished ON recording (node) WHERE NOT complete OR deleting;
