/**
 * A pool of workers (threads or child processes) that run task attempts, one at a time each.
 *
 *   spawned ─▶ booting ─ready─▶ idle ⇄ busy          acquire / release
 *   busy ─the attempt timed out or was cancelled─▶ killed (its attempt ends as the engine said)
 *   any ─the worker exits on its own─▶ gone          a busy worker's attempt rejects CRASHED
 *
 * Workers start when an attempt needs one and none is idle, up to `maxWorkers`; beyond that,
 * attempts wait in order. A killed or dead worker is replaced by the next attempt that needs
 * one. Idle workers do not keep the process alive. `shutdown()` stops idle workers at once and
 * busy ones when their attempt ends (unless attempts are waiting), so a runner shared by
 * several flow runs keeps working for the others.
 */
import { scrubSecrets } from "../logging/redact.ts";
import { FlowctlError, describeError } from "../errors.ts";
import { engineLogger, logHub } from "../logging/logger.ts";
import { decodeError, type FlowRunSnapshot, type RunMessage, type WorkerMessage } from "./pool-protocol.ts";

/** One worker as the pool sees it; made by the runner's spawn function. */
export interface WorkerHandle {
  /** e.g. `worker thread 3`, `worker process 1234` */
  readonly label: string;
  send(m: RunMessage): void;
  /** Stop it now, whatever it is doing. */
  kill(): Promise<void>;
  /** Whether it keeps the process alive. */
  setRef(on: boolean): void;
}

export interface WorkerEvents {
  message(m: WorkerMessage): void;
  /** `cause` completes "its worker …": "exited with code 3", "was killed by SIGSEGV" */
  exit(cause: string): void;
}

export type SpawnWorker = (events: WorkerEvents) => WorkerHandle;

export type Reply = Extract<WorkerMessage, { type: "result" | "state" | "error" }>;

interface Waiter {
  resolve(slot: Slot): void;
  reject(err: unknown): void;
  signal: AbortSignal;
  onAbort(): void;
}

interface Slot {
  state: "booting" | "idle" | "busy" | "gone";
  handle: WorkerHandle;
  job: { id: number; runName: string; resolve(r: Reply): void; reject(err: unknown): void } | undefined;
  /** the flow run whose parameters this worker holds */
  flowRunId: string | undefined;
  retire: boolean;
}

export class WorkerPool {
  private readonly slots = new Set<Slot>();
  private readonly idle: Slot[] = [];
  private readonly waiters: Waiter[] = [];
  private booting = 0;
  private nextJob = 1;

  constructor(
    readonly runnerName: string,
    readonly maxWorkers: number,
    private readonly spawn: SpawnWorker,
  ) {}

  /** Workers alive (booting, idle or busy). */
  get size(): number {
    return this.slots.size;
  }

  /**
   * Run one attempt on a worker. Resolves with the worker's reply; rejects with the signal's
   * reason when it aborts (the worker is killed), or CRASHED when the worker dies.
   */
  async execute(msg: Omit<RunMessage, "job">, flowParameters: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Reply> {
    const slot = await this.acquire(signal);
    if (signal.aborted) {
      // aborted between the hand-over and now: the worker never saw the attempt
      this.release(slot);
      throw signal.reason;
    }
    const job = this.nextJob++;
    let flowRun: FlowRunSnapshot | undefined = msg.flowRun;
    if (flowRun && slot.flowRunId !== flowRun.id) {
      flowRun = { ...flowRun, parameters: flowParameters ?? {} };
      slot.flowRunId = flowRun.id;
    }
    return new Promise<Reply>((resolve, reject) => {
      const onAbort = () => {
        slot.job = undefined;
        this.kill(slot);
        reject(signal.reason);
      };
      const done = () => signal.removeEventListener("abort", onAbort);
      slot.job = {
        id: job,
        runName: msg.taskRun.name,
        resolve: (r) => {
          done();
          slot.job = undefined;
          this.release(slot);
          resolve(r);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        slot.handle.send({ ...msg, job, flowRun });
      } catch (err) {
        // the attempt could not be serialised (or the channel is closing: then its exit follows)
        done();
        slot.job = undefined;
        slot.flowRunId = undefined;
        this.release(slot);
        reject(new FlowctlError("NOT_SERIALIZABLE", `Task run '${msg.taskRun.name}' could not be sent to a ${this.runnerName} worker: ${describeError(err)}`, { cause: err }));
      }
    });
  }

  /** Stop idle workers now and busy ones when their attempt ends. */
  async shutdown(): Promise<void> {
    const stopping: Promise<void>[] = [];
    // workers still booting that no waiting attempt needs
    let spare = this.booting - this.waiters.length;
    for (const slot of Array.from(this.slots)) {
      if (slot.state === "idle" || (slot.state === "booting" && spare-- > 0)) stopping.push(this.kill(slot));
      else slot.retire = true;
    }
    await Promise.all(stopping);
  }

  private acquire(signal: AbortSignal): Promise<Slot> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<Slot>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
        },
      };
      signal.addEventListener("abort", w.onAbort, { once: true });
      this.waiters.push(w);
      this.pump();
    });
  }

  private pump(): void {
    while (this.waiters.length > 0 && this.idle.length > 0) {
      const slot = this.idle.shift()!;
      const w = this.waiters.shift()!;
      w.signal.removeEventListener("abort", w.onAbort);
      slot.state = "busy";
      slot.handle.setRef(true);
      w.resolve(slot);
    }
    while (this.waiters.length > this.booting && this.slots.size < this.maxWorkers) this.start();
  }

  private start(): void {
    const slot: Slot = { state: "booting", handle: undefined as unknown as WorkerHandle, job: undefined, flowRunId: undefined, retire: false };
    this.slots.add(slot);
    this.booting++;
    let fatal: string | undefined;
    try {
      slot.handle = this.spawn({
        message: (m) => {
          if (m.type === "fatal") fatal = describeError(decodeError(m.error));
          else this.onMessage(slot, m);
        },
        exit: (cause) => this.onExit(slot, fatal ? `died of an uncaught ${fatal}` : cause),
      });
    } catch (err) {
      this.slots.delete(slot);
      this.booting--;
      slot.state = "gone";
      this.waiters.shift()?.reject(crashed(`Could not start a ${this.runnerName} worker: ${describeError(err)}`, err));
      return;
    }
    slot.handle.setRef(true);
  }

  private onMessage(slot: Slot, m: WorkerMessage): void {
    if (slot.state === "gone") return;
    switch (m.type) {
      case "ready":
        if (slot.state !== "booting") return;
        this.booting--;
        this.release(slot);
        return;
      case "log":
        if (m.rec.level >= logHub.getThreshold()) logHub.emit({ ...m.rec, message: scrubSecrets(m.rec.message) });
        return;
      case "result":
      case "state":
      case "error":
        if (slot.job?.id === m.job) slot.job.resolve(m);
        return;
      default:
        return;
    }
  }

  private release(slot: Slot): void {
    if (slot.state === "gone") return;
    if (slot.retire && this.waiters.length === 0) {
      void this.kill(slot);
      return;
    }
    slot.state = "idle";
    slot.handle.setRef(false);
    this.idle.push(slot);
    this.pump();
  }

  private kill(slot: Slot): Promise<void> {
    if (slot.state === "gone") return Promise.resolve();
    if (slot.state === "booting") this.booting--;
    this.forget(slot);
    const stopped = slot.handle.kill().catch(() => undefined);
    this.pump();
    return stopped;
  }

  private forget(slot: Slot): void {
    slot.state = "gone";
    this.slots.delete(slot);
    const i = this.idle.indexOf(slot);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private onExit(slot: Slot, cause: string): void {
    if (slot.state === "gone") return;
    const was = slot.state;
    if (was === "booting") this.booting--;
    this.forget(slot);
    const label = slot.handle.label;
    if (was === "booting") {
      this.waiters.shift()?.reject(crashed(`A ${this.runnerName} worker (${label}) failed to start: it ${cause}`));
    } else if (slot.job) {
      const job = slot.job;
      slot.job = undefined;
      job.reject(crashed(`Task run '${job.runName}' crashed: its ${this.runnerName} worker (${label}) ${cause}`));
    } else {
      engineLogger.warning(`A ${this.runnerName} worker (${label}) ${cause} while idle; the next task run that needs one starts a new worker.`);
    }
    this.pump();
  }
}

function crashed(message: string, cause?: unknown): FlowctlError {
  return new FlowctlError("CRASHED", message, cause === undefined ? undefined : { cause });
}
