-- The PostgreSQL form of migration 7 (see src/store/migrations/0007-large-runs.sql): the same
-- indexes, with row_order (PostgreSQL's stand-in for SQLite's rowid) as the last key where
-- task runs are listed in write order.
DROP INDEX IF EXISTS task_runs_flow_run;
CREATE INDEX IF NOT EXISTS task_runs_flow_created ON task_runs (flow_run_id, created, row_order);
CREATE INDEX IF NOT EXISTS task_runs_flow_key ON task_runs (flow_run_id, task_key, created, row_order);
CREATE INDEX IF NOT EXISTS task_runs_flow_updated ON task_runs (flow_run_id, updated);
CREATE INDEX IF NOT EXISTS logs_flow_run_id ON logs (flow_run_id, id);
