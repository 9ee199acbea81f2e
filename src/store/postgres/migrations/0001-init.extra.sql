-- PostgreSQL has no rowid: row_order keeps the order in which runs were first written, the
-- tie-breaker SQLite's queries get from rowid (runs created in the same millisecond list in
-- the order they were created). An upsert that updates a row keeps its row_order.
ALTER TABLE flow_runs ADD COLUMN IF NOT EXISTS row_order BIGSERIAL;
ALTER TABLE task_runs ADD COLUMN IF NOT EXISTS row_order BIGSERIAL;
CREATE INDEX IF NOT EXISTS flow_runs_created_order ON flow_runs (created, row_order);
