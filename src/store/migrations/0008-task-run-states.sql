-- flowctl run store, version 8: a flow run's task runs by state (the web UI lists and counts
-- the ones that did not complete among 100,000 from this index alone, without reading the rows).
CREATE INDEX IF NOT EXISTS task_runs_flow_state ON task_runs (flow_run_id, state_type, state_name);
