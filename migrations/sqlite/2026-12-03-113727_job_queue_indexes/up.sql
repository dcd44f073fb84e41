-- The queries whose cost must not grow with the number of jobs in the table:
-- - the offer index reads the first pending jobs of one type (state, job_type,
--   priority, id): one range of this index, which also serves "is any job pending";
-- - the watchdog reads the jobs of a state whose last update is older than a cutoff
--   (state, updated_at).
-- The former (state, priority, id) index is covered by the first one.
DROP INDEX runner_jobs_offer;
CREATE INDEX runner_jobs_offer_by_type ON runner_jobs (state, job_type, priority, id);
CREATE INDEX runner_jobs_stalled ON runner_jobs (state, updated_at);
