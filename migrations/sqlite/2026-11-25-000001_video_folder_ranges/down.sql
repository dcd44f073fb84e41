DROP INDEX video_files_storage_key;
