-- 0001: the domain of §5–§9 of the specification (V1.6.2).
-- Tables are named after the spec's nouns; columns after its fields
-- (DevID → dev_id, ChannelNo → channel_no, ...).  Addresses that devices
-- report are kept as text exactly as reported (the link layer validates
-- them); the address taken from the socket is an inet.

-- §7.2: the manufacturer numbers; a DevID's first three digits name one.
CREATE TABLE manufacturer (
    manufacturer_no text PRIMARY KEY CHECK (manufacturer_no ~ '^[0-9]{3}$'),
    name            text NOT NULL
);

INSERT INTO manufacturer (manufacturer_no, name) VALUES
    ('811', '海康'), ('812', '大华'), ('813', '皓维'), ('814', '卡尔'),
    ('815', '海目达'), ('816', '悠克'), ('817', '视威'), ('818', '华沃'),
    ('819', '三星'), ('820', '红苹果'), ('821', '远业'), ('822', '城市无线'),
    ('823', '烽火众智'), ('824', '华迈'), ('825', '景阳'), ('826', '东方网力');

-- §7.2 REGISTER_REQ, §7.5.1 LOGIN_REQ, §7.5.2 ABILITYUP_REQ, §7.5.3 HEARTBEAT_REQ.
CREATE TABLE device (
    dev_id            text PRIMARY KEY CHECK (dev_id ~ '^[0-9]{11}$'),
    -- DevKey stays readable: §4.17 sends it back to the owner by SMS and
    -- §6.5 forwards it to the group platform.
    dev_key           text NOT NULL CHECK (dev_key <> ''),
    dev_type          smallint NOT NULL DEFAULT 1 CHECK (dev_type IN (1, 2, 3)),  -- 1 IPC, 2 DVR, 3 NVR
    model             text NOT NULL DEFAULT '',                                   -- REGISTER_REQ Mode
    manufacturer_no   text REFERENCES manufacturer,
    name              text NOT NULL DEFAULT '',
    dev_ver           text,                       -- LOGIN_REQ DevVer, e.g. V1.5_20131210
    -- LOGIN_REQ / HEARTBEAT_REQ addresses
    upnp_ip           text,
    rtsp_upnp_port    integer CHECK (rtsp_upnp_port BETWEEN 0 AND 65535),
    upnp_reachable    boolean,                    -- §15 step 2: NULL until probed
    upnp_checked_at   timestamptz,
    local_ip          text,
    rtsp_local_port   integer CHECK (rtsp_local_port BETWEEN 0 AND 65535),
    turn_relay_ip     text,
    rtsp_turn_relay_port integer CHECK (rtsp_turn_relay_port BETWEEN 0 AND 65535),
    net_type          smallint,                   -- 0 wired, 1 WIFI, 2 3G
    nat_type          smallint,                   -- 0..6, §7.5.1
    cur_video_num     integer,
    -- the link's socket: the device's public address (§8.7 LocalPlayUrl rule)
    public_ip         inet,
    public_port       integer,
    -- ABILITYUP_REQ
    channel_num       integer,
    ptz_flag          boolean NOT NULL DEFAULT false,
    estore_flag       boolean NOT NULL DEFAULT false,
    local_store_flag  smallint,                   -- 0..3, §7.5.2
    motion_detection_flag   boolean NOT NULL DEFAULT false,
    infrared_detection_flag boolean NOT NULL DEFAULT false,
    manual_alarm_flag boolean NOT NULL DEFAULT false,
    dido_alarm_flag   boolean NOT NULL DEFAULT false,
    dido_num          integer NOT NULL DEFAULT 0,
    onvif_port        integer,
    onvif_account     text,
    onvif_password    text,
    -- LOGIN_RES cloud storage (§7.5.1, §7.5.11)
    estore_url        text NOT NULL DEFAULT '',
    estore_account    text NOT NULL DEFAULT '',
    estore_password   text NOT NULL DEFAULT '',
    estore_space      bigint NOT NULL DEFAULT 0,
    estore_record_bucket  text NOT NULL DEFAULT '',
    estore_picture_bucket text NOT NULL DEFAULT '',
    -- link state
    online            boolean NOT NULL DEFAULT false,
    node              text,                       -- the node holding the link
    registered_at     timestamptz,                -- last REGISTER_REQ
    last_login_at     timestamptz,
    last_seen_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    provisioned_by    text NOT NULL DEFAULT 'operator'
                      CHECK (provisioned_by IN ('operator', 'register', 'group'))
);
CREATE INDEX device_online ON device (online) WHERE online;

-- One row per video channel (ChannelNo counts from 0, §7.5.6).
CREATE TABLE channel (
    dev_id     text NOT NULL REFERENCES device ON DELETE CASCADE,
    channel_no integer NOT NULL CHECK (channel_no >= 0),
    name       text NOT NULL DEFAULT '',          -- §8.18 SetCameraAlias
    PRIMARY KEY (dev_id, channel_no)
);

-- ABILITYUP_REQ <Video>: the stream types a device offers and their FrameSize.
CREATE TABLE video_capability (
    dev_id      text NOT NULL REFERENCES device ON DELETE CASCADE,
    stream_type smallint NOT NULL CHECK (stream_type IN (1, 2)),   -- 1 main, 2 sub
    frame_size  smallint NOT NULL,
    PRIMARY KEY (dev_id, stream_type, frame_size)
);

-- The last known parameters of a channel's stream (§7.5.6, §7.5.7).
CREATE TABLE stream_profile (
    dev_id      text NOT NULL,
    channel_no  integer NOT NULL,
    stream_type smallint NOT NULL CHECK (stream_type IN (1, 2)),
    frame_size  smallint,
    frame_rate  smallint,
    rate_type   smallint,
    bit_rate    smallint,
    audio_input smallint,
    enabled     boolean NOT NULL DEFAULT true,    -- §10.2: 403 when closed
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dev_id, channel_no, stream_type),
    FOREIGN KEY (dev_id, channel_no) REFERENCES channel ON DELETE CASCADE
);

-- §8.2 DIDOList: external switch inputs and their names.
CREATE TABLE dido (
    dev_id  text NOT NULL REFERENCES device ON DELETE CASCADE,
    dido_no integer NOT NULL CHECK (dido_no >= 0),
    name    text NOT NULL DEFAULT '',
    PRIMARY KEY (dev_id, dido_no)
);

-- §7.5.32/33 alarm switches as last set or read.
CREATE TABLE alarm_switch (
    dev_id     text NOT NULL REFERENCES device ON DELETE CASCADE,
    channel_no integer NOT NULL,
    alarm_type smallint NOT NULL CHECK (alarm_type BETWEEN 1 AND 4),
    dido_no    integer NOT NULL DEFAULT 0,
    alarm_flag smallint NOT NULL CHECK (alarm_flag IN (0, 1)),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dev_id, channel_no, alarm_type, dido_no)
);

-- §7.5.18–21: which IPC an NVR channel records.
CREATE TABLE nvr_ipcam (
    nvr_dev_id   text NOT NULL REFERENCES device ON DELETE CASCADE,
    channel_no   integer NOT NULL,
    ipcam_dev_id text NOT NULL,
    PRIMARY KEY (nvr_dev_id, channel_no)
);

-- §8: MCU/CU users; the account is the mobile number.
CREATE TABLE app_user (
    user_id       bigserial PRIMARY KEY,
    mobile        text NOT NULL UNIQUE CHECK (mobile ~ '^[0-9]{5,20}$'),
    password_hash text NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
    max_devices   integer NOT NULL DEFAULT 4 CHECK (max_devices >= 0),  -- §8.2 DevNum, §6.2 IpcamNum
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'cancelled')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    password_set_at timestamptz NOT NULL DEFAULT now()
);

-- §8.5/8.6: devices bound to users; one owner per device, any number of shares.
CREATE TABLE user_device (
    user_id    bigint NOT NULL REFERENCES app_user ON DELETE CASCADE,
    dev_id     text NOT NULL REFERENCES device ON DELETE CASCADE,
    share_flag smallint NOT NULL DEFAULT 0 CHECK (share_flag IN (0, 1)),   -- 0 own, 1 shared
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, dev_id)
);
CREATE UNIQUE INDEX user_device_one_owner ON user_device (dev_id) WHERE share_flag = 0;
CREATE INDEX user_device_by_device ON user_device (dev_id);

-- §8.2 LoginSession.
CREATE TABLE mcu_session (
    session_id   text PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES app_user ON DELETE CASCADE,
    version      text NOT NULL DEFAULT '',        -- McuLogin Version, e.g. A-1.0
    client_ip    inet,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz
);
CREATE INDEX mcu_session_by_user ON mcu_session (user_id);

-- §7.5.5 / §7.5.23 HashToken: one-time, 60 s, bound to what it plays.
CREATE TABLE hash_token (
    hash_token  text PRIMARY KEY,
    dev_id      text NOT NULL REFERENCES device ON DELETE CASCADE,
    channel_no  integer NOT NULL,
    stream_type smallint,                         -- live (§7.5.5)
    file_name   text,                             -- playback (§7.5.23)
    user_id     bigint REFERENCES app_user ON DELETE SET NULL,
    purpose     text NOT NULL DEFAULT 'client' CHECK (purpose IN ('client', 'relay')),
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    consumed_at timestamptz,
    CHECK ((stream_type IS NULL) <> (file_name IS NULL))
);
CREATE INDEX hash_token_expiry ON hash_token (expires_at);

-- §7.5.34 ALARM_NOTIFY_REQ; §8.19 pages through it.
CREATE TABLE alarm (
    alarm_id    bigserial PRIMARY KEY,
    dev_id      text NOT NULL REFERENCES device ON DELETE CASCADE,
    channel_no  integer NOT NULL,
    alarm_type  smallint NOT NULL,
    alarm_desc  text NOT NULL DEFAULT '',
    dido_no     integer,
    file_name   text NOT NULL DEFAULT '',
    alarm_time  timestamptz NOT NULL DEFAULT now(),
    notified_at timestamptz                       -- SMS/notification hook
);
CREATE INDEX alarm_by_device_time ON alarm (dev_id, alarm_time DESC);

-- §7.5.4 EXCEPTION_NOTIFY_REQ.
CREATE TABLE device_exception (
    exception_id   bigserial PRIMARY KEY,
    dev_id         text NOT NULL REFERENCES device ON DELETE CASCADE,
    channel_no     integer,
    exception_type smallint NOT NULL,
    exception_desc text NOT NULL DEFAULT '',
    received_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_exception_by_device ON device_exception (dev_id, received_at DESC);

-- §7.5.27 NOTIFY_PICTURE_REQ.
CREATE TABLE picture (
    picture_id  bigserial PRIMARY KEY,
    dev_id      text NOT NULL REFERENCES device ON DELETE CASCADE,
    channel_no  integer NOT NULL,
    file_name   text NOT NULL,
    taken_at    timestamptz,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX picture_by_device ON picture (dev_id, taken_at DESC);

-- §7.5.17 / §8.14 / §8.15: firmware the platform can push, by manufacturer and model.
CREATE TABLE firmware (
    firmware_id     bigserial PRIMARY KEY,
    manufacturer_no text NOT NULL REFERENCES manufacturer,
    model           text NOT NULL,
    dev_ver         text NOT NULL,                -- NewDevVer
    file_name       text NOT NULL,                -- UPGRADE_REQ FtpFileName
    file_size       bigint,
    sha256          text,
    released_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (manufacturer_no, model, dev_ver)
);
