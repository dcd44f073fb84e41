DROP INDEX video_captions_job;
ALTER TABLE video_captions DROP COLUMN job_id;
ALTER TABLE video_captions DROP COLUMN size;
ALTER TABLE video_captions DROP COLUMN source;
