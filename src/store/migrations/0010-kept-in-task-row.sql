-- flowctl run store, version 10: a task run's kept result (what `runs retry` may reuse; see
-- src/engine/keep-result.ts) is written in the task run's own row when it comes with it, as it
-- nearly always does, instead of a task_run_results row of its own (a table B-tree, its key and
-- its flow-run index less per task run). task_run_results keeps the results written before this
-- version, those of other backends' journals, and any that come without their run's row.
ALTER TABLE task_runs ADD COLUMN kept_inputs TEXT;
ALTER TABLE task_runs ADD COLUMN kept_source TEXT;
ALTER TABLE task_runs ADD COLUMN kept_kind TEXT;
ALTER TABLE task_runs ADD COLUMN kept_payload BLOB;
ALTER TABLE task_runs ADD COLUMN kept_message TEXT;
ALTER TABLE task_runs ADD COLUMN kept_created INTEGER;
