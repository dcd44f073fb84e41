-- The webhook outbox. The initial table was never written by any release, so it is
-- replaced rather than altered. One row per (event, target): written in the same
-- transaction as the state change that causes the event, then delivered (and retried)
-- by the delivery workers of any instance. Keep in lock-step with migrations/sqlite.
DROP TABLE webhook_deliveries;

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The event's id (Standard Webhooks `webhook-id`): the same for every target and
    -- every attempt, so receivers can deduplicate.
    event_id TEXT NOT NULL,
    -- The event type, e.g. video.published.
    event TEXT NOT NULL,
    -- No foreign key: a delivery outlives a deleted video.
    video_uuid TEXT,
    -- The [[webhooks.endpoints]] name, or '' for the video's own callbackUrl.
    endpoint TEXT NOT NULL,
    -- Where it was (or will be) sent.
    url TEXT NOT NULL,
    -- The exact body sent (and signed).
    payload TEXT NOT NULL,
    -- 'pending', 'delivered' or 'dead'.
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    -- When a worker may take it next; while a worker holds it, the end of its lease.
    next_attempt_at TIMESTAMP NOT NULL,
    -- The lease of the worker attempting it now (NULL when none).
    lease TEXT,
    -- Retried until then; dead after.
    expires_at TIMESTAMP NOT NULL,
    -- HTTP status of the last attempt (NULL: no answer).
    last_status INTEGER,
    last_error TEXT,
    delivered_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- The workers' scan of due rows.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at, id);
-- Per-video order (a target gets a video's events one after the other) and listings.
CREATE INDEX webhook_deliveries_video ON webhook_deliveries (video_uuid, endpoint, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- Where a video's own events go (submitted as callbackUrl).
ALTER TABLE videos ADD COLUMN callback_url TEXT;
-- When the rendition was announced (video.rendition.ready); NULL: not yet.
ALTER TABLE video_files ADD COLUMN announced_at TIMESTAMP;
-- Renditions that existed before this migration were announced by nobody, and never will be.
UPDATE video_files SET announced_at = updated_at;
