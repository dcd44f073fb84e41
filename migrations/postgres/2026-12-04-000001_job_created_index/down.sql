DROP INDEX runner_jobs_created;
