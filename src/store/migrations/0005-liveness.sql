-- flowctl run store, version 5: liveness. A flow run records the process that runs it (pid and
-- host) and a heartbeat (ms since the epoch) that the process refreshes while the run is live;
-- a run whose process is gone is marked Crashed by the next flowctl command that opens the
-- store (see src/store/liveness.ts).
ALTER TABLE flow_runs ADD COLUMN pid INTEGER;
ALTER TABLE flow_runs ADD COLUMN host TEXT;
ALTER TABLE flow_runs ADD COLUMN heartbeat BIGINT;
CREATE INDEX IF NOT EXISTS flow_runs_state_type ON flow_runs (state_type);
