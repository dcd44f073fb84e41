-- Initial schema (SQLite). Keep in lock-step with migrations/postgres: the test
-- `migration_trees_produce_the_same_schema` compares both.
-- UUIDs and JSON are TEXT, times are UTC TIMESTAMP, states are PeerTube's integers.

CREATE TABLE registration_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE runners (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    registration_token_id BIGINT NOT NULL REFERENCES registration_tokens (id) ON DELETE CASCADE,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    -- SHA-256 of the runner token: the token itself is never stored.
    token_hash TEXT NOT NULL UNIQUE,
    ip TEXT NOT NULL,
    last_contact TIMESTAMP NOT NULL,
    version TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX runners_registration_token_id ON runners (registration_token_id);

CREATE TABLE videos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    state INTEGER NOT NULL,
    name TEXT,
    -- Storage folder holding every output of this video.
    directory TEXT NOT NULL,
    -- Prefix of generated output names.
    base_filename TEXT NOT NULL,
    duration DOUBLE PRECISION,
    thumbnail_key TEXT,
    language TEXT,
    error TEXT,
    -- Per-request output options (JSON).
    options TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX videos_state ON videos (state, created_at);

CREATE TABLE video_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id BIGINT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    -- 'source', 'web-video', 'hls' (fragmented MP4 + media playlist), 'audio'.
    kind TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    -- HLS media playlist of this rendition.
    playlist_key TEXT,
    resolution INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    fps DOUBLE PRECISION NOT NULL,
    size BIGINT NOT NULL,
    -- Bits per second (peak where known).
    bitrate BIGINT,
    -- RFC 6381 codecs string, e.g. avc1.64001f,mp4a.40.2
    codecs TEXT,
    -- ffprobe metadata (JSON).
    metadata TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (video_id, kind, resolution)
);

CREATE TABLE streaming_playlists (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id BIGINT NOT NULL UNIQUE REFERENCES videos (id) ON DELETE CASCADE,
    master_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE video_captions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id BIGINT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    language TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (video_id, language)
);

CREATE TABLE storyboards (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id BIGINT NOT NULL UNIQUE REFERENCES videos (id) ON DELETE CASCADE,
    storage_key TEXT NOT NULL,
    sprite_width INTEGER NOT NULL,
    sprite_height INTEGER NOT NULL,
    sprite_count_width INTEGER NOT NULL,
    sprite_count_height INTEGER NOT NULL,
    sprite_duration DOUBLE PRECISION NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE runner_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    job_type TEXT NOT NULL,
    state INTEGER NOT NULL,
    -- Sent to runners (JSON).
    payload TEXT NOT NULL,
    -- Never sent to runners (JSON).
    private_payload TEXT NOT NULL,
    priority INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    error TEXT,
    progress INTEGER,
    -- SHA-256 of the current job token (ptrjt-...), NULL when no runner holds the job.
    job_token_hash TEXT,
    runner_id BIGINT REFERENCES runners (id) ON DELETE SET NULL,
    depends_on_job_id BIGINT REFERENCES runner_jobs (id) ON DELETE CASCADE,
    video_id BIGINT REFERENCES videos (id) ON DELETE CASCADE,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX runner_jobs_offer ON runner_jobs (state, priority, id);
CREATE INDEX runner_jobs_depends_on ON runner_jobs (depends_on_job_id);
CREATE INDEX runner_jobs_video ON runner_jobs (video_id);
CREATE INDEX runner_jobs_runner ON runner_jobs (runner_id);

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
