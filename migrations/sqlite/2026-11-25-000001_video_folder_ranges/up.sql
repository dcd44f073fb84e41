-- SQLite compares text byte by byte (BINARY collation), so "every key inside folder
-- a/b" is the range ['a/b/', 'a/b0'), which an index can serve (see the PostgreSQL
-- migration, which sets the byte order explicitly).
-- Sources named by filePath, looked up by folder when a video claims one.
CREATE INDEX video_files_storage_key ON video_files (storage_key);
