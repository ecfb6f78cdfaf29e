-- 0002: §8.1 GetSmsPassword is rate-limited per mobile number.
CREATE TABLE sms_request (
    mobile       text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_request_by_mobile ON sms_request (mobile, requested_at DESC);
