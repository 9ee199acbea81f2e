-- `flowctl runs cancel`: a request to stop a flow run, written by any process that shares the
-- store and noticed by the process running the flow (it polls while the run is active).
CREATE TABLE IF NOT EXISTS run_cancellations (
  flow_run_id  TEXT PRIMARY KEY,
  message      TEXT NOT NULL,
  requested    BIGINT NOT NULL
);
