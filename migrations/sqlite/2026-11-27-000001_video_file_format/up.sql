-- The container of each stored file, as ffprobe names it, in its own column: the video
-- resource shows it, and nothing has to dig it out of the ffprobe metadata any more.
ALTER TABLE video_files ADD COLUMN format TEXT;
UPDATE video_files SET format = json_extract(metadata, '$.format.format_name')
    WHERE json_valid(metadata);
