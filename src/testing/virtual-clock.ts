/**
 * The harness's virtual clock. Time stands still until it is moved: by `advance()`, or by the
 * harness itself when every run it follows waits on the clock (auto-advance). Moving time fires
 * the timers that fall due, in order, each in the async context that armed it, and lets the
 * promise continuations they start run before the next one fires.
 *
 *   timers: armed by timeout()/sleep() ─▶ due (time reached) ─▶ fired ─▶ gone
 *                                       ─▶ cancelled ─▶ gone
 *
 * A sleep made inside a run's own code (a task body, a flow body) marks that run as waiting on
 * the clock until it ends, which is what lets auto-advance tell a run that waits on time from
 * one that waits on real work.
 */
import { AsyncResource } from "node:async_hooks";
import type { Clock } from "../clock.ts";
import { runContext } from "../engine/context.ts";
import type { FlowRunRecord, TaskRunRecord } from "../engine/run-records.ts";

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
}

export class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  /** armed timers, soonest first (ties in arming order) */
  private timers: Timer[] = [];
  /** runs whose own code sleeps on this clock now, with how many sleeps */
  readonly sleepers = new Map<FlowRunRecord | TaskRunRecord, number>();
  /** told whenever a timer or sleep is armed (the harness checks for auto-advance) */
  onChange: () => void = () => {};

  constructor(start: number) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  /** When the next timer falls due, or undefined. */
  nextDue(): number | undefined {
    return this.timers[0]?.at;
  }

  timeout(fn: () => void, ms: number): () => void {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fire: AsyncResource.bind(fn) };
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1]!.at > timer.at) i--;
    this.timers.splice(i, 0, timer);
    this.onChange();
    return () => {
      const j = this.timers.indexOf(timer);
      if (j >= 0) this.timers.splice(j, 1);
    };
  }

  /** Resolve after `ms` of virtual time (never, for Infinity); reject with the signal's reason if it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const ctx = runContext.getStore();
    const run = ctx?.taskRun ?? ctx?.flowRun;
    if (run) this.sleepers.set(run, (this.sleepers.get(run) ?? 0) + 1);
    return new Promise<void>((resolve, reject) => {
      let cancel: (() => void) | undefined;
      const end = () => {
        signal?.removeEventListener("abort", onAbort);
        if (!run) return;
        const n = this.sleepers.get(run)! - 1;
        if (n === 0) this.sleepers.delete(run);
        else this.sleepers.set(run, n);
      };
      const onAbort = () => {
        cancel?.();
        end();
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      if (ms === Infinity) this.onChange();
      else {
        cancel = this.timeout(() => {
          end();
          resolve();
        }, ms);
      }
    });
  }

  /** Fire the soonest timer (moving time to it); false when none is armed. */
  fireNext(): boolean {
    const timer = this.timers.shift();
    if (!timer) return false;
    if (timer.at > this.t) this.t = timer.at;
    timer.fire();
    return true;
  }

  /** Move time on by `ms`, firing every timer that falls due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    await settle();
    for (;;) {
      const next = this.timers[0];
      if (!next || next.at > target) break;
      this.fireNext();
      await settle();
    }
    this.t = target;
    await settle();
  }
}

/** Let promise continuations and immediates queued so far run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
