ALTER TABLE video_files DROP COLUMN format;
