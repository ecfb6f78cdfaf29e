-- 0014: [files] retention_days — pictures and device logs older than that go,
-- files and rows together, oldest first, a batch at a time.
CREATE INDEX IF NOT EXISTS device_file_by_age ON device_file (stored_at);
-- pictures only announced (NOTIFY_PICTURE_REQ) and never uploaded have no file row
CREATE INDEX IF NOT EXISTS picture_by_age ON picture (received_at);
