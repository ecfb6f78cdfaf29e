-- 0004: what devices upload by FTP (§7.5.27 pictures, §7.5.35 logs), their
-- FTP passwords' rotation, and the link from an alarm to its picture.

-- The FTP password is derived from the DevID and this counter (core.keys);
-- `kandianctl device rotate-ftp` moves it on, and the old password stops working.
ALTER TABLE device ADD COLUMN ftp_generation integer NOT NULL DEFAULT 0 CHECK (ftp_generation >= 0);

-- Every file a device uploaded that is on disk under [files] root, by area
-- (root/<area>/<dev_id>/<file_name>): the per-device quota is their sum.
CREATE TABLE device_file (
    dev_id    text NOT NULL REFERENCES device ON DELETE CASCADE,
    area      text NOT NULL CHECK (area IN ('pictures', 'logs')),
    file_name text NOT NULL CHECK (file_name <> ''),
    size      bigint NOT NULL CHECK (size >= 0),
    sha256    text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    stored_at timestamptz NOT NULL,
    PRIMARY KEY (dev_id, area, file_name)
);

-- A picture is known by its name, from its upload or from NOTIFY_PICTURE_REQ,
-- whichever comes first (received_at); one row per name.
DELETE FROM picture a USING picture b
    WHERE a.dev_id = b.dev_id AND a.file_name = b.file_name AND a.picture_id < b.picture_id;
CREATE UNIQUE INDEX picture_by_name ON picture (dev_id, file_name);
ALTER TABLE picture ADD COLUMN notified_at timestamptz;
CREATE INDEX picture_by_channel_time ON picture (dev_id, channel_no, received_at);

-- The picture of an alarm (§7.5.34: the device snaps one with each alarm).
ALTER TABLE alarm ADD COLUMN picture_id bigint REFERENCES picture ON DELETE SET NULL;
