-- Run control (`flowctl runs retry`): where each flow run was loaded from, and the results its
-- completed task runs left, kept so that a retry can reuse them instead of running them again.

-- `<absolute file path>:<flow name>`, recorded by `flowctl run`; NULL for flows called from code
ALTER TABLE flow_runs ADD COLUMN entrypoint TEXT;

-- one row per completed task run of a flow run (subflows' included, under their top-level run)
CREATE TABLE IF NOT EXISTS task_run_results (
  task_run_id   TEXT PRIMARY KEY,
  flow_run_id   TEXT NOT NULL,          -- the top-level flow run: the unit a retry re-runs
  inputs_key    TEXT,                   -- canonical form (or hash) of the inputs; NULL = could not be hashed
  source_hash   TEXT NOT NULL,          -- the task's source, as TASK_SOURCE hashes it
  kind          TEXT NOT NULL,          -- 'value' (payload here) | 'file' (a result file) | 'unkept' | 'reused'
  payload       BLOB,
  message       TEXT,                   -- 'unkept': why; 'reused': the task run whose result was reused
  created       BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS task_run_results_flow_run ON task_run_results (flow_run_id);
