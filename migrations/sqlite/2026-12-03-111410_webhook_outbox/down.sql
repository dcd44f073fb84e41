ALTER TABLE video_files DROP COLUMN announced_at;
ALTER TABLE videos DROP COLUMN callback_url;
DROP TABLE webhook_deliveries;
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- No foreign key: a delivery outlives a deleted video.
    video_uuid TEXT,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (delivered_at, next_attempt_at);
