-- flowctl run store, version 6: attempt outcomes. A Redis worker records what a task body it
-- ran came to (the job's reply: the value, a returned State or the thrown error) before it
-- tells the flow's process through Redis, so a flow that loses Redis meanwhile still learns
-- it from here instead of recording the run Crashed. The flow deletes a row once the attempt's
-- outcome is its own; rows left behind (the flow's process died) go with their task run.
CREATE TABLE IF NOT EXISTS attempt_outcomes (
  attempt_id   TEXT PRIMARY KEY,        -- '<task run id>.<run count>' (the job id)
  task_run_id  TEXT NOT NULL,
  state_type   TEXT NOT NULL,           -- what the body came to: COMPLETED, FAILED, or a returned State's type
  outcome      TEXT NOT NULL,           -- the job's reply, JSON
  created      BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS attempt_outcomes_task_run ON attempt_outcomes (task_run_id);
