/**
 * Heartbeat (liveness, see `liveness.ts`), kept by the batched writer (`writer.ts`): the flow runs
 * the engine marks live (`markLive` … `markDone`) get their `heartbeat` refreshed every
 * HEARTBEAT_INTERVAL_MS while the process lives, and each beat reads their rows back from the
 * store. Whoever needs to hear from the store about a live run subscribes with `onHeartbeat(fn)`:
 * `fn` gets those rows after every beat (e.g. a flag another process set on the run). The timer
 * never holds the process open, and a beat that fails (store unreachable) is skipped silently.
 */
import { HEARTBEAT_INTERVAL_MS, thisHost } from "./liveness.ts";
import type { FlowRunRow, RunStore } from "./types.ts";

export class Heartbeat {
  private readonly live = new Set<string>();
  private readonly listeners = new Set<(rows: FlowRunRow[]) => void>();
  private timer: NodeJS.Timeout | undefined;
  private beating = false;

  /** `storeOf`: the store when it is open (no beat before) */
  constructor(private readonly storeOf: () => RunStore | undefined) {}

  /** Keep this flow run's heartbeat fresh until `markDone`. */
  markLive(flowRunId: string): void {
    this.live.add(flowRunId);
    if (!this.timer) {
      this.timer = setInterval(() => void this.beat(), HEARTBEAT_INTERVAL_MS);
      this.timer.unref();
    }
  }

  markDone(flowRunId: string): void {
    this.live.delete(flowRunId);
    if (this.live.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Be given the live runs' rows after every heartbeat; returns the unsubscribe function. */
  onHeartbeat(fn: (rows: FlowRunRow[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** One heartbeat now (the timer calls it; tests may too). */
  async beat(): Promise<void> {
    const store = this.storeOf();
    if (this.beating || this.live.size === 0 || !store) return;
    this.beating = true;
    try {
      const rows = await store.beat([...this.live], { at: Date.now(), pid: process.pid, host: thisHost() });
      for (const fn of this.listeners) {
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
}
