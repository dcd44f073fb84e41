DROP INDEX videos_directory;
