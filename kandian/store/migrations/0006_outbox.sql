-- 0006: the durable SMS outbox (§2.6, §8.1, §7.5.34, §4.17; PRODUCT.md "SMS").
-- A message is committed here before any attempt to send it; senders claim
-- rows with FOR UPDATE SKIP LOCKED.  States (docs/operations.md, "[sms]"):
--   queued     waiting for its next attempt (next_attempt_at)
--   sending    claimed by the node in claimed_by until claimed_until
--   submitted  the gateway acknowledged every part (sms_part holds the MsgIDs)
--   delivered  every part's status report said DELIVRD            (final)
--   failed     the gateway refused it, or a report said so (reason) (final)
--   expired    its validity passed before it was submitted, or a report said EXPIRED (final)
CREATE TABLE sms_outbox (
    message_id      bigserial PRIMARY KEY,
    mobile          text NOT NULL CHECK (mobile ~ '^[0-9]{5,21}$'),
    body            text NOT NULL,                -- emptied once submitted when display is set
    display         text,                         -- what operators see when body holds a secret
    kind            text NOT NULL CHECK (kind IN ('message', 'password', 'devkey', 'alarm')),
    dev_id          text,                         -- alarm and devkey messages: the device
    alarm_id        bigint REFERENCES alarm ON DELETE SET NULL,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'submitted', 'delivered', 'failed', 'expired')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    valid_until     timestamptz NOT NULL,
    claimed_by      text,
    claimed_until   timestamptz,
    reason          text NOT NULL DEFAULT '',     -- the last failure, or why it ended failed/expired
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    submitted_at    timestamptz,
    finished_at     timestamptz
);
CREATE INDEX sms_outbox_due ON sms_outbox (next_attempt_at, message_id) WHERE status = 'queued';
CREATE INDEX sms_outbox_claimed ON sms_outbox (claimed_by, claimed_until) WHERE status = 'sending';
CREATE INDEX sms_outbox_by_status ON sms_outbox (status, message_id DESC);
CREATE INDEX sms_outbox_finished ON sms_outbox (finished_at) WHERE finished_at IS NOT NULL;

-- When a device last had a message of a kind that is limited per device
-- (alarm SMS: [sms] alarm_sms_interval; DevKeys: once a minute).
CREATE TABLE sms_device_slot (
    dev_id  text NOT NULL,
    kind    text NOT NULL,
    last_at timestamptz NOT NULL,
    PRIMARY KEY (dev_id, kind)
);

-- One row per part the gateway acknowledged: its MsgID (Submit_Resp) is what
-- a status report (Deliver with IsReport 1) names.
CREATE TABLE sms_part (
    msg_id     text PRIMARY KEY,
    message_id bigint NOT NULL REFERENCES sms_outbox ON DELETE CASCADE,
    part_no    smallint NOT NULL
);
CREATE INDEX sms_part_of_message ON sms_part (message_id);

-- Status reports as received; a report may arrive before its Submit_Resp is
-- recorded (or on another node), so it is kept by MsgID and matched either way.
CREATE TABLE sms_report (
    msg_id      text PRIMARY KEY,
    stat        text NOT NULL,
    err         text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL
);
CREATE INDEX sms_report_received ON sms_report (received_at);

-- Alarm SMS may be switched off per user (kandianctl user set MOBILE --alarm-sms off).
-- §8.1: a password sent by SMS is pending until first used; the old one works until then.
ALTER TABLE app_user
    ADD COLUMN alarm_sms boolean NOT NULL DEFAULT true,
    ADD COLUMN pending_password_hash text CHECK (pending_password_hash LIKE 'scrypt$%');
