-- 0005: firmware upgrade campaigns (§7.5.17, §7.5.4 ExceptionType 11) and
-- device logs (§7.5.35).  The firmware catalogue itself is 0001's table
-- firmware; its image lives under [files] root/firmware/<firmware_id>/<file_name>.

-- One campaign pushes one catalogued firmware to a set of devices, at most
-- batch_size of them in flight at a time; it pauses itself once more than
-- max_failures devices failed after being sent the upgrade (counted from
-- failure_base, the failures already there when it was last resumed).
CREATE TABLE upgrade_campaign (
    campaign_id  bigserial PRIMARY KEY,
    firmware_id  bigint NOT NULL REFERENCES firmware,
    state        text NOT NULL DEFAULT 'running'
                 CHECK (state IN ('running', 'paused', 'finished', 'cancelled')),
    batch_size   integer NOT NULL CHECK (batch_size > 0),
    max_failures integer NOT NULL CHECK (max_failures >= 0),
    failure_base integer NOT NULL DEFAULT 0 CHECK (failure_base >= 0),
    reason       text NOT NULL DEFAULT '',        -- why it paused, was cancelled
    origin       text NOT NULL DEFAULT 'operator' CHECK (origin IN ('operator', 'app')),  -- app: §8.15
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    finished_at  timestamptz
);
CREATE INDEX upgrade_campaign_open ON upgrade_campaign (campaign_id) WHERE state IN ('running', 'paused');

-- Each device of a campaign: pending → sent (UPGRADE_REQ) → downloaded (FTP
-- RETR complete) → done (logged in again with the target DevVer) | failed.
CREATE TABLE upgrade_target (
    campaign_id   bigint NOT NULL REFERENCES upgrade_campaign ON DELETE CASCADE,
    dev_id        text NOT NULL REFERENCES device ON DELETE CASCADE,
    state         text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'sent', 'downloaded', 'done', 'failed')),
    reason        text NOT NULL DEFAULT '',
    from_ver      text,                          -- DevVer when UPGRADE_REQ was sent
    sent_at       timestamptz,
    downloaded_at timestamptz,
    finished_at   timestamptz,
    PRIMARY KEY (campaign_id, dev_id),
    CHECK (state = 'pending' OR state IN ('done', 'failed') OR sent_at IS NOT NULL)
);
-- a device has one upgrade in flight at most, whatever the campaign
CREATE UNIQUE INDEX upgrade_target_in_flight ON upgrade_target (dev_id) WHERE state IN ('sent', 'downloaded');
CREATE INDEX upgrade_target_pending ON upgrade_target (campaign_id, dev_id) WHERE state = 'pending';
CREATE INDEX upgrade_target_by_device ON upgrade_target (dev_id);

-- kandianctl device logs: a request the daemon holding the device's link
-- turns into LOG_UPLOAD_REQ.
CREATE TABLE device_log_request (
    request_id   bigserial PRIMARY KEY,
    dev_id       text NOT NULL REFERENCES device ON DELETE CASCADE,
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'sending', 'sent', 'refused', 'expired')),
    reason       text NOT NULL DEFAULT '',
    node         text,                           -- the node that took it
    requested_at timestamptz NOT NULL,
    handled_at   timestamptz
);
CREATE INDEX device_log_request_open ON device_log_request (requested_at) WHERE state IN ('pending', 'sending');

-- Log files a device uploaded (FTP root/logs/<DevID>/<file_name>); a new
-- upload of the same name replaces the row, as it replaced the file.
CREATE TABLE device_log (
    dev_id      text NOT NULL REFERENCES device ON DELETE CASCADE,
    file_name   text NOT NULL,
    size        bigint NOT NULL CHECK (size >= 0),
    sha256      text NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (dev_id, file_name)
);
