-- flowctl run store, version 9: a task run's states are kept in its own row, as a JSON array
-- indexed by seq (see src/store/packed-states.ts), instead of one run_states row each. A null
-- entry is a state kept in run_states (one with error data); task runs written before this
-- version, flow runs, and states another process adds to a dead run stay in run_states.
ALTER TABLE task_runs ADD COLUMN states TEXT;
