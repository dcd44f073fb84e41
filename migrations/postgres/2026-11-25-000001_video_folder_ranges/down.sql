DROP INDEX video_files_storage_key;
ALTER TABLE video_files ALTER COLUMN storage_key TYPE TEXT COLLATE "default";
ALTER TABLE videos ALTER COLUMN directory TYPE TEXT COLLATE "default";
