/**
 * A flow run of 100,000 task runs written straight into a SQLite store with set-based SQL (about
 * a second): flow run 'big' ('vast-crawl', Running in this process) with getUrl × 90,000 (30
 * failed, every 97th retried once with its states, the last 20 running), parsePage × 9,000 and
 * saveBatch × 1,000, and 20,000 log lines. For the browser test and measuring the UI by hand.
 */
import type { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { thisHost } from "../../src/store/liveness.ts";

export const TOTAL = 100_000;

/** 100,000 task runs, their retried runs' states and 20,000 log lines, in one transaction of set-based SQL. */
export function seedLargeRun(db: SqliteStore["database"], START = Date.now() - 20 * 60_000): void {
  const taskRuns = `
    WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ${TOTAL - 1}),
    t AS (SELECT i,
      CASE WHEN i < 90000 THEN 'getUrl' WHEN i < 99000 THEN 'parsePage' ELSE 'saveBatch' END AS task,
      CASE WHEN i < 90000 THEN i WHEN i < 99000 THEN i - 90000 ELSE i - 99000 END AS n,
      ${START} + i * 10 AS created FROM seq),
    s AS (SELECT *,
      CASE WHEN task = 'getUrl' AND n % 3001 = 17 THEN 'FAILED' WHEN task = 'getUrl' AND n >= 89980 THEN 'RUNNING' ELSE 'COMPLETED' END AS st,
      CASE WHEN task = 'getUrl' AND n % 97 = 5 THEN 2 ELSE 1 END AS runs FROM t)
    INSERT INTO task_runs (id, name, task_name, task_key, flow_run_id, parent_task_run_id, parameters, tags, state_type, state_name,
      state_message, run_count, cache_key, created, start_time, end_time, updated)
    SELECT printf('tr-%06d', i), printf('%s-%d', task, n), task, task || '-3f9a2c', 'big', NULL,
      printf('{"url":"https://example.com/page/%d"}', n), '["crawl"]', st, upper(substr(st, 1, 1)) || lower(substr(st, 2)),
      CASE st WHEN 'FAILED' THEN printf('HTTPError: 503 from https://example.com/page/%d', n) END,
      runs, NULL, created, created + 5,
      CASE WHEN st = 'RUNNING' THEN NULL ELSE created + 205 + (i % 7) * 60 + (runs - 1) * 400 END,
      CASE WHEN st = 'RUNNING' THEN created + 5 ELSE created + 205 + (i % 7) * 60 + (runs - 1) * 400 END
    FROM s`;
  const states = (seq: number, type: string, name: string, at: string) => `
    INSERT INTO run_states (run_id, seq, run_kind, type, name, message, timestamp, scheduled_time, error)
    SELECT id, ${seq}, 'task', '${type}', '${name}', NULL, ${at}, NULL, NULL FROM task_runs WHERE flow_run_id = 'big' AND run_count = 2`;
  const logs = `
    WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < 19999)
    INSERT INTO logs (flow_run_id, task_run_id, level, source, message, timestamp)
    SELECT 'big', printf('tr-%06d', i * 5), CASE WHEN i % 500 = 3 THEN 40 ELSE 20 END, printf('Task run ''getUrl-%d''', i * 5),
      printf('Fetched https://example.com/page/%d (%d bytes)', i * 5, 1000 + i), ${START} + i * 50 FROM seq`;
  db.transaction(() => {
    db.prepare(`INSERT INTO flow_runs (id, name, flow_name, parameters, tags, state_type, state_name, run_count, created, start_time,
      updated, pid, host, heartbeat) VALUES ('big', 'vast-crawl', 'crawl', '{"site":"https://example.com","pages":100000}', '["crawl"]',
      'RUNNING', 'Running', 1, ?, ?, ?, ?, ?, ?)`).run(START, START, START + 1, process.pid, thisHost(), Date.now());
    db.prepare(taskRuns).run();
    db.prepare(states(0, "PENDING", "Pending", "created")).run();
    db.prepare(states(1, "RUNNING", "Running", "start_time")).run();
    db.prepare(states(2, "SCHEDULED", "AwaitingRetry", "start_time + 150")).run();
    db.prepare(states(3, "RUNNING", "Retrying", "start_time + 400")).run();
    db.prepare(states(4, "COMPLETED", "Completed", "end_time")).run();
    db.prepare(logs).run();
  })();
}

