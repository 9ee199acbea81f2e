/**
 * The background writer. The engine records run changes in memory and tells the writer; the
 * writer turns them into rows and writes them to the store in batches, one transaction each:
 *
 *   idle ──(first change)──▶ scheduled ──(timer or size threshold)──▶ writing ──▶ idle
 *
 * Runs are marked dirty (their latest snapshot is written once per batch, however many times
 * they changed); states, upstream links and logs are appended. A failed write keeps the batch
 * and is retried on the next flush, so nothing is lost while the process lives. `flush()`
 * writes everything pending; `flushSync()` does the same synchronously where the store allows
 * (SQLite), for the process's last moments; it also waits for batches already handed to the
 * write thread, so nothing is in flight when it returns.
 *
 * Heartbeat (liveness, see `liveness.ts`): the flow runs the engine marks live (`markLive` …
 * `markDone`) get their `heartbeat` refreshed every HEARTBEAT_INTERVAL_MS while the process
 * lives, and each beat reads their rows back from the store. Whoever needs to hear from the
 * store about a live run subscribes with `onHeartbeat(fn)`: `fn` gets those rows after every
 * beat (e.g. a flag another process set on the run). The timer never holds the process open,
 * and a beat that fails (store unreachable) is skipped silently.
 */
import { logHub } from "../logging/logger.ts";
import type { LogRecord } from "../logging/record.ts";
import { getStore, onStoreClose } from "./index.ts";
import { HEARTBEAT_INTERVAL_MS, thisHost } from "./liveness.ts";
import type { FlowRunRow, InputRow, KeptResultRow, LogRow, RunStore, StateRow, TaskRunRow, WriteBatch } from "./types.ts";

export interface Persistable<R> {
  readonly id: string;
  toRow(): R;
}

const FLUSH_INTERVAL_MS = 200;
const FLUSH_THRESHOLD = 2000;
/**
 * Rows (and batches) left unacknowledged before the engine waits for the store: bounds memory
 * whatever N is. Rows, not only batches: a handOff before each synchronous task body posts one
 * small batch per run, and four of those would hold a flow to the write thread's wake-ups.
 */
const MAX_UNACKNOWLEDGED_ROWS = 4 * FLUSH_THRESHOLD;
const MAX_UNACKNOWLEDGED = 256;
/** Task runs let go at once when the store has kept up (see `admit`). */
const RELEASE_STEP = 256;
const noop = () => undefined;

export class StoreWriter {
  private flowRuns = new Map<string, Persistable<FlowRunRow>>();
  private taskRuns = new Map<string, Persistable<TaskRunRow>>();
  private states: StateRow[] = [];
  private inputs: InputRow[] = [];
  private logs: LogRow[] = [];
  private results: KeptResultRow[] = [];
  private pending = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private opening = false;
  private store: RunStore | undefined;
  private reportedError = false;
  /** Where the writer sends rows; replaced in tests. */
  storeProvider: () => Promise<RunStore> = getStore;
  /** Where the writer's warnings go (stderr; tests capture them). */
  notices: { write(line: string): void } = { write: (line) => void process.stderr.write(line) };
  enabled = true;

  /** `exitHooks: false`: nothing to write at process exit (a test harness's writer, over memory). */
  constructor(opts: { exitHooks?: boolean } = {}) {
    if (opts.exitHooks === false) this.exitHooked = true;
  }

  touchFlowRun(run: Persistable<FlowRunRow>): void {
    if (!this.enabled) return;
    this.flowRuns.set(run.id, run);
    this.bump();
  }

  touchTaskRun(run: Persistable<TaskRunRow>): void {
    if (!this.enabled) return;
    this.taskRuns.set(run.id, run);
    this.bump();
  }

  addState(row: StateRow): void {
    if (!this.enabled) return;
    this.states.push(row);
    this.bump();
  }

  addInput(row: InputRow): void {
    if (!this.enabled) return;
    this.inputs.push(row);
    this.bump();
  }

  /** A completed task run's kept result (for `runs retry`). */
  addResult(row: KeptResultRow): void {
    if (!this.enabled) return;
    this.results.push(row);
    this.bump();
  }

  addLog(rec: LogRecord): void {
    if (!this.enabled) return;
    this.logs.push({
      flowRunId: rec.flowRunId ?? null,
      taskRunId: rec.taskRunId ?? null,
      level: rec.level,
      source: rec.source,
      message: rec.message,
      timestamp: rec.timestamp,
    });
    this.bump();
  }

  get hasPending(): boolean {
    return this.pending > 0;
  }

  /**
   * Hand what is recorded to the store now, without waiting (the engine calls this before a
   * synchronous task body, which may hold the event loop for long: the write thread then has
   * every state that came before it).
   */
  handOff(): void {
    if (this.pending > 0 && this.store) this.dispatch();
  }

  private readonly live = new Set<string>();
  private readonly beatListeners = new Set<(rows: FlowRunRow[]) => void>();
  private beatTimer: NodeJS.Timeout | undefined;
  private beating = false;

  /** Keep this flow run's heartbeat fresh until `markDone`. */
  markLive(flowRunId: string): void {
    if (!this.enabled) return;
    this.live.add(flowRunId);
    if (!this.beatTimer) {
      this.beatTimer = setInterval(() => void this.beat(), HEARTBEAT_INTERVAL_MS);
      this.beatTimer.unref();
    }
  }

  markDone(flowRunId: string): void {
    this.live.delete(flowRunId);
    if (this.live.size === 0 && this.beatTimer) {
      clearInterval(this.beatTimer);
      this.beatTimer = undefined;
    }
  }

  /** Be given the live runs' rows after every heartbeat; returns the unsubscribe function. */
  onHeartbeat(fn: (rows: FlowRunRow[]) => void): () => void {
    this.beatListeners.add(fn);
    return () => this.beatListeners.delete(fn);
  }

  /** One heartbeat now (the timer calls it; tests may too). */
  async beat(): Promise<void> {
    if (this.beating || this.live.size === 0 || !this.store) return;
    this.beating = true;
    try {
      const rows = await this.store.beat([...this.live], { at: Date.now(), pid: process.pid, host: thisHost() });
      for (const fn of this.beatListeners) {
        try {
          fn(rows);
        } catch {
          // a listener's failure is its own
        }
      }
    } catch {
      // store unreachable: the next beat tries again
    } finally {
      this.beating = false;
    }
  }

  /**
   * Too many batches are waiting for the store: the engine holds new task runs back (`admit()`,
   * backpressure). Each batch is kept until the store acknowledges it, and a flow that runs on
   * microtasks alone never lets an acknowledgement in: without this, every batch would stay in
   * memory until the flow ends (and a slow store would fall behind without bound).
   */
  get congested(): boolean {
    return this.unackedRows >= MAX_UNACKNOWLEDGED_ROWS || this.inflight.size >= MAX_UNACKNOWLEDGED;
  }

  /** rows in the batches handed to the store and not yet acknowledged */
  private unackedRows = 0;

  /** task runs held back by `admit()`, first in first out (`waitHead` is the next to go) */
  private waiters: (() => void)[] = [];
  private waitHead = 0;
  private releaseScheduled = false;

  /**
   * Resolves when a new task run may start: at once (undefined) unless the store is congested or
   * others wait before it. Waiters go in the order they came, at most RELEASE_STEP at a time: a
   * `.map` of 100,000 runs must not wake every waiting run on every acknowledgement (each would
   * find the store congested again: quadratic).
   */
  admit(): Promise<void> | undefined {
    if (this.waitHead === this.waiters.length && !this.congested) return undefined;
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      this.scheduleRelease();
    });
  }

  /** Release waiters while the store keeps up, RELEASE_STEP per turn of the event loop. */
  private release = (): void => {
    this.releaseScheduled = false;
    let n = 0;
    while (this.waitHead < this.waiters.length && n++ < RELEASE_STEP && !this.congested) {
      const resolve = this.waiters[this.waitHead]!;
      this.waiters[this.waitHead++] = noop;
      resolve();
    }
    if (this.waitHead === this.waiters.length) {
      this.waiters = [];
      this.waitHead = 0;
    } else if (this.waitHead > 4096 && this.waitHead * 2 > this.waiters.length) {
      this.waiters = this.waiters.slice(this.waitHead);
      this.waitHead = 0;
    }
    // the released runs go as far as they can on microtasks; the next step comes after them
    if (this.waitHead < this.waiters.length && !this.congested) this.scheduleRelease();
  };

  private scheduleRelease(): void {
    if (this.releaseScheduled || this.congested) return;
    this.releaseScheduled = true;
    setImmediate(this.release);
  }

  private settled(write: Promise<void>, rows: number): void {
    this.inflight.delete(write);
    this.unackedRows -= rows;
    if (this.waitHead < this.waiters.length) this.scheduleRelease();
  }

  private exitHooked = false;

  /** Whatever the process does last, what was recorded is written: asynchronously when the
   * event loop empties, synchronously (where the store allows) at exit. */
  private hookExit(): void {
    this.exitHooked = true;
    process.on("beforeExit", () => {
      if (this.pending > 0) void this.flush().catch(() => undefined);
    });
    process.on("exit", () => {
      if (this.pending > 0 || this.inflight.size > 0) this.flushSync();
    });
  }

  private bump(): void {
    if (!this.exitHooked) this.hookExit();
    this.pending++;
    if (this.pending >= FLUSH_THRESHOLD) {
      // Dispatched at once, without waiting for earlier batches: a flow that runs on
      // microtasks alone never lets a timer or an acknowledgement through until it ends.
      if (this.store) this.dispatch();
      else if (!this.opening) void this.flush().catch(() => undefined);
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush().catch(() => undefined);
      }, FLUSH_INTERVAL_MS);
      this.timer.unref();
    }
  }

  private takeBatch(): WriteBatch | undefined {
    if (this.pending === 0) return undefined;
    const batch: WriteBatch = {
      flowRuns: Array.from(this.flowRuns.values(), (r) => r.toRow()),
      taskRuns: Array.from(this.taskRuns.values(), (r) => r.toRow()),
      states: this.states,
      inputs: this.inputs,
      logs: this.logs,
      results: this.results,
    };
    this.flowRuns = new Map();
    this.taskRuns = new Map();
    this.states = [];
    this.inputs = [];
    this.logs = [];
    this.results = [];
    this.pending = 0;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    return batch;
  }

  /** Put a batch that could not be written back in front of what came since. */
  private restore(batch: WriteBatch): void {
    for (const r of batch.flowRuns) if (!this.flowRuns.has(r.id)) this.flowRuns.set(r.id, { id: r.id, toRow: () => r });
    for (const r of batch.taskRuns) if (!this.taskRuns.has(r.id)) this.taskRuns.set(r.id, { id: r.id, toRow: () => r });
    this.states = batch.states.concat(this.states);
    this.inputs = batch.inputs.concat(this.inputs);
    this.logs = batch.logs.concat(this.logs);
    const results = batch.results ?? [];
    this.results = results.concat(this.results);
    this.pending += batchRows(batch);
  }

  /** Hand what is pending to the store now (the store is open); the write goes on in the background. */
  private dispatch(): void {
    const batch = this.takeBatch();
    if (!batch) return;
    const write = this.store!.writeBatch(batch).then(
      () => {
        if (this.reportedError) {
          // the outage cost nothing: every row kept meanwhile went in with this batch
          this.reportedError = false;
          this.notices.write("flowctl: warning: the run store answers again; the rows kept meanwhile are written, nothing was lost\n");
        }
      },
      (err: unknown) => {
        this.restore(batch);
        if (!this.reportedError) {
          this.reportedError = true;
          // a warning, not an error: the rows are kept and written when the store answers
          // (an error is printed only if they still cannot be written at exit)
          this.notices.write(`flowctl: warning: cannot write to the run store: ${(err as Error).message}; keeping the rows and retrying\n`);
        }
        throw err;
      },
    );
    const rows = batchRows(batch);
    this.unackedRows += rows;
    this.inflight.add(write);
    write.then(
      () => this.settled(write, rows),
      () => this.settled(write, rows),
    );
  }

  /** Write everything recorded so far. Rejects if the store cannot be written (the rows are kept). */
  async flush(): Promise<void> {
    // nothing recorded and no store yet: nothing to write, and no store to create
    if (!this.store && this.pending === 0 && this.inflight.size === 0) return;
    if (!this.store) {
      this.opening = true;
      try {
        await this.open();
      } finally {
        this.opening = false;
      }
    }
    this.dispatch();
    let failure: unknown;
    while (this.inflight.size > 0) {
      const results = await Promise.allSettled(Array.from(this.inflight));
      for (const r of results) if (r.status === "rejected") failure ??= r.reason;
    }
    if (failure !== undefined) throw failure;
  }

  /** Synchronous last-chance flush (process exit). Returns false when it could not write. */
  flushSync(): boolean {
    if (this.pending === 0 && this.inflight.size === 0) return true;
    if (!this.store?.writeBatchSync) return this.pending === 0;
    // batches already posted are applied first (the write thread takes them in order), so an
    // empty batch is a barrier: it returns once they are written
    const batch = this.takeBatch() ?? { flowRuns: [], taskRuns: [], states: [], inputs: [], logs: [] };
    try {
      this.store.writeBatchSync(batch);
      return true;
    } catch (err) {
      this.restore(batch);
      process.stderr.write(`flowctl: error: cannot write to the run store: ${(err as Error).message}\n`);
      return false;
    }
  }

  /** Write what is recorded before going on: synchronously where the store allows, else awaited
   * (a failure leaves the rows for the next flush). */
  async persistNow(): Promise<void> {
    if (this.flushSync()) return;
    await this.flush().catch(() => undefined);
  }

  /** Open the store now (so a later synchronous flush can write); a failure is reported once. */
  async open(): Promise<void> {
    this.store ??= await this.storeProvider();
  }

  /** Start opening the store without waiting; errors surface at the next flush. */
  ensureOpen(): void {
    if (!this.store && this.enabled) this.open().catch(() => undefined);
  }

  /** Forget the store (it was closed or the settings changed). */
  resetStore(): void {
    this.store = undefined;
  }
}

function batchRows(b: WriteBatch): number {
  return b.flowRuns.length + b.taskRuns.length + b.states.length + b.inputs.length + b.logs.length + (b.results?.length ?? 0);
}

export const storeWriter = new StoreWriter();
onStoreClose(() => storeWriter.resetStore());
logHub.storeSink = { write: (rec) => storeWriter.addLog(rec) };
