/**
 * The in-memory run store: the whole RunStore interface over plain maps, for tests (the test
 * harness gives each harness a fresh one) and throwaway runs (`memory://NAME`). Nothing touches
 * the disk; everything is gone when the last handle on a database closes.
 *
 * Store objects opened on the same name share one database while any of them is open, as two
 * connections to one SQLite file would. Every method answers from the maps at once; rows go in
 * and come out as copies, so a caller can never change what is stored by mutating a row.
 */
import { FlowctlError } from "../../errors.ts";
import type {
  ConcurrencyLimitRow, ConcurrencySlotRow, CrashMark, FlowRunFilter, FlowRunRow, FlowRunWithTaskCounts, InputRow, LogFilter, LogRow, PruneResult,
  RunStatsRows, RunStore, SlotAcquisition, SlotRequest, StateRow, TaskRunFilter, TaskRunRow, WriteBatch, KeptResultRow, AttemptOutcomeRow,
} from "../types.ts";
import { COMPLETED_ELSEWHERE } from "../types.ts";
import { unpackStates } from "../packed-states.ts";
import { MemoryConcurrency } from "./concurrency.ts";
import { deleteFromDatabase, pruneDatabase, statsOf } from "./summaries.ts";
import * as pages from "./run-pages.ts";
import type { TaskRunGroupOptions, TaskRunGroupRow, TaskRunPage, TaskRunPageFilter } from "../types.ts";

function copyKept(r: KeptResultRow): KeptResultRow {
  return { ...r, payload: r.payload === null ? null : Buffer.from(r.payload) };
}

interface Stored<R> {
  row: R;
  /** insertion order (SQLite's rowid): ties in `created` sort by it */
  seq: number;
}

/** One database: what every store object opened on its name sees. */
export class MemoryDatabase {
  readonly flowRuns = new Map<string, Stored<FlowRunRow>>();
  readonly taskRuns = new Map<string, Stored<TaskRunRow>>();
  /** per run, per seq */
  readonly states = new Map<string, Map<number, StateRow>>();
  /** per task run, keyed `upstream\0parameter` */
  readonly inputs = new Map<string, Map<string, InputRow>>();
  logs: LogRow[] = [];
  /** kept results, per task run */
  readonly results = new Map<string, KeptResultRow>();
  /** cancel requests, per flow run */
  readonly cancellations = new Map<string, { message: string; requested: number }>();
  /** attempt outcomes, per attempt id */
  readonly outcomes = new Map<string, AttemptOutcomeRow>();
  nextSeq = 0;
  nextLogId = 1;
  readonly concurrency: MemoryConcurrency;
  refs = 0;

  constructor(readonly now: () => number) {
    this.concurrency = new MemoryConcurrency(now);
  }
}

const named = new Map<string, MemoryDatabase>();

export class MemoryStore implements RunStore {
  readonly kind = "memory" as const;
  readonly location: string;
  private closed = false;

  /**
   * A store on the database called `name`, shared with every other open store of that name
   * (a fresh one when none is open). `now` is the database's clock (slot leases, limit times).
   */
  static open(name: string, now: () => number = Date.now): MemoryStore {
    let db = named.get(name);
    if (!db) named.set(name, (db = new MemoryDatabase(now)));
    return new MemoryStore(db, name);
  }

  /** A store on a database of its own, shared with no one. */
  constructor(private readonly db: MemoryDatabase = new MemoryDatabase(Date.now), private readonly name?: string) {
    db.refs++;
    this.location = `memory://${name ?? "private"}`;
  }

  private check(): MemoryDatabase {
    if (this.closed) throw new FlowctlError("STORE_ERROR", `The run store at ${this.location} is closed`);
    return this.db;
  }

  writeBatchSync(batch: WriteBatch): void {
    const db = this.check();
    for (const r of batch.flowRuns) upsert(db, db.flowRuns, r);
    const putState = (s: StateRow) => {
      let m = db.states.get(s.runId);
      if (!m) db.states.set(s.runId, (m = new Map()));
      m.set(s.seq, { ...s });
    };
    for (const { states, ...r } of batch.taskRuns) {
      upsert(db, db.taskRuns, r);
      // its packed states (packed-states.ts) kept as the other stores' getStates give them back
      for (const s of unpackStates(r.id, states)) putState(s);
    }
    for (const s of batch.states) putState(s);
    for (const i of batch.inputs) {
      let m = db.inputs.get(i.taskRunId);
      if (!m) db.inputs.set(i.taskRunId, (m = new Map()));
      const key = `${i.upstreamTaskRunId}\0${i.parameter}`;
      if (!m.has(key)) m.set(key, { ...i });
    }
    for (const l of batch.logs) {
      const { id: _ignored, ...rest } = l;
      db.logs.push({ id: db.nextLogId++, ...rest });
    }
    for (const r of batch.results ?? []) db.results.set(r.taskRunId, copyKept(r));
  }

  async requestCancellation(flowRunId: string, message: string, at: number): Promise<void> {
    const db = this.check();
    if (!db.cancellations.has(flowRunId)) db.cancellations.set(flowRunId, { message, requested: at });
  }

  async getCancellation(flowRunId: string): Promise<{ message: string; requested: number } | undefined> {
    const c = this.check().cancellations.get(flowRunId);
    return c && { ...c };
  }

  async putAttemptOutcome(o: AttemptOutcomeRow): Promise<boolean> {
    const db = this.check();
    if (db.outcomes.has(o.attemptId)) return false;
    db.outcomes.set(o.attemptId, { ...o });
    return true;
  }

  async getAttemptOutcomes(attemptIds: readonly string[]): Promise<AttemptOutcomeRow[]> {
    const db = this.check();
    return attemptIds.flatMap((id) => {
      const o = db.outcomes.get(id);
      return o ? [{ ...o }] : [];
    });
  }

  async deleteAttemptOutcomes(attemptIds: readonly string[]): Promise<void> {
    const db = this.check();
    for (const id of attemptIds) db.outcomes.delete(id);
  }

  async beat(ids: readonly string[], b: { at: number }): Promise<FlowRunRow[]> {
    const db = this.check();
    const out: FlowRunRow[] = [];
    for (const id of ids) {
      const s = db.flowRuns.get(id);
      if (!s) continue;
      s.row = { ...s.row, heartbeat: b.at };
      out.push({ ...s.row });
    }
    return out;
  }

  async markCrashed(flowRunId: string, mark: CrashMark): Promise<boolean> {
    const db = this.check();
    const FINAL = ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"];
    const f = db.flowRuns.get(flowRunId);
    if (!f || FINAL.includes(f.row.stateType)) return false;
    const crash = <R extends FlowRunRow | TaskRunRow>(s: { row: R }, kind: "flow" | "task") => {
      s.row = { ...s.row, stateType: "CRASHED", stateName: "Crashed", stateMessage: mark.message, endTime: Math.max(mark.lastSeen, s.row.updated), updated: Math.max(mark.lastSeen, s.row.updated) + 1 };
      let m = db.states.get(s.row.id);
      if (!m) db.states.set(s.row.id, (m = new Map()));
      const seq = m.size ? Math.max(...m.keys()) + 1 : 0;
      m.set(seq, { runId: s.row.id, seq, runKind: kind, type: "CRASHED", name: "Crashed", message: mark.message, timestamp: mark.timestamp, scheduledTime: null, error: null });
    };
    crash(f, "flow");
    for (const t of db.taskRuns.values()) {
      if (t.row.flowRunId !== flowRunId || FINAL.includes(t.row.stateType)) continue;
      // a body a worker ran to its end (its reply recorded for the run's current attempt) completed
      const o = db.outcomes.get(`${t.row.id}.${t.row.runCount}`);
      if (o?.stateType !== "COMPLETED") {
        crash(t, "task");
        continue;
      }
      t.row = { ...t.row, stateType: "COMPLETED", stateName: "Completed", stateMessage: COMPLETED_ELSEWHERE, endTime: o.created, updated: Math.max(mark.lastSeen + 1, t.row.updated + 1, o.created) };
      const m = db.states.get(t.row.id) ?? new Map<number, StateRow>();
      db.states.set(t.row.id, m);
      const seq = m.size ? Math.max(...m.keys()) + 1 : 0;
      m.set(seq, { runId: t.row.id, seq, runKind: "task", type: "COMPLETED", name: "Completed", message: COMPLETED_ELSEWHERE, timestamp: o.created, scheduledTime: null, error: null });
    }
    return true;
  }

  async getKeptResults(flowRunId: string): Promise<KeptResultRow[]> {
    return Array.from(this.check().results.values()).filter((r) => r.flowRunId === flowRunId).map(copyKept);
  }

  async writeBatch(batch: WriteBatch): Promise<void> {
    this.writeBatchSync(batch);
  }

  async listFlowRuns(f: FlowRunFilter = {}): Promise<FlowRunRow[]> {
    const rows = filterFlowRuns(this.check(), f);
    const offset = f.offset ?? 0;
    return rows.slice(offset, offset + (f.limit ?? 100)).map((s) => ({ ...s.row }));
  }

  async getFlowRun(idOrName: string): Promise<FlowRunRow | undefined> {
    return byIdOrName(this.check().flowRuns, idOrName);
  }

  async listTaskRuns(f: TaskRunFilter = {}): Promise<TaskRunRow[]> {
    const db = this.check();
    const rows = Array.from(db.taskRuns.values()).filter(
      ({ row }) =>
        (f.flowRunId === undefined || row.flowRunId === f.flowRunId) &&
        matchesState(row, f.state) &&
        (f.taskName === undefined || row.taskName === f.taskName) &&
        hasTag(row.tags, f.tag),
    );
    rows.sort(f.flowRunId !== undefined ? oldestFirst : newestFirst);
    return rows.slice(0, f.limit ?? 10_000).map((s) => ({ ...s.row }));
  }

  async getTaskRun(idOrName: string): Promise<TaskRunRow | undefined> {
    return byIdOrName(this.check().taskRuns, idOrName);
  }

  async findRuns(ref: string, opts: { limit?: number } = {}): Promise<{ flowRuns: FlowRunRow[]; taskRuns: TaskRunRow[] }> {
    const db = this.check();
    const limit = opts.limit ?? 20;
    const pick = <R extends { id: string; name: string; created: number }>(map: Map<string, Stored<R>>): R[] =>
      Array.from(map.values())
        .filter(({ row }) => row.id.startsWith(ref) || row.name === ref)
        .sort(newestFirst)
        .slice(0, limit)
        .map((s) => ({ ...s.row }));
    return { flowRuns: pick(db.flowRuns), taskRuns: pick(db.taskRuns) };
  }

  async getStates(runId: string): Promise<StateRow[]> {
    const m = this.check().states.get(runId);
    if (!m) return [];
    return Array.from(m.values(), (s) => ({ ...s })).sort((a, b) => a.seq - b.seq);
  }

  async getInputs(taskRunId: string): Promise<InputRow[]> {
    return Array.from(this.check().inputs.get(taskRunId)?.values() ?? [], (i) => ({ ...i }));
  }

  async getLogs(f: LogFilter): Promise<LogRow[]> {
    return this.matchingLogs(f, f.offset ?? 0, f.limit ?? 100_000);
  }

  async countLogs(f: LogFilter): Promise<number> {
    return this.matchingLogs(f, 0, Infinity).length;
  }

  /** The lines `f` selects, in its order, at most `limit` after skipping `offset`. */
  private matchingLogs(f: LogFilter, offset: number, limit: number): LogRow[] {
    const db = this.check();
    let ofFlow: ((l: LogRow) => boolean) | undefined;
    if (f.flowRunId !== undefined) {
      const id = f.flowRunId;
      if (f.includeTasks) {
        const tasks = new Set<string>();
        for (const { row } of db.taskRuns.values()) if (row.flowRunId === id) tasks.add(row.id);
        ofFlow = (l) => l.flowRunId === id || (l.taskRunId !== null && tasks.has(l.taskRunId));
      } else {
        ofFlow = (l) => l.flowRunId === id;
      }
    }
    const out: LogRow[] = [];
    let skip = offset;
    for (const l of f.newestFirst ? [...db.logs].reverse() : db.logs) {
      if (out.length >= limit) break;
      if (ofFlow && !ofFlow(l)) continue;
      if (f.taskRunId !== undefined && l.taskRunId !== f.taskRunId) continue;
      if (f.minLevel !== undefined && l.level < f.minLevel) continue;
      if (f.afterId !== undefined && l.id! <= f.afterId) continue;
      if (f.beforeId !== undefined && l.id! >= f.beforeId) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      out.push({ ...l });
    }
    return out;
  }


  async taskRunGroups(flowRunId: string, opts?: TaskRunGroupOptions): Promise<TaskRunGroupRow[]> {
    return pages.taskRunGroups(this.check(), flowRunId, opts);
  }

  async pageTaskRuns(f: TaskRunPageFilter): Promise<TaskRunPage> {
    return pages.pageTaskRuns(this.check(), f);
  }

  async taskRunsUpdatedSince(flowRunId: string, since: number, limit: number): Promise<{ taskRuns: TaskRunRow[]; maxUpdated: number }> {
    return pages.taskRunsUpdatedSince(this.check(), flowRunId, since, limit);
  }


  async listFlowRunsWithTaskCounts(f: FlowRunFilter = {}): Promise<FlowRunWithTaskCounts[]> {
    const runs = await this.listFlowRuns(f);
    const counts = new Map<string, Partial<Record<string, number>>>(runs.map((r) => [r.id, {}]));
    for (const { row } of this.db.taskRuns.values()) {
      const c = row.flowRunId === null ? undefined : counts.get(row.flowRunId);
      if (c) c[row.stateType] = (c[row.stateType] ?? 0) + 1;
    }
    return runs.map((r) => ({ ...r, taskCounts: counts.get(r.id)! }));
  }

  async statsSince(since: number, opts: { bucketMs: number; slowest?: number }): Promise<RunStatsRows> {
    return statsOf(this.check(), since, opts.bucketMs, opts.slowest ?? 10);
  }

  async deleteFlowRuns(ids: readonly string[]): Promise<PruneResult> {
    return deleteFromDatabase(this.check(), ids);
  }

  async pruneOlderThan(cutoff: number): Promise<PruneResult> {
    return pruneDatabase(this.check(), cutoff);
  }

  async createConcurrencyLimit(tag: string, limit: number): Promise<{ created: boolean }> {
    return this.check().concurrency.create(tag, limit);
  }

  async listConcurrencyLimits(): Promise<ConcurrencyLimitRow[]> {
    return this.check().concurrency.list();
  }

  async getConcurrencyLimit(tag: string): Promise<(ConcurrencyLimitRow & { slots: ConcurrencySlotRow[] }) | undefined> {
    return this.check().concurrency.get(tag);
  }

  async deleteConcurrencyLimit(tag: string): Promise<boolean> {
    return this.check().concurrency.delete(tag);
  }

  async resetConcurrencyLimit(tag: string): Promise<number | undefined> {
    return this.check().concurrency.reset(tag);
  }

  async tryAcquireSlots(req: SlotRequest): Promise<SlotAcquisition> {
    return this.check().concurrency.tryAcquire(req);
  }

  async renewLeases(owner: string, leaseMs: number): Promise<number> {
    return this.check().concurrency.renew(owner, leaseMs);
  }

  async releaseSlots(holderId: string): Promise<void> {
    this.check().concurrency.release(holderId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (--this.db.refs === 0 && this.name !== undefined && named.get(this.name) === this.db) named.delete(this.name);
  }
}

function upsert<R extends { id: string; created: number; updated: number }>(db: MemoryDatabase, map: Map<string, Stored<R>>, row: R): void {
  const old = map.get(row.id);
  if (!old) map.set(row.id, { row: { ...row }, seq: db.nextSeq++ });
  // the latest snapshot wins (ties: the later write); `created` never changes
  else if (row.updated >= old.row.updated) old.row = { ...row, created: old.row.created };
}

const newestFirst = (a: Stored<{ created: number }>, b: Stored<{ created: number }>) => b.row.created - a.row.created || b.seq - a.seq;
const oldestFirst = (a: Stored<{ created: number }>, b: Stored<{ created: number }>) => a.row.created - b.row.created || a.seq - b.seq;

function matchesState(row: { stateType: string; stateName: string }, states: string[] | undefined): boolean {
  if (!states?.length) return true;
  return states.some((s) => row.stateType === s.toUpperCase() || row.stateName === s);
}

function hasTag(tags: string, tag: string | undefined): boolean {
  if (tag === undefined) return true;
  try {
    const list = JSON.parse(tags) as unknown;
    return Array.isArray(list) && list.includes(tag);
  } catch {
    return false;
  }
}

function filterFlowRuns(db: MemoryDatabase, f: FlowRunFilter): Stored<FlowRunRow>[] {
  const rows = Array.from(db.flowRuns.values()).filter(
    ({ row }) =>
      matchesState(row, f.state) &&
      (f.flowName === undefined || row.flowName === f.flowName) &&
      hasTag(row.tags, f.tag) &&
      (f.since === undefined || row.created >= f.since) &&
      (f.until === undefined || row.created <= f.until) &&
      (f.parentFlowRunId === undefined || row.parentFlowRunId === f.parentFlowRunId),
  );
  return rows.sort(newestFirst);
}

function byIdOrName<R extends { id: string; name: string; created: number }>(map: Map<string, Stored<R>>, idOrName: string): R | undefined {
  const exact = map.get(idOrName);
  if (exact) return { ...exact.row };
  let best: Stored<R> | undefined;
  for (const s of map.values()) if (s.row.name === idOrName && (!best || newestFirst(s, best) < 0)) best = s;
  return best && { ...best.row };
}
