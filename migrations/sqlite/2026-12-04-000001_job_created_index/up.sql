-- The admin job list and the dashboard's queue page sort by creation time, newest
-- first, and read one page: an index on created_at reads that page instead of sorting
-- the whole table (18-33 ms at 10,000 jobs on SQLite without it, growing with the table).
CREATE INDEX runner_jobs_created ON runner_jobs (created_at);
