-- 0012: what the device-cloud video API of spec/001 ([onenet]) keeps beyond
-- kandian's own columns: a device's description, tags, location and the
-- salt of its device API key; a channel's description; pictures and objects
-- stored through the API; whether an alarm was read.

-- A device as the API describes it (spec/001 §1).  Its title is device.name,
-- its auth_info the DevKey (kept here as given: a string or an object).
CREATE TABLE device_profile (
    dev_id      text PRIMARY KEY REFERENCES device ON DELETE CASCADE,
    description text NOT NULL DEFAULT '',
    private     boolean NOT NULL DEFAULT false,
    protocol    text NOT NULL DEFAULT 'RTMP',
    tags        text[] NOT NULL DEFAULT '{}',
    location    jsonb,                            -- {"ele", "lat", "lon"}
    area        text,
    auth_info   jsonb,                            -- as given; the DevKey is its text
    other       jsonb,
    url         text,
    sn          text UNIQUE,                      -- §1.2: one of sn and mac names a device
    mac         text UNIQUE,
    -- the device API key is derived from the platform secret, the DevID and
    -- this salt (core.devicekeys): a new device of the same DevID gets a new key
    key_salt    text NOT NULL CHECK (key_salt ~ '^[0-9a-f]{32}$'),
    created_via text NOT NULL DEFAULT 'api' CHECK (created_via IN ('api', 'register_code', 'lazy'))
);
CREATE INDEX device_profile_tags ON device_profile USING gin (tags);

-- §1.1 without a DevID: the platform numbers the device <prefix><8 digits>.
CREATE SEQUENCE api_device_seq MINVALUE 1 MAXVALUE 99999999 NO CYCLE;

-- §2: a channel's description (its title is channel.name).
ALTER TABLE channel ADD COLUMN description text NOT NULL DEFAULT '';

-- §5: pictures uploaded through the API (or snapped by the platform), by
-- device, channel and name; the file is root/api-pictures/<DevID>/<ChannelNo>/<name>.<format>.
CREATE TABLE api_picture (
    dev_id      text NOT NULL,
    channel_no  integer NOT NULL,
    name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
    format      text NOT NULL CHECK (format IN ('jpg', 'png')),
    size        bigint NOT NULL CHECK (size >= 0),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (dev_id, channel_no, name),
    FOREIGN KEY (dev_id, channel_no) REFERENCES channel ON DELETE CASCADE
);
CREATE INDEX api_picture_by_time ON api_picture (dev_id, channel_no, created_at);

-- §16: the product's public object store, root/api-objects/<name>.
CREATE TABLE api_object (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$'),
    size        bigint NOT NULL CHECK (size >= 0),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL
);

-- §17: an alarm is unread until read through the API.
ALTER TABLE alarm ADD COLUMN read_at timestamptz;
CREATE INDEX alarm_unread ON alarm (dev_id, channel_no) WHERE read_at IS NULL;

-- §6.4: a recording's name as the API renamed it (recordings are the
-- recorder's pieces, by id; a piece without a row here has its default name).
CREATE TABLE api_video (
    recording_id bigint PRIMARY KEY,
    dev_id       text NOT NULL REFERENCES device ON DELETE CASCADE,
    channel_no   integer NOT NULL,
    name         text NOT NULL CHECK (name <> '')
);
CREATE INDEX api_video_by_name ON api_video (dev_id, channel_no, name);
