-- 0003: secrets the platform derives its keys from (per-device FTP passwords,
-- signed portal URLs).  One row per purpose, created on first use, shared by
-- every node on the database.
CREATE TABLE platform_secret (
    name       text PRIMARY KEY,
    value      bytea NOT NULL CHECK (length(value) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
