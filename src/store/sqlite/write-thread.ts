/**
 * The main-thread side of the SQLite write thread. Batches are posted and applied in order on
 * the other core, so the engine never waits on the disk; `writeSync` blocks (Atomics.wait)
 * until the thread has applied everything posted before it too — for the process's last
 * moments (exit, signals). The thread is referenced only while batches are in flight, so it
 * never holds a finished process open.
 */
import { Worker } from "node:worker_threads";
import { FlowctlError } from "../../errors.ts";
import type { WriteBatch } from "../types.ts";
import { packBatch } from "./batch-writer.mjs";

const WORKER_URL = new URL("./write-worker.mjs", import.meta.url);
const SYNC_TIMEOUT_MS = 60_000;

export class WriteThread {
  private readonly worker: Worker;
  private nextId = 1;
  /** what was posted and not answered: batches, and heartbeats (`beat`, answered by message only) */
  private readonly pending = new Map<number, { resolve: (rows?: Record<string, unknown>[]) => void; reject: (e: Error) => void; beat?: true }>();
  private dead: Error | undefined;
  /**
   * Set to 1 by the thread once its connection is open. Shared memory, not a message: a flow
   * whose tasks run on microtasks alone never lets a 'ready' message in, and every batch would
   * then be written on the main thread, one transaction each.
   */
  private readonly readyFlag = new Int32Array(new SharedArrayBuffer(4));
  /**
   * The id of the last batch the thread has applied with every batch before it (it stops moving
   * after a failed batch, whose answer then comes as a message). Read by `pollApplied`: the
   * 'message' answers of a flow running on microtasks alone wait for its end, and without this
   * the writer's backpressure yielded to the event loop every few thousand rows to see them.
   */
  private readonly appliedThrough = new Int32Array(new SharedArrayBuffer(4));
  private polledThrough = 0;

  /** the thread has opened its connection and takes batches */
  get ready(): boolean {
    return Atomics.load(this.readyFlag, 0) === 1;
  }

  /** `lockTimeoutMs`: how long a write waits on another process's lock (lock-wait.mjs) */
  constructor(readonly path: string, lockTimeoutMs: number) {
    // plain JavaScript: no loader flags (--import tsx) inherited, which would cost tens of MB; a
    // small young generation: the thread's garbage is a batch or two at a time (V8's default
    // let it reach ~48 MB before collecting)
    this.worker = new Worker(WORKER_URL, {
      workerData: { path, readyFlag: this.readyFlag, appliedThrough: this.appliedThrough, lockTimeoutMs },
      stdout: false,
      stderr: false,
      execArgv: [],
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    this.worker.on("message", (msg: { id?: number; error?: { message: string; code?: string } | null; rows?: Record<string, unknown>[] }) => {
      if (msg.id === undefined) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) this.worker.unref();
      if (msg.error?.code === "STORE_LOCKED") p.reject(new FlowctlError("STORE_LOCKED", msg.error.message));
      else if (msg.error) p.reject(new FlowctlError("STORE_ERROR", `Writing to the run store at ${this.path} failed: ${msg.error.message}`));
      else p.resolve(msg.rows);
    });
    this.worker.on("error", (err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))));
    this.worker.on("exit", (code) => this.fail(new Error(`the store's write thread exited (code ${code})`)));
    // after the listeners: adding a 'message' listener references the worker's port again
    this.worker.unref();
  }

  /** Resolve the writes the thread has applied (`appliedThrough`), oldest first, without waiting for their messages. */
  pollApplied(): void {
    const through = Atomics.load(this.appliedThrough, 0);
    if (through <= this.polledThrough) return;
    this.polledThrough = through;
    // ids in the order they were posted (a Map keeps insertion order)
    for (const [id, p] of this.pending) {
      if (id > through) break;
      if (p.beat) continue;
      this.pending.delete(id);
      p.resolve();
    }
    if (this.pending.size === 0) this.worker.unref();
  }

  /** Whether batches are in flight (posted, not yet applied). */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  private fail(err: Error): void {
    this.dead ??= new FlowctlError("STORE_ERROR", `Writing to the run store at ${this.path} failed: ${err.message}`, { cause: err });
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
  }

  write(batch: WriteBatch): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve: () => resolve(), reject });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ id, batch: packBatch(batch) });
    });
  }

  /**
   * A heartbeat (beat.mjs) on the thread's connection, after the batches posted before it:
   * resolves with the flow runs' rows (`cols`). The main thread does not wait on the write lock.
   */
  beat(cols: string, ids: readonly string[], at: number): Promise<Record<string, unknown>[]> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<Record<string, unknown>[]>((resolve, reject) => {
      this.pending.set(id, { resolve: (rows) => resolve(rows ?? []), reject, beat: true });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ id, beat: { cols, ids, at } });
    });
  }

  /** Apply the batch (after everything posted before it) before returning. */
  writeSync(batch: WriteBatch): void {
    if (this.dead) throw this.dead;
    const id = this.nextId++;
    const flag = new Int32Array(new SharedArrayBuffer(4));
    this.pending.set(id, { resolve: () => undefined, reject: () => undefined });
    this.worker.postMessage({ id, batch: packBatch(batch), flag });
    const result = Atomics.wait(flag, 0, 0, SYNC_TIMEOUT_MS);
    if (result === "timed-out") throw new FlowctlError("STORE_ERROR", `Writing to the run store at ${this.path} timed out`);
    if (Atomics.load(flag, 0) === 2) throw new FlowctlError("STORE_ERROR", `Writing to the run store at ${this.path} failed`);
  }

  /** Wait for batches in flight, then stop the thread. */
  async close(): Promise<void> {
    const inflight = Array.from(this.pending.values(), (p) => new Promise<void>((r) => {
      const { resolve, reject } = p;
      p.resolve = (rows) => (resolve(rows), r());
      p.reject = (e) => (reject(e), r());
    }));
    await Promise.all(inflight);
    await this.worker.terminate();
  }
}
