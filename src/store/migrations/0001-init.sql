-- flowctl run store, version 1. Times are milliseconds since the epoch (integers).
-- JSON columns hold text. Written by the batched writer; read by `flowctl runs` and the UI.

CREATE TABLE IF NOT EXISTS flow_runs (
  id                  TEXT PRIMARY KEY,
  name                TEXT NOT NULL,
  flow_name           TEXT NOT NULL,
  flow_version        TEXT,
  parent_flow_run_id  TEXT,
  parent_task_run_id  TEXT,
  parameters          TEXT NOT NULL DEFAULT '{}',
  tags                TEXT NOT NULL DEFAULT '[]',
  state_type          TEXT NOT NULL,
  state_name          TEXT NOT NULL,
  state_message       TEXT,
  run_count           INTEGER NOT NULL DEFAULT 0,
  created             BIGINT NOT NULL,
  start_time          BIGINT,
  end_time            BIGINT,
  updated             BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS flow_runs_created ON flow_runs (created);
CREATE INDEX IF NOT EXISTS flow_runs_name ON flow_runs (name);
CREATE INDEX IF NOT EXISTS flow_runs_parent ON flow_runs (parent_flow_run_id);

CREATE TABLE IF NOT EXISTS task_runs (
  id                  TEXT PRIMARY KEY,
  name                TEXT NOT NULL,
  task_name           TEXT NOT NULL,
  task_key            TEXT NOT NULL,
  flow_run_id         TEXT,
  parent_task_run_id  TEXT,
  parameters          TEXT NOT NULL DEFAULT '{}',
  tags                TEXT NOT NULL DEFAULT '[]',
  state_type          TEXT NOT NULL,
  state_name          TEXT NOT NULL,
  state_message       TEXT,
  run_count           INTEGER NOT NULL DEFAULT 0,
  cache_key           TEXT,
  created             BIGINT NOT NULL,
  start_time          BIGINT,
  end_time            BIGINT,
  updated             BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS task_runs_flow_run ON task_runs (flow_run_id);
CREATE INDEX IF NOT EXISTS task_runs_created ON task_runs (created);
CREATE INDEX IF NOT EXISTS task_runs_name ON task_runs (name);

-- every state of every run, in order (seq counts from 0 per run)
CREATE TABLE IF NOT EXISTS run_states (
  run_id          TEXT NOT NULL,
  seq             INTEGER NOT NULL,
  run_kind        TEXT NOT NULL,          -- 'flow' | 'task'
  type            TEXT NOT NULL,
  name            TEXT NOT NULL,
  message         TEXT,
  timestamp       BIGINT NOT NULL,
  scheduled_time  BIGINT,
  error           TEXT,                   -- JSON {name, message, stack, cause} for failures
  PRIMARY KEY (run_id, seq)
);

-- upstream links: the task runs whose results a task run took as inputs
CREATE TABLE IF NOT EXISTS task_run_inputs (
  task_run_id           TEXT NOT NULL,
  upstream_task_run_id  TEXT NOT NULL,
  parameter             TEXT NOT NULL,
  PRIMARY KEY (task_run_id, upstream_task_run_id, parameter)
);
CREATE INDEX IF NOT EXISTS task_run_inputs_upstream ON task_run_inputs (upstream_task_run_id);

CREATE TABLE IF NOT EXISTS logs (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  flow_run_id  TEXT,
  task_run_id  TEXT,
  level        INTEGER NOT NULL,
  source       TEXT NOT NULL,
  message      TEXT NOT NULL,
  timestamp    BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_flow_run ON logs (flow_run_id, timestamp);
CREATE INDEX IF NOT EXISTS logs_task_run ON logs (task_run_id, timestamp);
