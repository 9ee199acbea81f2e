/**
 * The embedded run store: one SQLite file in WAL mode, written through better-sqlite3.
 * Several processes may write the same file: every batch is one IMMEDIATE transaction and a
 * busy database is waited on (busy_timeout), so concurrent `flowctl run`s lose nothing.
 */
import Database from "better-sqlite3";
import { FlowctlError } from "../../errors.ts";
import { openSqliteFile, type SqliteOpenOptions } from "./open.ts";
import { createBatchWriter, FLOW_COLS, packBatch, TASK_COLS } from "./batch-writer.mjs";
import { WriteThread } from "./write-thread.ts";
import { lockedCall } from "./lock-wait.mjs";
import { DEFAULT_LOCK_TIMEOUT_MS } from "./open.ts";
import type {
  FlowRunFilter, FlowRunRow, InputRow, LogFilter, LogRow, RunStore, StateRow, TaskRunFilter, TaskRunRow, WriteBatch,
} from "../types.ts";
import type { AttemptOutcomeRow, CrashMark, FlowRunWithTaskCounts, KeptResultRow, PruneResult, RunStatsRows } from "../types.ts";
import type { TaskRunGroupOptions, TaskRunGroupRow, TaskRunPage, TaskRunPageFilter } from "../types.ts";
import { keptRow } from "../kept-rows.ts";
import { mergeStates } from "../packed-states.ts";
import { logWhere } from "./run-queries.ts";
import { OUTCOME_COLS, outcomeRow } from "../outcome-rows.ts";
import { statsSince, withTaskCounts } from "./run-summaries.ts";
import * as pages from "./run-pages.ts";
import { deleteFlowRuns, pruneOlderThan } from "./prune.ts";
import * as concurrency from "./concurrency.ts";
import * as liveness from "./liveness.ts";
import type { ConcurrencyLimitRow, ConcurrencySlotRow, SlotAcquisition, SlotRequest } from "../types.ts";

type Db = Database.Database;



/**
 * The kept results of a top-level flow run: in its task runs' rows and its subflow runs' (schema
 * version 10, `batch-writer.mjs`), and as task_run_results rows (written before, or without their
 * run's row); a run's own row wins.
 */
const KEPT_RESULTS_SQL = `WITH RECURSIVE tree(id) AS (SELECT @root UNION ALL SELECT f.id FROM flow_runs f JOIN tree ON f.parent_flow_run_id = tree.id)
SELECT t.id AS task_run_id, @root AS flow_run_id, t.kept_inputs AS inputs_key, t.kept_source AS source_hash, t.kept_kind AS kind,
  t.kept_payload AS payload, t.kept_message AS message, t.kept_created AS created
FROM task_runs t WHERE t.flow_run_id IN (SELECT id FROM tree) AND t.kept_kind IS NOT NULL
UNION ALL
SELECT r.task_run_id, r.flow_run_id, r.inputs_key, r.source_hash, r.kind, r.payload, r.message, r.created FROM task_run_results r
WHERE r.flow_run_id = @root AND NOT EXISTS (SELECT 1 FROM task_runs t WHERE t.id = r.task_run_id AND t.kept_kind IS NOT NULL)`;

export class SqliteStore implements RunStore {
  readonly kind = "sqlite" as const;
  readonly location: string;
  private readonly db: Db;
  private writeThread: WriteThread | undefined;
  private writeInThread: ((batch: WriteBatch) => void) | undefined;
  private hereWriter: ReturnType<typeof createBatchWriter> | undefined;
  /** ms a write waits on a lock another process holds (PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS) */
  private readonly lockMs: number;

  constructor(path: string, opts: SqliteOpenOptions = {}) {
    this.location = path;
    this.lockMs = opts.busyTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    this.db = openSqliteFile(path, opts);
    // writes go to a thread of their own (the engine never waits on the disk), except for an
    // in-memory database, which only this connection can see
    if (path === ":memory:") {
      const write = createBatchWriter(this.db);
      this.writeInThread = (batch) => write(packBatch(batch));
    } else if (!opts.readOnly) this.writeThread = new WriteThread(path, this.lockMs);
  }

  /** A call on this connection that may wait on another process's lock: said after 2 s, bounded by the lock timeout (lock-wait.mjs). */
  private locked<T>(fn: () => T): T {
    return this.location === ":memory:" ? fn() : lockedCall(this.db, this.location, this.lockMs, fn);
  }

  private readOnlyError(): FlowctlError {
    return new FlowctlError("STORE_ERROR", `The run store at ${this.location} is open read-only`);
  }

  private closedError(): FlowctlError {
    return new FlowctlError("STORE_ERROR", `The run store at ${this.location} is closed`);
  }

  writeBatchSync(batch: WriteBatch): void {
    if (!this.db.open) throw this.closedError();
    // with nothing in flight on the write thread, this connection writes at once (no wait for
    // a thread that may still be starting); else the thread applies it after what it holds
    if (this.writeThread?.busy) this.writeThread.writeSync(batch);
    else if (this.writeThread) this.writeHere(batch);
    else if (this.writeInThread) this.writeInThread(batch);
    else throw this.readOnlyError();
  }

  /** Write on this connection (the thread has nothing in flight, or is not up yet). */
  private writeHere(batch: WriteBatch): void {
    const write = (this.hereWriter ??= createBatchWriter(this.db));
    const packed = packBatch(batch);
    this.locked(() => write(packed));
  }

  async beat(ids: readonly string[], b: { at: number }): Promise<FlowRunRow[]> {
    if (!this.db.open) throw this.closedError();
    if (!this.writeThread && !this.writeInThread) return [];
    // on the write thread when there is one: this thread never waits on the write lock for a beat
    const rows = this.writeThread ? await this.writeThread.beat(FLOW_COLS, ids, b.at) : this.locked(() => liveness.beat(this.db, FLOW_COLS, ids, b.at));
    return rows.map(flowRow);
  }

  async markCrashed(flowRunId: string, mark: CrashMark): Promise<boolean> {
    if (!this.db.open) throw this.closedError();
    if (!this.writeThread && !this.writeInThread) return false;
    return this.locked(() => liveness.markCrashed(this.db, flowRunId, mark));
  }

  async writeBatch(batch: WriteBatch): Promise<void> {
    if (!this.db.open) throw this.closedError();
    // until the thread is up (it opens its own connection first), this connection writes, so
    // the first moments of a run are not held back by it
    if (this.writeThread && !this.writeThread.ready && !this.writeThread.busy) return this.writeHere(batch);
    if (this.writeThread) return this.writeThread.write(batch);
    if (!this.writeInThread) throw this.readOnlyError();
    this.writeInThread(batch);
  }

  pollWrites(): void {
    this.writeThread?.pollApplied();
  }

  async listFlowRuns(f: FlowRunFilter = {}): Promise<FlowRunRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.state?.length) {
      where.push(`(state_type IN (${f.state.map(() => "?").join(",")}) OR state_name IN (${f.state.map(() => "?").join(",")}))`);
      params.push(...f.state.map((s) => s.toUpperCase()), ...f.state);
    }
    if (f.flowName !== undefined) { where.push("flow_name = ?"); params.push(f.flowName); }
    if (f.tag !== undefined) { where.push("EXISTS (SELECT 1 FROM json_each(flow_runs.tags) WHERE value = ?)"); params.push(f.tag); }
    if (f.since !== undefined) { where.push("created >= ?"); params.push(f.since); }
    if (f.until !== undefined) { where.push("created <= ?"); params.push(f.until); }
    if (f.parentFlowRunId === null) where.push("parent_flow_run_id IS NULL");
    else if (f.parentFlowRunId !== undefined) { where.push("parent_flow_run_id = ?"); params.push(f.parentFlowRunId); }
    const sql = `SELECT ${FLOW_COLS} FROM flow_runs ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?`;
    params.push(f.limit ?? 100, f.offset ?? 0);
    return (this.db.prepare(sql).all(...params) as Record<string, unknown>[]).map(flowRow);
  }

  async getFlowRun(idOrName: string): Promise<FlowRunRow | undefined> {
    const row = this.db
      .prepare(`SELECT ${FLOW_COLS} FROM flow_runs WHERE id = ? OR name = ? ORDER BY (id = ?) DESC, created DESC LIMIT 1`)
      .get(idOrName, idOrName, idOrName) as Record<string, unknown> | undefined;
    return row && flowRow(row);
  }

  async listTaskRuns(f: TaskRunFilter = {}): Promise<TaskRunRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.flowRunId !== undefined) { where.push("flow_run_id = ?"); params.push(f.flowRunId); }
    if (f.state?.length) {
      where.push(`(state_type IN (${f.state.map(() => "?").join(",")}) OR state_name IN (${f.state.map(() => "?").join(",")}))`);
      params.push(...f.state.map((s) => s.toUpperCase()), ...f.state);
    }
    if (f.taskName !== undefined) { where.push("task_name = ?"); params.push(f.taskName); }
    if (f.tag !== undefined) { where.push("EXISTS (SELECT 1 FROM json_each(task_runs.tags) WHERE value = ?)"); params.push(f.tag); }
    const order = f.flowRunId !== undefined ? "ORDER BY created ASC, rowid ASC" : "ORDER BY created DESC, rowid DESC";
    const sql = `SELECT ${TASK_COLS} FROM task_runs ${where.length ? "WHERE " + where.join(" AND ") : ""} ${order} LIMIT ?`;
    params.push(f.limit ?? 10_000);
    return (this.db.prepare(sql).all(...params) as Record<string, unknown>[]).map(taskRow);
  }

  async getTaskRun(idOrName: string): Promise<TaskRunRow | undefined> {
    const row = this.db
      .prepare(`SELECT ${TASK_COLS} FROM task_runs WHERE id = ? OR name = ? ORDER BY (id = ?) DESC, created DESC LIMIT 1`)
      .get(idOrName, idOrName, idOrName) as Record<string, unknown> | undefined;
    return row && taskRow(row);
  }

  async findRuns(ref: string, opts: { limit?: number } = {}): Promise<{ flowRuns: FlowRunRow[]; taskRuns: TaskRunRow[] }> {
    // a prefix as a range on the primary key (text compares byte-wise: U+FFFF sorts after every id character)
    const where = "WHERE id = ? OR name = ? OR (id >= ? AND id < ?) ORDER BY created DESC, rowid DESC LIMIT ?";
    const args = [ref, ref, ref, ref + "\uffff", opts.limit ?? 20];
    return {
      flowRuns: (this.db.prepare(`SELECT ${FLOW_COLS} FROM flow_runs ${where}`).all(...args) as Record<string, unknown>[]).map(flowRow),
      taskRuns: (this.db.prepare(`SELECT ${TASK_COLS} FROM task_runs ${where}`).all(...args) as Record<string, unknown>[]).map(taskRow),
    };
  }

  async getStates(runId: string): Promise<StateRow[]> {
    const rows = this.db
      .prepare("SELECT run_id, seq, run_kind, type, name, message, timestamp, scheduled_time, error FROM run_states WHERE run_id = ? ORDER BY seq")
      .all(runId) as Record<string, unknown>[];
    const packed = this.db.prepare("SELECT states FROM task_runs WHERE id = ?").get(runId) as { states: string | null } | undefined;
    const stored = rows.map((r): StateRow => ({
      runId: r.run_id as string,
      seq: r.seq as number,
      runKind: r.run_kind as "flow" | "task",
      type: r.type as StateRow["type"],
      name: r.name as string,
      message: (r.message as string | null) ?? null,
      timestamp: Number(r.timestamp),
      scheduledTime: r.scheduled_time == null ? null : Number(r.scheduled_time),
      error: (r.error as string | null) ?? null,
    }));
    return mergeStates(stored, runId, packed?.states);
  }

  async requestCancellation(flowRunId: string, message: string, at: number): Promise<void> {
    this.locked(() => this.db.prepare("INSERT OR IGNORE INTO run_cancellations (flow_run_id, message, requested) VALUES (?, ?, ?)").run(flowRunId, message, at));
  }

  async getCancellation(flowRunId: string): Promise<{ message: string; requested: number } | undefined> {
    const r = this.db.prepare("SELECT message, requested FROM run_cancellations WHERE flow_run_id = ?").get(flowRunId) as
      | { message: string; requested: number }
      | undefined;
    return r && { message: r.message, requested: Number(r.requested) };
  }

  async getKeptResults(flowRunId: string): Promise<KeptResultRow[]> {
    return (this.db.prepare(KEPT_RESULTS_SQL).all({ root: flowRunId }) as Record<string, unknown>[]).map(keptRow);
  }

  async putAttemptOutcome(o: AttemptOutcomeRow): Promise<boolean> {
    const sql = `INSERT OR IGNORE INTO attempt_outcomes (${OUTCOME_COLS}) VALUES (?, ?, ?, ?, ?)`;
    return this.locked(() => this.db.prepare(sql).run(o.attemptId, o.taskRunId, o.stateType, o.outcome, o.created).changes > 0);
  }

  async getAttemptOutcomes(attemptIds: readonly string[]): Promise<AttemptOutcomeRow[]> {
    if (attemptIds.length === 0) return [];
    const sql = `SELECT ${OUTCOME_COLS} FROM attempt_outcomes WHERE attempt_id IN (SELECT value FROM json_each(?))`;
    return (this.db.prepare(sql).all(JSON.stringify(attemptIds)) as Record<string, unknown>[]).map(outcomeRow);
  }

  async deleteAttemptOutcomes(attemptIds: readonly string[]): Promise<void> {
    if (attemptIds.length === 0) return;
    this.locked(() => this.db.prepare("DELETE FROM attempt_outcomes WHERE attempt_id IN (SELECT value FROM json_each(?))").run(JSON.stringify(attemptIds)));
  }

  async getInputs(taskRunId: string): Promise<InputRow[]> {
    const rows = this.db
      .prepare("SELECT task_run_id, upstream_task_run_id, parameter FROM task_run_inputs WHERE task_run_id = ?")
      .all(taskRunId) as Record<string, string>[];
    return rows.map((r) => ({ taskRunId: r.task_run_id!, upstreamTaskRunId: r.upstream_task_run_id!, parameter: r.parameter! }));
  }

  async getLogs(f: LogFilter): Promise<LogRow[]> {
    const w = logWhere(this.db, f);
    const sql = `SELECT id, flow_run_id, task_run_id, level, source, message, timestamp FROM logs ${w.sql} ORDER BY id ${f.newestFirst ? "DESC" : "ASC"} LIMIT ? OFFSET ?`;
    const params = [...w.params, f.limit ?? 100_000, f.offset ?? 0];
    return (this.db.prepare(sql).all(...params) as Record<string, unknown>[]).map((r) => ({
      id: Number(r.id),
      flowRunId: (r.flow_run_id as string | null) ?? null,
      taskRunId: (r.task_run_id as string | null) ?? null,
      level: Number(r.level),
      source: r.source as string,
      message: r.message as string,
      timestamp: Number(r.timestamp),
    }));
  }

  async countLogs(f: LogFilter): Promise<number> {
    const w = logWhere(this.db, f);
    return Number((this.db.prepare(`SELECT COUNT(*) AS n FROM logs ${w.sql}`).get(...w.params) as { n: number }).n);
  }

  async taskRunGroups(flowRunId: string, opts?: TaskRunGroupOptions): Promise<TaskRunGroupRow[]> {
    return pages.taskRunGroups(this.db, flowRunId, opts);
  }

  async pageTaskRuns(f: TaskRunPageFilter): Promise<TaskRunPage> {
    return pages.pageTaskRuns(this.db, TASK_COLS, taskRow, f);
  }

  async taskRunsUpdatedSince(flowRunId: string, since: number, limit: number): Promise<{ taskRuns: TaskRunRow[]; maxUpdated: number }> {
    return pages.taskRunsUpdatedSince(this.db, TASK_COLS, taskRow, flowRunId, since, limit);
  }


  async listFlowRunsWithTaskCounts(f: FlowRunFilter = {}): Promise<FlowRunWithTaskCounts[]> {
    return withTaskCounts(this.db, await this.listFlowRuns(f));
  }

  async statsSince(since: number, opts: { bucketMs: number; slowest?: number }): Promise<RunStatsRows> {
    return statsSince(this.db, since, opts.bucketMs, opts.slowest ?? 10);
  }

  async pruneOlderThan(cutoff: number): Promise<PruneResult> {
    return this.locked(() => pruneOlderThan(this.db, cutoff));
  }

  async deleteFlowRuns(ids: readonly string[]): Promise<PruneResult> {
    return this.locked(() => deleteFlowRuns(this.db, ids));
  }

  async createConcurrencyLimit(tag: string, limit: number): Promise<{ created: boolean }> {
    return this.locked(() => concurrency.createConcurrencyLimit(this.db, tag, limit));
  }

  async listConcurrencyLimits(): Promise<ConcurrencyLimitRow[]> {
    return concurrency.listConcurrencyLimits(this.db);
  }

  async getConcurrencyLimit(tag: string): Promise<(ConcurrencyLimitRow & { slots: ConcurrencySlotRow[] }) | undefined> {
    return concurrency.getConcurrencyLimit(this.db, tag);
  }

  async deleteConcurrencyLimit(tag: string): Promise<boolean> {
    return this.locked(() => concurrency.deleteConcurrencyLimit(this.db, tag));
  }

  async resetConcurrencyLimit(tag: string): Promise<number | undefined> {
    return this.locked(() => concurrency.resetConcurrencyLimit(this.db, tag));
  }

  async tryAcquireSlots(req: SlotRequest): Promise<SlotAcquisition> {
    return this.locked(() => concurrency.tryAcquireSlots(this.db, req));
  }

  async renewLeases(owner: string, leaseMs: number): Promise<number> {
    return this.locked(() => concurrency.renewLeases(this.db, owner, leaseMs));
  }

  async releaseSlots(holderId: string): Promise<void> {
    this.locked(() => concurrency.releaseSlots(this.db, holderId));
  }

  /** @internal for store-level features (prune, concurrency limits) that need raw access */
  get database(): Db {
    return this.db;
  }

  async close(): Promise<void> {
    const thread = this.writeThread;
    this.writeThread = undefined;
    await thread?.close();
    if (this.db.open) this.db.close();
  }
}



const num = (v: unknown) => (v == null ? null : Number(v));

function flowRow(r: Record<string, unknown>): FlowRunRow {
  return {
    id: r.id as string, name: r.name as string, flowName: r.flow_name as string, flowVersion: (r.flow_version as string | null) ?? null,
    parentFlowRunId: (r.parent_flow_run_id as string | null) ?? null, parentTaskRunId: (r.parent_task_run_id as string | null) ?? null,
    parameters: r.parameters as string, tags: r.tags as string, stateType: r.state_type as FlowRunRow["stateType"],
    stateName: r.state_name as string, stateMessage: (r.state_message as string | null) ?? null, runCount: Number(r.run_count),
    created: Number(r.created), startTime: num(r.start_time), endTime: num(r.end_time), updated: Number(r.updated),
    entrypoint: (r.entrypoint as string | null) ?? null, pid: num(r.pid), host: (r.host as string | null) ?? null, heartbeat: num(r.heartbeat),
  };
}

function taskRow(r: Record<string, unknown>): TaskRunRow {
  return {
    id: r.id as string, name: r.name as string, taskName: r.task_name as string, taskKey: r.task_key as string,
    flowRunId: (r.flow_run_id as string | null) ?? null, parentTaskRunId: (r.parent_task_run_id as string | null) ?? null,
    parameters: r.parameters as string, tags: r.tags as string, stateType: r.state_type as TaskRunRow["stateType"],
    stateName: r.state_name as string, stateMessage: (r.state_message as string | null) ?? null, runCount: Number(r.run_count),
    cacheKey: (r.cache_key as string | null) ?? null, created: Number(r.created), startTime: num(r.start_time),
    endTime: num(r.end_time), updated: Number(r.updated),
  };
}
