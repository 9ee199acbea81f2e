-- flowctl run store, version 7: indexes for reading a flow run of many task runs a page at a
-- time (the web UI). Within a flow run, task runs are listed oldest first (created, then write
-- order: SQLite's rowid, which every index carries), by task key (one `.map` call's runs
-- together), and by last update (what changed since a poll); logs tail first by id. The index
-- on flow_run_id alone is a prefix of these and goes.
DROP INDEX IF EXISTS task_runs_flow_run;
CREATE INDEX IF NOT EXISTS task_runs_flow_created ON task_runs (flow_run_id, created);
CREATE INDEX IF NOT EXISTS task_runs_flow_key ON task_runs (flow_run_id, task_key, created);
CREATE INDEX IF NOT EXISTS task_runs_flow_updated ON task_runs (flow_run_id, updated);
CREATE INDEX IF NOT EXISTS logs_flow_run_id ON logs (flow_run_id, id);
