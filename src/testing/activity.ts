/**
 * What the harness's runs are doing, and moving the virtual clock when they all wait on it.
 *
 * A run is open from its creation to its final state (NotReady included). Its own code — a
 * flow body, a task attempt's body — is active while it runs. An active body is busy unless it
 * sleeps on the virtual clock or has an open child run (a task run or subflow it started: it
 * is then waiting on that child, whose own state decides). When no body is busy, some run is
 * open and a timer is armed, every run waits on the clock: auto-advance fires the soonest
 * timer, lets what it started settle, and looks again.
 *
 * Checks are made on an immediate after something changed (a run created, a body ended, a
 * timer or sleep armed), so the promise continuations of that change have run first. When no
 * body is busy, no timer is armed and some run's code sleeps on the clock forever (a mock that
 * `hangs()` with no time limit), nothing can ever happen: `onStall` is told.
 */
import type { RunObserver } from "../engine/env.ts";
import type { FlowRunRecord, TaskRunRecord } from "../engine/run-records.ts";
import type { VirtualClock } from "./virtual-clock.ts";

type AnyRun = FlowRunRecord | TaskRunRecord;

const isFlowRun = (r: AnyRun): r is FlowRunRecord => "flowName" in r;
const isOver = (r: AnyRun) => r.states.length > 0 && (r.state.isFinal() || r.state.name === "NotReady");

export class Activity implements RunObserver {
  /** every run created in the harness, in creation order */
  readonly flowRuns: FlowRunRecord[] = [];
  readonly taskRuns: TaskRunRecord[] = [];
  private readonly open = new Set<AnyRun>();
  private readonly bodies = new Set<AnyRun>();
  private scheduled = false;
  /** paused while an explicit advance runs, and after close */
  paused = 0;
  /** told when every run waits on the clock forever (see above) */
  onStall: (open: readonly AnyRun[]) => void = () => {};

  constructor(private readonly clock: VirtualClock, private readonly autoAdvance: boolean) {
    clock.onChange = () => this.schedule();
  }

  created(record: object): void {
    const run = record as AnyRun;
    if (isFlowRun(run)) this.flowRuns.push(run);
    else this.taskRuns.push(run);
    this.open.add(run);
    this.schedule();
  }

  body(record: object, active: boolean): void {
    const run = record as AnyRun;
    if (active) this.bodies.add(run);
    else {
      this.bodies.delete(run);
      this.schedule();
    }
  }

  /** Some run's own code is doing something other than waiting on the clock or on its children. */
  busy(): boolean {
    for (const r of this.open) if (isOver(r)) this.open.delete(r);
    for (const r of this.bodies) {
      if (this.clock.sleepers.has(r)) continue;
      if (this.hasOpenChild(r)) continue;
      return true;
    }
    return false;
  }

  /** The runs not over yet, in creation order. */
  openList(): AnyRun[] {
    this.openRuns;
    return Array.from(this.open);
  }

  get openRuns(): number {
    for (const r of this.open) if (isOver(r)) this.open.delete(r);
    return this.open.size;
  }

  private hasOpenChild(r: AnyRun): boolean {
    for (const c of this.open) {
      if (c === r) continue;
      if (isFlowRun(r)) {
        if (isFlowRun(c) ? c.parentFlowRunId === r.id : c.flowRunId === r.id) return true;
      } else if (c.parentTaskRunId === r.id) return true;
    }
    return false;
  }

  schedule(): void {
    if (!this.autoAdvance || this.scheduled || this.paused > 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.check();
    });
  }

  private check(): void {
    if (this.paused > 0 || this.openRuns === 0 || this.busy()) return;
    if (this.clock.pendingTimers > 0) {
      this.clock.fireNext();
      this.schedule();
    } else if (this.clock.sleepers.size > 0) {
      this.onStall(Array.from(this.open));
    }
  }
}
