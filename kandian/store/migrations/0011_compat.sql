-- 0011: the compatibility APIs (PRODUCT.md "Compatibility APIs"; spec/000, spec/001, spec/002).

-- API credentials of integrators (kandianctl apikey add NAME [--master]):
-- spec/002's unionid, spec/001's api-key.  The key is printed once; only its
-- SHA-256 is kept (a key is 168 random bits: no slow hash needed).
CREATE TABLE api_key (
    key_id     bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    key_hash   text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    master     boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- spec/002 采集端 (a gather is a kandian device): the settings that API keeps
-- per gather and kandian has no use for; a device without a row has the
-- file's defaults.  name_set is the device's own name (device.name).
CREATE TABLE cm_gather (
    dev_id     text PRIMARY KEY REFERENCES device ON DELETE CASCADE,
    main_rate  integer NOT NULL DEFAULT 1024 CHECK (main_rate >= 0),
    sub_rate   integer NOT NULL DEFAULT 512 CHECK (sub_rate >= 0),
    auto_dvr   smallint NOT NULL DEFAULT 0 CHECK (auto_dvr IN (0, 1)),
    auto_fds   smallint NOT NULL DEFAULT 1 CHECK (auto_fds IN (0, 1)),
    slice_val  smallint NOT NULL DEFAULT 0 CHECK (slice_val BETWEEN 0 AND 30),
    inter_val  smallint NOT NULL DEFAULT 0 CHECK (inter_val BETWEEN 0 AND 3),
    snap_val   integer NOT NULL DEFAULT 2 CHECK (snap_val >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- spec/002 通道 (a camera is a kandian channel): how often it was played
-- (clicks), the gather a stream-proxy channel was added under (NULL: the
-- channel's own device), and when the API last changed it.
CREATE TABLE cm_camera (
    dev_id        text NOT NULL,
    channel_no    integer NOT NULL,
    gather_dev_id text REFERENCES device ON DELETE SET NULL,
    clicks        bigint NOT NULL DEFAULT 0 CHECK (clicks >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dev_id, channel_no),
    FOREIGN KEY (dev_id, channel_no) REFERENCES channel ON DELETE CASCADE
);
CREATE INDEX cm_camera_by_gather ON cm_camera (gather_dev_id) WHERE gather_dev_id IS NOT NULL;

-- spec/002 录像 (a record is a platform recording, 0010): how often it was played.
CREATE TABLE cm_record (
    recording_id bigint PRIMARY KEY REFERENCES recording ON DELETE CASCADE,
    clicks       bigint NOT NULL DEFAULT 0 CHECK (clicks >= 0)
);
