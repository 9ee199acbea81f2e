/**
 * The background writer. The engine records run changes in memory and tells the writer; the
 * writer turns them into rows and writes them to the store in batches, one transaction each:
 *
 *   idle ──(first change)──▶ scheduled ──(timer or size threshold)──▶ writing ──▶ idle
 *
 * Runs are marked dirty (their latest snapshot is written once per batch, however many times
 * they changed); states, upstream links and logs are appended. `flush()` writes everything
 * pending; `flushSync()` does the same synchronously where the store allows (SQLite).
 *
 * A store that does not answer (PostgreSQL restarting): a failed write keeps its batch and is
 * retried with a bounded backoff; a long outage spills what waits to the journal, replayed when
 * the store answers (`outage.ts`). At the end of a run `settle()` retries a few seconds, and the
 * process's last write `finishSync()` puts what is still unwritten (batches in flight included)
 * in the journal (`journal.ts`) — or says in one error line that it could be written nowhere.
 * The heartbeat of live runs is kept here too (`heartbeat.ts`).
 */
import { logHub } from "../logging/logger.ts";
import type { LogRecord } from "../logging/record.ts";
import { currentJournal, getStore, onStoreClose } from "./index.ts";
import type { Journal } from "./journal.ts";
import { OutageKeeper, retryUntil, RETRY_BASE_MS, RETRY_MAX_MS, SPILL_ROWS } from "./outage.ts";
import { Heartbeat } from "./heartbeat.ts";
import { Admission } from "./admission.ts";
import type { FlowRunRow, InputRow, KeptResultRow, RunStore, StateRow, TaskRunRow, WriteBatch } from "./types.ts";
import { batchOf, UnackedBatch, type BatchParts, type Persistable, type StateSource } from "./batch-parts.ts";
import { PendingRows } from "./pending-rows.ts";

export type { Persistable, StateSource } from "./batch-parts.ts";

const FLUSH_INTERVAL_MS = 200;
const FLUSH_THRESHOLD = 2000;
/**
 * Rows (and batches) left unacknowledged before the engine waits for the store: bounds memory
 * whatever N is. Rows, not only batches: hand-offs before synchronous task bodies post small
 * batches, and a few of those would hold a flow to the write thread's wake-ups. A sequential task
 * run is two rows (its row, which carries its states, and its kept result): 2,000 runs at most.
 */
const MAX_UNACKNOWLEDGED_ROWS = 2 * FLUSH_THRESHOLD;
const MAX_UNACKNOWLEDGED = 256;
/** A synchronous body's hand-off waits while the batch before it is younger than this (ms) and unacknowledged. */
const HAND_OFF_MS = 1;
/** How long the end of a run keeps trying an unreachable store before journalling what is left. */
export const SETTLE_GRACE_MS = 3000;

export class StoreWriter {
  /** what was recorded and not handed to the store yet */
  private readonly rows = new PendingRows();
  private timer: NodeJS.Timeout | undefined;
  /** batches handed to the store and not acknowledged yet (journalled too at exit: replay is idempotent) */
  private readonly inflight = new Map<Promise<void>, UnackedBatch>();
  /** failed writes in a row, and when the next try is due (backoff) */
  private failures = 0;
  private retryAt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** the journal's side of an outage (`outage.ts`) */
  private readonly keeper = new OutageKeeper(() => this.journalProvider(), (line) => this.notices.write(line));
  /** the journal is being replayed: new rows wait (so the store gets them after the older ones) */
  private holding = false;
  private replaying: Promise<void> | undefined;
  /** rows kept in memory during an outage before they go to the journal (tests lower it) */
  spillRows = SPILL_ROWS;
  private opening = false;
  private store: RunStore | undefined;
  private reportedError = false;
  /** Where the writer sends rows; replaced in tests. */
  storeProvider: () => Promise<RunStore> = getStore;
  /** The journal for rows the store cannot take before the process ends; replaced in tests. */
  journalProvider: () => Journal | undefined = currentJournal;
  /** Where the writer's warnings go (stderr; tests capture them). */
  notices: { write(line: string): void } = { write: (line) => void process.stderr.write(line) };
  enabled = true;

  /** `exitHooks: false`: nothing to write at process exit (a test harness's writer, over memory). */
  constructor(opts: { exitHooks?: boolean } = {}) {
    if (opts.exitHooks === false) this.exitHooked = true;
  }

  touchFlowRun(run: Persistable<FlowRunRow>): void {
    if (!this.enabled) return;
    this.rows.flowRun(run);
    this.bump();
  }

  touchTaskRun(run: Persistable<TaskRunRow>): void {
    if (!this.enabled) return;
    this.rows.taskRun(run);
    this.bump();
  }

  addState(row: StateRow): void {
    if (!this.enabled) return;
    this.rows.state(row);
    this.bump();
  }

  /** A run's state, its row made when the batch is (`source.stateRow(seq)`): a small pair waits here, not a row. */
  addStateOf(source: StateSource, seq: number): void {
    if (!this.enabled) return;
    this.rows.stateOf(source, seq);
    this.bump();
  }

  addInput(row: InputRow): void {
    if (!this.enabled) return;
    this.rows.input(row);
    this.bump();
  }

  /** A completed task run's kept result (for `runs retry`). */
  addResult(row: KeptResultRow): void {
    if (!this.enabled) return;
    this.rows.result(row);
    this.bump();
  }

  addLog(rec: LogRecord): void {
    if (!this.enabled) return;
    this.rows.log(rec);
    this.bump();
  }

  get hasPending(): boolean {
    return this.rows.count > 0;
  }

  /**
   * Hand what is recorded to the store now, without waiting (the engine calls this before a
   * synchronous task body, which may hold the event loop for long: the write thread then has
   * every state that came before it). While a batch handed over less than HAND_OFF_MS ago is
   * still unacknowledged, the rows wait for the next hand-off instead: a flow of many short
   * synchronous tasks posts a batch per millisecond, not one per task run (a post costs more
   * than a no-op task run), and what a long body can hold back is at most that millisecond.
   */
  handOff(): void {
    if (this.rows.count === 0 || !this.store || this.holding || this.retryAt > 0) return;
    const now = performance.now();
    if (this.inflight.size > 0 && now - this.lastDispatch < HAND_OFF_MS) return;
    this.dispatch();
  }

  /** when the last batch was handed to the store (performance.now()) */
  private lastDispatch = 0;

  /** liveness (`heartbeat.ts`): the live flow runs' heartbeat, while the store is open */
  private readonly heartbeat = new Heartbeat(() => this.store);

  /** Keep this flow run's heartbeat fresh until `markDone`. */
  markLive(flowRunId: string): void {
    if (this.enabled) this.heartbeat.markLive(flowRunId);
  }

  markDone(flowRunId: string): void {
    this.heartbeat.markDone(flowRunId);
  }

  /** Be given the live runs' rows after every heartbeat; returns the unsubscribe function. */
  onHeartbeat(fn: (rows: FlowRunRow[]) => void): () => void {
    return this.heartbeat.onHeartbeat(fn);
  }

  /** One heartbeat now (the timer calls it; tests may too). */
  beat(): Promise<void> {
    return this.heartbeat.beat();
  }

  /**
   * Too many batches are waiting for the store: the engine holds new task runs back (`admit()`,
   * backpressure). Each batch is kept until the store acknowledges it, and a flow that runs on
   * microtasks alone never lets an acknowledgement in: without this, every batch would stay in
   * memory until the flow ends (and a slow store would fall behind without bound).
   */
  get congested(): boolean {
    if (this.unackedRows < MAX_UNACKNOWLEDGED_ROWS && this.inflight.size < MAX_UNACKNOWLEDGED) return false;
    // answers the store has but the event loop has not delivered: settled on microtasks
    this.store?.pollWrites?.();
    return true;
  }

  /** rows in the batches handed to the store and not yet acknowledged */
  private unackedRows = 0;

  /** what waits for the store to keep up (`admission.ts`) */
  private readonly admission = new Admission(() => this.congested);

  /**
   * Resolves when a new task run may start: at once (undefined) unless the store is congested or
   * others wait before it, in the order they came.
   */
  admit(): Promise<void> | undefined {
    return this.admission.admit();
  }

  /** Whether `admit()` would let a new task run start at once (nothing is queued by asking). */
  admitsNow(): boolean {
    return this.admission.admitsNow();
  }

  /**
   * Call `start(arg)` (on a later microtask at the soonest) once the store keeps up and whatever
   * waited before it went (`admission.ts`).
   */
  whenAdmitted<A>(start: (arg: A) => void, arg: A): void {
    this.admission.whenAdmitted(start, arg);
  }

  private settled(write: Promise<void>, rows: number): void {
    this.inflight.delete(write);
    this.unackedRows -= rows;
    this.admission.wake();
  }

  private exitHooked = false;

  /** Whatever the process does last, what was recorded is written: asynchronously when the
   * event loop empties, synchronously (where the store allows) at exit. */
  private hookExit(): void {
    this.exitHooked = true;
    process.on("beforeExit", () => {
      if (this.rows.count > 0) void this.flush().catch(() => undefined);
    });
    process.on("exit", () => {
      if (this.rows.count > 0 || this.inflight.size > 0) this.finishSync();
    });
  }

  private bump(): void {
    if (!this.exitHooked) this.hookExit();
    // the store failed lately: rows wait for the retry timer (backoff), in memory up to
    // `spillRows`, then in the journal
    if (this.retryAt > 0 || this.holding) {
      if (this.rows.count >= this.spillRows) this.spill();
      return;
    }
    if (this.rows.count >= FLUSH_THRESHOLD) {
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
    const parts = this.takeParts();
    return parts && batchOf(parts);
  }

  /** What is pending, taken (its rows not made yet). */
  private takeParts(): BatchParts | undefined {
    const parts = this.rows.take();
    if (parts && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    return parts;
  }

  /** Put a batch that could not be written back in front of what came since. */
  private restore(batch: WriteBatch): void {
    // already in the journal (or written at exit): not written twice from here
    if (!this.keeper.kept.has(batch)) this.rows.restore(batch);
  }

  /** Hand what is pending to the store now (the store is open); the write goes on in the background. */
  private dispatch(): void {
    const parts = this.takeParts();
    if (!parts) return;
    this.lastDispatch = performance.now();
    // the rows go to the store and are not kept here (see UnackedBatch)
    const unacked = new UnackedBatch(parts);
    const write = this.store!.writeBatch(batchOf(parts)).then(
      () => this.answered(),
      (err: unknown) => {
        this.restore(unacked.batch());
        this.failed(err);
        throw err;
      },
    );
    const rows = unacked.rows;
    this.unackedRows += rows;
    this.inflight.set(write, unacked);
    write.then(
      () => this.settled(write, rows),
      () => this.settled(write, rows),
    );
  }

  /** The store took a write: no more backoff; say so once after an outage. */
  private answered(): void {
    this.failures = 0;
    this.retryAt = 0;
    if (this.reportedError) {
      // the outage cost nothing: every row kept meanwhile (in memory or the journal) is written
      this.reportedError = false;
      this.notices.write("flowctl: warning: the run store answers again; the rows kept meanwhile are written, nothing was lost\n");
    }
  }

  /** A write failed: try again later (backoff); a warning, once per outage. */
  private failed(err: unknown): void {
    this.scheduleRetry();
    if (!this.reportedError) {
      this.reportedError = true;
      // a warning, not an error: the rows are kept and written when the store answers
      // (an error is printed only if they can be written neither there nor to the journal)
      this.notices.write(`flowctl: warning: cannot write to the run store: ${(err as Error).message}; keeping the rows and retrying\n`);
    }
  }

  /** A long outage: what waits in memory goes to the journal (kept in memory if it cannot). */
  private spill(): void {
    const batch = this.takeBatch();
    if (batch && !this.keeper.spill(batch)) this.restore(batch);
  }

  /**
   * The store answers after rows were spilled: what waits in memory goes after them into the
   * journal, and the journal is written to the store, in order; new rows wait meanwhile.
   */
  private replaySpilled(): Promise<void> {
    this.replaying ??= (async () => {
      this.holding = true;
      try {
        await Promise.allSettled(Array.from(this.inflight.keys()));
        this.spill();
        await this.keeper.replay(this.store!);
        this.answered();
      } catch (err) {
        this.failed(err);
        throw err;
      } finally {
        this.holding = false;
        this.replaying = undefined;
      }
    })();
    return this.replaying;
  }

  /** Write everything recorded so far. Rejects if the store cannot be written (the rows are kept). */
  async flush(): Promise<void> {
    // nothing recorded and no store yet: nothing to write, and no store to create
    if (!this.store && this.rows.count === 0 && this.inflight.size === 0) return;
    if (!this.store) {
      this.opening = true;
      try {
        await this.open();
      } finally {
        this.opening = false;
      }
    }
    if (this.keeper.spilled || this.replaying) await this.replaySpilled();
    this.dispatch();
    let failure: unknown;
    while (this.inflight.size > 0) {
      const results = await Promise.allSettled(Array.from(this.inflight.keys()));
      for (const r of results) if (r.status === "rejected") failure ??= r.reason;
    }
    if (failure !== undefined) throw failure;
  }

  /** Synchronous flush where the store allows (SQLite). Returns false when it could not write. */
  flushSync(): boolean {
    return this.writeSync() === undefined;
  }

  /** Write synchronously; undefined when done, else why not (rows kept). */
  private writeSync(): { error: unknown } | undefined {
    if (this.rows.count === 0 && this.inflight.size === 0) return undefined;
    if (!this.store?.writeBatchSync) {
      return this.rows.count === 0 ? undefined : { error: new Error(this.store ? "the store cannot be written synchronously" : "the store is not open") };
    }
    // batches already posted are applied first (the write thread takes them in order), so an
    // empty batch is a barrier: it returns once they are written
    const batch = this.takeBatch() ?? { flowRuns: [], taskRuns: [], states: [], inputs: [], logs: [] };
    try {
      this.store.writeBatchSync(batch);
      return undefined;
    } catch (err) {
      this.restore(batch);
      return { error: err };
    }
  }

  /**
   * The process's last write (exit paths): what is recorded goes to the store synchronously
   * where it can (SQLite), else — PostgreSQL, whose writes cannot be waited for here, or a store
   * that failed — into the journal (`journal.ts`). Batches handed to the store and not yet
   * acknowledged go along (as `replayed`, so writing one twice changes nothing): the process may
   * end before it learns that one failed. Says once, in one line, what waits in the journal.
   * Returns false when the rows could be written nowhere, and says so once, as an error
   * (`unrecorded` is then set: the command exits 1).
   */
  finishSync(): boolean {
    const rest = this.takeBatch();
    if (this.keeper.finish(this.store, Array.from(this.inflight.values(), (u) => u.batch()), rest)) return true;
    if (rest) this.restore(rest);
    return false;
  }

  /** Rows could be written neither to the store nor to the journal (said once as an error): the process should exit 1. */
  get unrecorded(): boolean {
    return this.keeper.unrecorded;
  }

  /**
   * End of a run: write what is recorded, retrying an unreachable store for up to `graceMs`
   * (bounded backoff), then put what is still unwritten in the journal (`finishSync`).
   */
  async settle(graceMs = SETTLE_GRACE_MS): Promise<void> {
    const done = () => this.rows.count === 0 && this.inflight.size === 0;
    // the last write was made already (what the store did not take is in the journal): no more waiting
    if (this.keeper.ended) {
      if (!done()) this.finishSync();
      return;
    }
    if (!(await retryUntil(Date.now() + graceMs, () => this.flush(), done))) this.finishSync();
  }

  /** After a failed write: try again after a bounded, growing delay, whether or not new rows come. */
  private scheduleRetry(): void {
    this.failures++;
    const delay = Math.min(RETRY_BASE_MS * 2 ** (this.failures - 1), RETRY_MAX_MS);
    this.retryAt = Date.now() + delay;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retryAt = 0;
      if (this.rows.count > 0 || this.keeper.spilled) void this.flush().catch(() => undefined);
    }, delay);
    this.retryTimer.unref();
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


export const storeWriter = new StoreWriter();
onStoreClose(() => storeWriter.resetStore());
logHub.storeSink = { write: (rec) => storeWriter.addLog(rec) };
