-- One video per storage folder: the submit check in the transaction is not enough on
-- PostgreSQL (READ COMMITTED lets two concurrent submissions both see the folder free).
CREATE UNIQUE INDEX videos_directory ON videos (directory);
