-- 0008: the portal and REST API (PRODUCT.md "Portal and REST API", §2.1, §2.2, §4).

-- Operators of the platform (kandianctl operator add NAME --password P);
-- admin steers, viewer only looks.
CREATE TABLE operator (
    operator_id   bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    password_hash text NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
    role          text NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'viewer')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Bearer tokens of the REST API and the portal's cookie sessions: only the
-- token's SHA-256 is kept; csrf is the token cookie-authenticated writes must echo.
CREATE TABLE api_token (
    token_hash  text PRIMARY KEY,
    operator_id bigint REFERENCES operator ON DELETE CASCADE,
    user_id     bigint REFERENCES app_user ON DELETE CASCADE,
    csrf        text NOT NULL,
    client_ip   inet,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    CHECK ((operator_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX api_token_expiry ON api_token (expires_at);
CREATE INDEX api_token_by_user ON api_token (user_id) WHERE user_id IS NOT NULL;

-- A share is read-only (false) or may steer the camera (true; the MCU's shares).
ALTER TABLE user_device ADD COLUMN can_control boolean NOT NULL DEFAULT true;

-- Statistics kept by the portal's periodic job: devices online over time,
-- and per day (in the platform's time zone) logins, alarms and plays.
CREATE TABLE stats_sample (
    sampled_at timestamptz PRIMARY KEY,
    devices    integer NOT NULL,
    online     integer NOT NULL,
    users      integer NOT NULL
);
CREATE TABLE stats_daily (
    day        date PRIMARY KEY,
    logins     integer NOT NULL DEFAULT 0,
    alarms     integer NOT NULL DEFAULT 0,
    plays      integer NOT NULL DEFAULT 0,
    max_online integer NOT NULL DEFAULT 0
);
