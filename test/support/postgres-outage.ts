/**
 * Test support for store outages: stop and start the machine's PostgreSQL cluster (tests that
 * use it are `*.serial.test.ts` and start it again in a `finally`), and read a schema's rows.
 */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { POSTGRES_URL } from "../fixtures/redis/services.ts";

const VERSION = (): string => readdirSync("/etc/postgresql")[0]!;

function ctl(action: "start" | "stop"): void {
  const args = ["--skip-systemctl-redirect", VERSION(), "main", action];
  if (action === "stop") args.push("-m", "fast");
  execFileSync("pg_ctlcluster", args, { stdio: "pipe" });
}

let stopped = false;

/** Stop PostgreSQL now (fast shutdown: sessions are cut, as in a restart). */
export function stopPostgres(): void {
  stopped = true;
  ctl("stop");
}

/** Start PostgreSQL again (if this process stopped it) and wait until it takes connections. */
export async function startPostgres(): Promise<void> {
  if (stopped) {
    try {
      ctl("start");
    } catch (err) {
      // already running (started by someone else meanwhile): fine; otherwise say why
      if (!/already running/i.test(String((err as { stderr?: Buffer }).stderr ?? err))) throw err;
    }
    stopped = false;
  }
  for (let i = 0; ; i++) {
    const c = new pg.Client({ connectionString: POSTGRES_URL });
    try {
      await c.connect();
      await c.query("SELECT 1");
      return;
    } catch (err) {
      if (i > 100) throw err;
      await sleep(100);
    } finally {
      await c.end().catch(() => undefined);
    }
  }
}

/** Rows of a schema, through a plain connection. */
export async function querySchema<T extends pg.QueryResultRow>(schema: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path=${schema}` });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

/** No row written twice: each log line and each state once. */
export async function duplicates(schema: string): Promise<{ logs: number; states: number }> {
  const [r] = await querySchema<{ logs: string; states: string }>(
    schema,
    `SELECT (SELECT count(*) - count(DISTINCT (flow_run_id, task_run_id, level, source, message, timestamp)) FROM logs) AS logs,
            (SELECT count(*) - count(DISTINCT (run_id, seq)) FROM run_states) AS states`,
  );
  return { logs: Number(r!.logs), states: Number(r!.states) };
}
