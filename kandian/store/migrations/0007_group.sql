-- 0007: the group platform (§5, §6, §9), both sides.

-- The province's side.  §6.2–§6.4: user opens, changes and cancellations
-- the group platform has not yet acknowledged (the outbox: written in the
-- transaction that changes the user, deleted once the group answered 0).
CREATE TABLE group_change (
    change_id       bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('open', 'change', 'cancel')),
    mobile          text NOT NULL,
    ipcam_num       integer CHECK (ipcam_num >= 0),          -- §6.2/§6.3 IpcamNum; NULL for a cancel
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,                             -- a sender is on it until then
    last_result     smallint,                                -- the group's Result; NULL: no answer
    last_error      text NOT NULL DEFAULT ''
);
CREATE INDEX group_change_due ON group_change (next_attempt_at);
CREATE INDEX group_change_by_mobile ON group_change (mobile, change_id);

-- §6.1: the last answer to the address report (one row), its client
-- download addresses and versions kept for §9.1 and the portal.
CREATE TABLE group_report (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    reported_at     timestamptz NOT NULL,
    result          smallint NOT NULL,
    mcu_android_url text NOT NULL DEFAULT '',
    mcu_android_ver text NOT NULL DEFAULT '',
    mcu_ios_url     text NOT NULL DEFAULT '',
    mcu_ios_ver     text NOT NULL DEFAULT '',
    mcu_win_url     text NOT NULL DEFAULT '',
    mcu_win_ver     text NOT NULL DEFAULT ''
);

-- The group platform's side ([group_role]).  Province platforms, by
-- ProvinceNo (4 digits of GB/T 2260) and CmsNo (2 digits); CmsPassword
-- kept only as its scrypt hash; McuUrl/DevUrl as last reported (§6.1).
CREATE TABLE province (
    province_no   text NOT NULL CHECK (province_no ~ '^[0-9]{4}$'),
    cms_no        text NOT NULL CHECK (cms_no ~ '^[0-9]{2}$'),
    password_hash text NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
    name          text NOT NULL DEFAULT '',                 -- §9 CmsName
    mcu_url       text NOT NULL DEFAULT '',                 -- §6.1 McuUrl, §9 CmsUrl
    dev_url       text NOT NULL DEFAULT '',                 -- §6.1 DevUrl, §5 LcmsUrl
    cms_ver       text NOT NULL DEFAULT '',
    reported_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_no, cms_no)
);

-- §6.2–§6.4: the users each province opened.
CREATE TABLE province_user (
    province_no text NOT NULL,
    cms_no      text NOT NULL,
    mobile      text NOT NULL,
    ipcam_num   integer NOT NULL CHECK (ipcam_num >= 0),
    opened_at   timestamptz NOT NULL DEFAULT now(),
    changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_no, cms_no, mobile),
    FOREIGN KEY (province_no, cms_no) REFERENCES province ON DELETE CASCADE
);

-- §5 REDIRECT_REQ stores a device the first time it asks (§6.6 step 2);
-- §6.5 DEVICE_USE_REQ gives it to a province (step 7).
CREATE TABLE group_device (
    dev_id          text PRIMARY KEY CHECK (dev_id ~ '^[0-9]{11}$'),
    dev_key         text NOT NULL CHECK (dev_key <> ''),
    manufacturer_no text NOT NULL REFERENCES manufacturer,
    model           text NOT NULL DEFAULT '',
    dev_type        smallint,
    province_no     text,
    cms_no          text,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_asked_at   timestamptz NOT NULL DEFAULT now(),
    claimed_at      timestamptz,
    FOREIGN KEY (province_no, cms_no) REFERENCES province ON DELETE SET NULL
);

-- §6.1 McuXxxUrl/Ver and §9.1 UpdateUrl: the current client of each platform.
CREATE TABLE client_release (
    platform   text PRIMARY KEY CHECK (platform IN ('android', 'ios', 'windows')),
    version    text NOT NULL,                               -- A-2.1, I-2.0, W-1.3 (§8.2's form)
    url        text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
