-- Captions say where they come from ('auto': a transcription job, 'uploaded': the
-- application's own file), their size, and the job that made them (NULL for uploads;
-- set NULL should that job row go). Keep in lock-step with migrations/sqlite.
ALTER TABLE video_captions ADD COLUMN source TEXT NOT NULL DEFAULT 'auto';
ALTER TABLE video_captions ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE video_captions ADD COLUMN job_id BIGINT REFERENCES runner_jobs (id) ON DELETE SET NULL;
CREATE INDEX video_captions_job ON video_captions (job_id);
