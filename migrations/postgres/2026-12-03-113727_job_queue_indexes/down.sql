DROP INDEX runner_jobs_stalled;
DROP INDEX runner_jobs_offer_by_type;
CREATE INDEX runner_jobs_offer ON runner_jobs (state, priority, id);
