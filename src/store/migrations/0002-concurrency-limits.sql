-- Tag concurrency limits (`flowctl concurrency-limit`): at most `slot_limit` task runs carrying
-- a tag run at once, across every process that shares this store. Times are ms epoch.

CREATE TABLE IF NOT EXISTS concurrency_limits (
  tag         TEXT PRIMARY KEY,
  slot_limit  INTEGER NOT NULL,
  created     BIGINT NOT NULL,
  updated     BIGINT NOT NULL
);

-- one row per slot taken: the task run holding it, and the process that holds it for the run.
-- The owner renews `lease_expires` while it lives; a slot whose lease ran out belongs to a
-- process that died and is reclaimed by the next acquirer.
CREATE TABLE IF NOT EXISTS concurrency_slots (
  tag            TEXT NOT NULL,
  holder_id      TEXT NOT NULL,
  owner          TEXT NOT NULL,
  lease_expires  BIGINT NOT NULL,
  acquired       BIGINT NOT NULL,
  PRIMARY KEY (tag, holder_id)
);
CREATE INDEX IF NOT EXISTS concurrency_slots_owner ON concurrency_slots (owner);
CREATE INDEX IF NOT EXISTS concurrency_slots_holder ON concurrency_slots (holder_id);
