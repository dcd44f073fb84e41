-- Storage keys are ASCII and compare byte by byte, so "every key inside folder a/b"
-- is the range ['a/b/', 'a/b0') ('0' follows '/'), which an index can serve. The
-- database's default collation may order text otherwise: compare these two columns
-- in "C" (byte) order. The unique index on videos.directory is rebuilt with it.
ALTER TABLE videos ALTER COLUMN directory TYPE TEXT COLLATE "C";
ALTER TABLE video_files ALTER COLUMN storage_key TYPE TEXT COLLATE "C";
-- Sources named by filePath, looked up by folder when a video claims one.
CREATE INDEX video_files_storage_key ON video_files (storage_key);
