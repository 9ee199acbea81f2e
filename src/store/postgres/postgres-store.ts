/**
 * The PostgreSQL run store, for several machines sharing one run history (the Redis runner's
 * workers, the UI): a `pg` pool, the shared numbered migrations (see `migrate.ts`), and every
 * batch written in one transaction. Runs are upserts where the latest snapshot wins
 * (`WHERE excluded.updated >= table.updated`), so writers that race on a run cannot move it
 * back to an older state; rows are written in key order so concurrent batches take their row
 * locks in the same order, and a deadlock or serialisation failure is retried.
 */
import pg from "pg";
import { FlowctlError, isFlowctlError } from "../../errors.ts";
import type {
  ConcurrencyLimitRow, ConcurrencySlotRow, CrashMark, SlotAcquisition, SlotRequest,
  FlowRunFilter, FlowRunRow, FlowRunWithTaskCounts, InputRow, LogFilter, LogRow, PruneResult, RunStatsRows, RunStore, StateRow,
  TaskRunFilter, TaskRunRow, WriteBatch, KeptResultRow, AttemptOutcomeRow,
} from "../types.ts";
import { keptRow } from "../kept-rows.ts";
import { OUTCOME_COLS, outcomeRow } from "../outcome-rows.ts";
import { parsePgUrl, type PgTarget } from "./connection.ts";
import { migrate } from "./migrate.ts";
import { deleteFlowRuns, pruneOlderThan, statsSince, withTaskCounts } from "./run-summaries.ts";
import * as concurrency from "./concurrency.ts";
import * as liveness from "./liveness.ts";
import * as pages from "./run-pages.ts";
import type { TaskRunGroupOptions, TaskRunGroupRow, TaskRunPage, TaskRunPageFilter } from "../types.ts";
import { mergeStates } from "../packed-states.ts";
import {
  FLOW_COLS, FLOW_RUNS, LOGS, RESULTS, RUN_STATES, STATE_COLS, TASK_COLS, TASK_RUNS, columnArrays, flowRow, insertSelect, logRow, stateRow, taskRow,
  type ColumnSet,
} from "./rows.ts";

/** Pool size per process: the writer uses one connection at a time; readers (UI) a few more. */
const POOL_SIZE = 5;
const RETRIED_CODES = new Set(["40P01", "40001"]);

const FINAL = "('COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED')";

/** Upsert of runs; `replayed`: a run stored in a final state is not moved back to one that is not. */
function upsertSql(set: ColumnSet<unknown>, replayed = false): string {
  const sets = set.columns
    .map((c) => c[0])
    .filter((c) => c !== "id" && c !== "created")
    // a row without packed states (an older flowctl's journal) leaves the ones stored
    .map((c) => (c === "states" ? `states = COALESCE(excluded.states, ${set.table}.states)` : `${c} = excluded.${c}`))
    .join(", ");
  const t = set.table;
  const keepFinal = replayed ? ` AND (${t}.state_type NOT IN ${FINAL} OR excluded.state_type IN ${FINAL})` : "";
  return `${insertSelect(set)} ON CONFLICT (id) DO UPDATE SET ${sets} WHERE excluded.updated >= ${t}.updated${keepFinal}`;
}

/** Log lines of a replayed batch that the store does not hold yet (found through the run indexes). */
function replayLogSql(): string {
  const names = LOGS.columns.map((c) => c[0]);
  const unnest = LOGS.columns.map((c, i) => `$${i + 1}::${c[1]}[]`).join(", ");
  const same = "l.timestamp = u.timestamp AND l.level = u.level AND l.source = u.source AND l.message = u.message";
  return `INSERT INTO logs (${names.join(", ")}) SELECT ${names.map((n) => `u.${n}`).join(", ")} FROM unnest(${unnest}) WITH ORDINALITY AS u(${names.join(", ")}, ord)
    WHERE (u.task_run_id IS NULL OR NOT EXISTS (SELECT 1 FROM logs l WHERE l.task_run_id = u.task_run_id AND ${same}))
      AND (u.task_run_id IS NOT NULL OR u.flow_run_id IS NULL OR NOT EXISTS (SELECT 1 FROM logs l WHERE l.flow_run_id = u.flow_run_id AND l.task_run_id IS NULL AND ${same}))
    ORDER BY u.ord`;
}

const SQL = {
  flow: upsertSql(FLOW_RUNS as ColumnSet<unknown>),
  task: upsertSql(TASK_RUNS as ColumnSet<unknown>),
  state: `${insertSelect(RUN_STATES as ColumnSet<unknown>)} ON CONFLICT (run_id, seq) DO UPDATE SET ${RUN_STATES.columns
    .slice(2)
    .map((c) => `${c[0]} = excluded.${c[0]}`)
    .join(", ")}`,
  input:
    "INSERT INTO task_run_inputs (task_run_id, upstream_task_run_id, parameter) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
  log: insertSelect(LOGS as ColumnSet<unknown>),
  result: `${insertSelect(RESULTS as ColumnSet<unknown>)} ON CONFLICT (task_run_id) DO UPDATE SET ${RESULTS.columns
    .slice(1)
    .map((c) => `${c[0]} = excluded.${c[0]}`)
    .join(", ")}`,
};

/** A journalled batch replayed (`WriteBatch.replayed`): what the store holds already stays. */
const REPLAY_SQL = {
  ...SQL,
  flow: upsertSql(FLOW_RUNS as ColumnSet<unknown>, true),
  task: upsertSql(TASK_RUNS as ColumnSet<unknown>, true),
  // a state already stored stays, unless it is another process's guess that the run died
  // (liveness.ts GONE_PREFIXES): the run's own state at that place replaces it
  state: `${insertSelect(RUN_STATES as ColumnSet<unknown>)} ON CONFLICT (run_id, seq) DO UPDATE SET ${RUN_STATES.columns
    .slice(2)
    .map((c) => `${c[0]} = excluded.${c[0]}`)
    .join(", ")} WHERE run_states.type = 'CRASHED' AND (run_states.message LIKE 'Flow run crashed: process gone%' OR run_states.message LIKE 'Flow run crashed: no heartbeat since%')`,
  log: replayLogSql(),
  result: `${insertSelect(RESULTS as ColumnSet<unknown>)} ON CONFLICT (task_run_id) DO NOTHING`,
};

/** Rows sent again after a failed write (`WriteBatch.resent`): a log line already stored is not added again. */
const RESENT_SQL = { ...SQL, log: REPLAY_SQL.log };

/** The newest snapshot of each run (the later one on a tie), in id order. */
function latestById<R extends { id: string; updated: number }>(rows: readonly R[]): R[] {
  const m = new Map<string, R>();
  for (const r of rows) {
    const prev = m.get(r.id);
    if (!prev || r.updated >= prev.updated) m.set(r.id, r);
  }
  return [...m.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function lastByKey<R>(rows: readonly R[], key: (r: R) => string): R[] {
  const m = new Map<string, R>();
  for (const r of rows) m.set(key(r), r);
  return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
}

export class PostgresStore implements RunStore {
  readonly kind = "postgres" as const;
  readonly location: string;
  readonly schema: string | undefined;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    target: PgTarget,
  ) {
    this.location = target.location;
    this.schema = target.schema;
  }

  /** Connect, create the schema when the URL names one, and apply pending migrations. */
  static async open(url: string): Promise<PostgresStore> {
    const target = parsePgUrl(url);
    const pool = new pg.Pool({
      connectionString: target.connectionString,
      ...(target.options !== undefined ? { options: target.options } : {}),
      max: POOL_SIZE,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 10_000,
      allowExitOnIdle: true,
    });
    // a client's error (server restart, connection cut) must not crash the process: an idle
    // one's reaches the pool, a checked-out one's its query (which fails); the next query reconnects
    pool.on("error", () => undefined);
    pool.on("connect", (client) => client.on("error", () => undefined));
    const store = new PostgresStore(pool, target);
    try {
      const client = await pool.connect();
      try {
        await migrate(client, target.schema, target.location);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      if (isFlowctlError(err, "STORE_INCOMPATIBLE")) throw err;
      throw new FlowctlError("STORE_ERROR", `Cannot open the run store at ${target.location}: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  async writeBatch(batch: WriteBatch): Promise<void> {
    const flowRuns = latestById(batch.flowRuns);
    const taskRuns = latestById(batch.taskRuns);
    const states = lastByKey(batch.states, (s) => `${s.runId}\0${String(s.seq).padStart(10, "0")}`);
    const inputs = lastByKey(batch.inputs, (i) => `${i.taskRunId}\0${i.upstreamTaskRunId}\0${i.parameter}`);
    const results = lastByKey(batch.results ?? [], (r) => r.taskRunId);
    if (!flowRuns.length && !taskRuns.length && !states.length && !inputs.length && !batch.logs.length && !results.length) return;
    const sql = batch.replayed ? REPLAY_SQL : batch.resent ? RESENT_SQL : SQL;
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      try {
        await client.query("BEGIN");
        if (flowRuns.length) await client.query(sql.flow, columnArrays(FLOW_RUNS, flowRuns));
        if (taskRuns.length) await client.query(sql.task, columnArrays(TASK_RUNS, taskRuns));
        if (states.length) await client.query(sql.state, columnArrays(RUN_STATES, states));
        if (inputs.length) {
          await client.query(sql.input, [inputs.map((i) => i.taskRunId), inputs.map((i) => i.upstreamTaskRunId), inputs.map((i) => i.parameter)]);
        }
        if (batch.logs.length) await client.query(sql.log, columnArrays(LOGS, batch.logs));
        if (results.length) await client.query(sql.result, columnArrays(RESULTS, results));
        await client.query("COMMIT");
        return;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        if (attempt < 5 && RETRIED_CODES.has((err as { code?: string }).code ?? "")) continue;
        throw new FlowctlError("STORE_ERROR", `Writing to the run store at ${this.location} failed: ${(err as Error).message}`, { cause: err });
      } finally {
        client.release();
      }
    }
  }

  /** Run a read query; a failure becomes a STORE_ERROR naming the store. */
  async query<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
    try {
      return (await this.pool.query<T>(text, params)).rows;
    } catch (err) {
      throw new FlowctlError("STORE_ERROR", `Reading the run store at ${this.location} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** @internal for store-level features that need a transaction of their own */
  get connectionPool(): pg.Pool {
    return this.pool;
  }

  async listFlowRuns(f: FlowRunFilter = {}): Promise<FlowRunRow[]> {
    const q = new Where();
    if (f.state?.length) q.stateIn(f.state);
    if (f.flowName !== undefined) q.add("flow_name = ?", f.flowName);
    if (f.tag !== undefined) q.add("tags::jsonb @> jsonb_build_array(?::text)", f.tag);
    if (f.since !== undefined) q.add("created >= ?", f.since);
    if (f.until !== undefined) q.add("created <= ?", f.until);
    if (f.parentFlowRunId === null) q.add("parent_flow_run_id IS NULL");
    else if (f.parentFlowRunId !== undefined) q.add("parent_flow_run_id = ?", f.parentFlowRunId);
    const sql = `SELECT ${FLOW_COLS} FROM flow_runs ${q.sql()} ORDER BY created DESC, row_order DESC LIMIT ${q.param(f.limit ?? 100)} OFFSET ${q.param(f.offset ?? 0)}`;
    return (await this.query(sql, q.params)).map(flowRow);
  }

  async getFlowRun(idOrName: string): Promise<FlowRunRow | undefined> {
    const rows = await this.query(
      `SELECT ${FLOW_COLS} FROM flow_runs WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC, created DESC, row_order DESC LIMIT 1`,
      [idOrName],
    );
    return rows[0] && flowRow(rows[0]);
  }

  async listTaskRuns(f: TaskRunFilter = {}): Promise<TaskRunRow[]> {
    const q = new Where();
    if (f.flowRunId !== undefined) q.add("flow_run_id = ?", f.flowRunId);
    if (f.state?.length) q.stateIn(f.state);
    if (f.taskName !== undefined) q.add("task_name = ?", f.taskName);
    if (f.tag !== undefined) q.add("tags::jsonb @> jsonb_build_array(?::text)", f.tag);
    const order = f.flowRunId !== undefined ? "ORDER BY created ASC, row_order ASC" : "ORDER BY created DESC, row_order DESC";
    const sql = `SELECT ${TASK_COLS} FROM task_runs ${q.sql()} ${order} LIMIT ${q.param(f.limit ?? 10_000)}`;
    return (await this.query(sql, q.params)).map(taskRow);
  }

  async getTaskRun(idOrName: string): Promise<TaskRunRow | undefined> {
    const rows = await this.query(
      `SELECT ${TASK_COLS} FROM task_runs WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC, created DESC, row_order DESC LIMIT 1`,
      [idOrName],
    );
    return rows[0] && taskRow(rows[0]);
  }

  async findRuns(ref: string, opts: { limit?: number } = {}): Promise<{ flowRuns: FlowRunRow[]; taskRuns: TaskRunRow[] }> {
    const where = "WHERE id = $1 OR name = $1 OR starts_with(id, $1) ORDER BY created DESC, row_order DESC LIMIT $2";
    const args = [ref, opts.limit ?? 20];
    const [flows, tasks] = await Promise.all([
      this.query(`SELECT ${FLOW_COLS} FROM flow_runs ${where}`, args),
      this.query(`SELECT ${TASK_COLS} FROM task_runs ${where}`, args),
    ]);
    return { flowRuns: flows.map(flowRow), taskRuns: tasks.map(taskRow) };
  }

  async getStates(runId: string): Promise<StateRow[]> {
    const [rows, packed] = await Promise.all([
      this.query(`SELECT ${STATE_COLS} FROM run_states WHERE run_id = $1 ORDER BY seq`, [runId]),
      this.query<{ states: string | null }>("SELECT states FROM task_runs WHERE id = $1", [runId]),
    ]);
    return mergeStates(rows.map(stateRow), runId, packed[0]?.states);
  }

  async requestCancellation(flowRunId: string, message: string, at: number): Promise<void> {
    await this.query("INSERT INTO run_cancellations (flow_run_id, message, requested) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", [flowRunId, message, at]);
  }

  async getCancellation(flowRunId: string): Promise<{ message: string; requested: number } | undefined> {
    const [r] = await this.query<{ message: string; requested: string }>("SELECT message, requested FROM run_cancellations WHERE flow_run_id = $1", [flowRunId]);
    return r && { message: r.message, requested: Number(r.requested) };
  }

  async getKeptResults(flowRunId: string): Promise<KeptResultRow[]> {
    const rows = await this.query(
      "SELECT task_run_id, flow_run_id, inputs_key, source_hash, kind, payload, message, created FROM task_run_results WHERE flow_run_id = $1",
      [flowRunId],
    );
    return rows.map(keptRow);
  }

  async putAttemptOutcome(o: AttemptOutcomeRow): Promise<boolean> {
    const rows = await this.query(
      `INSERT INTO attempt_outcomes (${OUTCOME_COLS}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING attempt_id`,
      [o.attemptId, o.taskRunId, o.stateType, o.outcome, o.created],
    );
    return rows.length > 0;
  }

  async getAttemptOutcomes(attemptIds: readonly string[]): Promise<AttemptOutcomeRow[]> {
    if (attemptIds.length === 0) return [];
    return (await this.query(`SELECT ${OUTCOME_COLS} FROM attempt_outcomes WHERE attempt_id = ANY($1::text[])`, [attemptIds])).map(outcomeRow);
  }

  async deleteAttemptOutcomes(attemptIds: readonly string[]): Promise<void> {
    if (attemptIds.length === 0) return;
    await this.query("DELETE FROM attempt_outcomes WHERE attempt_id = ANY($1::text[])", [attemptIds]);
  }

  async getInputs(taskRunId: string): Promise<InputRow[]> {
    const rows = await this.query<{ task_run_id: string; upstream_task_run_id: string; parameter: string }>(
      "SELECT task_run_id, upstream_task_run_id, parameter FROM task_run_inputs WHERE task_run_id = $1",
      [taskRunId],
    );
    return rows.map((r) => ({ taskRunId: r.task_run_id, upstreamTaskRunId: r.upstream_task_run_id, parameter: r.parameter }));
  }

  async getLogs(f: LogFilter): Promise<LogRow[]> {
    const q = logWhere(f);
    const sql = `SELECT id, flow_run_id, task_run_id, level, source, message, timestamp FROM logs ${q.sql()} ORDER BY id ${f.newestFirst ? "DESC" : "ASC"} LIMIT ${q.param(f.limit ?? 100_000)} OFFSET ${q.param(f.offset ?? 0)}`;
    return (await this.query(sql, q.params)).map(logRow);
  }

  async countLogs(f: LogFilter): Promise<number> {
    const q = logWhere(f);
    return Number((await this.query(`SELECT COUNT(*) AS n FROM logs ${q.sql()}`, q.params))[0]!.n);
  }


  async taskRunGroups(flowRunId: string, opts?: TaskRunGroupOptions): Promise<TaskRunGroupRow[]> {
    return pages.taskRunGroups((text, params) => this.query(text, params), flowRunId, opts);
  }

  async pageTaskRuns(f: TaskRunPageFilter): Promise<TaskRunPage> {
    return pages.pageTaskRuns((text, params) => this.query(text, params), f);
  }

  async taskRunsUpdatedSince(flowRunId: string, since: number, limit: number): Promise<{ taskRuns: TaskRunRow[]; maxUpdated: number }> {
    return pages.taskRunsUpdatedSince((text, params) => this.query(text, params), flowRunId, since, limit);
  }


  async listFlowRunsWithTaskCounts(f: FlowRunFilter = {}): Promise<FlowRunWithTaskCounts[]> {
    return withTaskCounts((text, params) => this.query(text, params), await this.listFlowRuns(f));
  }

  async statsSince(since: number, opts: { bucketMs: number; slowest?: number }): Promise<RunStatsRows> {
    return statsSince((text, params) => this.query(text, params), since, opts.bucketMs, opts.slowest ?? 10);
  }

  async deleteFlowRuns(ids: readonly string[]): Promise<PruneResult> {
    const client = await this.pool.connect();
    try {
      return await deleteFlowRuns(client, ids);
    } catch (err) {
      throw new FlowctlError("STORE_ERROR", `Deleting runs from the run store at ${this.location} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      client.release();
    }
  }

  async beat(ids: readonly string[], b: { at: number }): Promise<FlowRunRow[]> {
    try {
      return (await liveness.beat(this.pool, FLOW_COLS, ids, b.at)).map(flowRow);
    } catch (err) {
      throw new FlowctlError("STORE_ERROR", `Heartbeat to the run store at ${this.location} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async markCrashed(flowRunId: string, mark: CrashMark): Promise<boolean> {
    const client = await this.pool.connect();
    try {
      return await liveness.markCrashed(client, flowRunId, mark);
    } catch (err) {
      throw new FlowctlError("STORE_ERROR", `Marking a run crashed in the run store at ${this.location} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      client.release();
    }
  }

  async pruneOlderThan(cutoff: number): Promise<PruneResult> {
    const client = await this.pool.connect();
    try {
      return await pruneOlderThan(client, cutoff);
    } catch (err) {
      throw new FlowctlError("STORE_ERROR", `Pruning the run store at ${this.location} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      client.release();
    }
  }

  /** One transaction for a store-level operation; a failure becomes a STORE_ERROR naming it. */
  private async tx<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await concurrency.inTransaction(this.pool, fn);
      } catch (err) {
        if (attempt < 5 && RETRIED_CODES.has((err as { code?: string }).code ?? "")) continue;
        throw new FlowctlError("STORE_ERROR", `${what} in the run store at ${this.location} failed: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  createConcurrencyLimit(tag: string, limit: number): Promise<{ created: boolean }> {
    return this.tx("Creating a concurrency limit", (c) => concurrency.createConcurrencyLimit(c, tag, limit));
  }

  listConcurrencyLimits(): Promise<ConcurrencyLimitRow[]> {
    return this.tx("Listing concurrency limits", (c) => concurrency.listConcurrencyLimits(c));
  }

  getConcurrencyLimit(tag: string): Promise<(ConcurrencyLimitRow & { slots: ConcurrencySlotRow[] }) | undefined> {
    return this.tx("Reading a concurrency limit", (c) => concurrency.getConcurrencyLimit(c, tag));
  }

  deleteConcurrencyLimit(tag: string): Promise<boolean> {
    return this.tx("Deleting a concurrency limit", (c) => concurrency.deleteConcurrencyLimit(c, tag));
  }

  resetConcurrencyLimit(tag: string): Promise<number | undefined> {
    return this.tx("Resetting a concurrency limit", (c) => concurrency.resetConcurrencyLimit(c, tag));
  }

  tryAcquireSlots(req: SlotRequest): Promise<SlotAcquisition> {
    return this.tx("Taking concurrency slots", (c) => concurrency.tryAcquireSlots(c, req));
  }

  renewLeases(owner: string, leaseMs: number): Promise<number> {
    return this.tx("Renewing concurrency slot leases", (c) => concurrency.renewLeases(c, owner, leaseMs));
  }

  releaseSlots(holderId: string): Promise<void> {
    return this.tx("Releasing concurrency slots", (c) => concurrency.releaseSlots(c, holderId));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/** A WHERE clause with numbered parameters: `?` in a condition becomes the next `$n`. */
/** The lines a log filter selects (`getLogs`, `countLogs`). */
function logWhere(f: LogFilter): Where {
  const q = new Where();
  if (f.flowRunId !== undefined) {
    if (f.includeTasks) {
      const p = q.param(f.flowRunId);
      q.add(`(flow_run_id = ${p} OR task_run_id IN (SELECT id FROM task_runs WHERE flow_run_id = ${p}))`);
    } else {
      q.add("flow_run_id = ?", f.flowRunId);
    }
  }
  if (f.taskRunId !== undefined) q.add("task_run_id = ?", f.taskRunId);
  if (f.minLevel !== undefined) q.add("level >= ?", f.minLevel);
  if (f.afterId !== undefined) q.add("id > ?", f.afterId);
  if (f.beforeId !== undefined) q.add("id < ?", f.beforeId);
  return q;
}

class Where {
  readonly params: unknown[] = [];
  private readonly conds: string[] = [];

  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  add(cond: string, ...values: unknown[]): void {
    let i = 0;
    this.conds.push(cond.replace(/\?/g, () => this.param(values[i++])));
  }

  /** state filter: a state type (any case) or a state name */
  stateIn(states: string[]): void {
    const types = this.param(states.map((s) => s.toUpperCase()));
    const names = this.param(states);
    this.conds.push(`(state_type = ANY(${types}::text[]) OR state_name = ANY(${names}::text[]))`);
  }

  sql(): string {
    return this.conds.length ? `WHERE ${this.conds.join(" AND ")}` : "";
  }
}
