/**
 * Futures: the handle `submit()` and `map()` return for a task run that goes on concurrently.
 * A future settles when its run reaches a final state (or NotReady); it never rejects on its
 * own — `result()` turns a failed state into a rejection.
 */
import { FlowctlError, TimeoutError } from "../errors.ts";
import { clock } from "../clock.ts";
import { currentContext } from "./context.ts";
import type { TaskRunRecord } from "./run-records.ts";
import type { State } from "./states.ts";

const FUTURE = Symbol.for("flowctl.future");

export class TaskRunFuture<T = unknown> {
  readonly [FUTURE] = true;

  /** @internal */
  constructor(
    readonly taskRun: TaskRunRecord,
    /** @internal resolves with the final state; never rejects */
    readonly done: Promise<State>,
  ) {}

  get taskRunId(): string {
    return this.taskRun.id;
  }

  /** The run's state now (Pending, Running, AwaitingRetry… then final). */
  get state(): State {
    return this.taskRun.state;
  }

  get isDone(): boolean {
    // read from the run (a callback per future, to remember it, cost every run of a .map)
    return this.taskRun.finished;
  }

  /** Wait for the run to finish; with a time limit, resolve with the state as it is then. */
  wait(timeoutSeconds?: number): Promise<State> {
    checkSelfWait(this);
    if (timeoutSeconds === undefined) return this.done;
    checkTimeout(timeoutSeconds);
    return new Promise<State>((resolve) => {
      const cancel = clock().timeout(() => resolve(this.taskRun.state), timeoutSeconds * 1000);
      this.done.then((s) => {
        cancel();
        resolve(s);
      });
    });
  }

  /**
   * The run's value. Rejects with the run's error when it failed (or resolves to the error
   * with `raiseOnFailure: false`), and with a TimeoutError (FUTURE_TIMEOUT) when time runs out.
   */
  result(opts: { timeoutSeconds?: number; raiseOnFailure?: boolean } = {}): Promise<T> {
    try {
      checkSelfWait(this);
      // without a time limit: one reaction on the run's promise, not a suspended async call (a
      // `.map` list's result() waits on every run of the list at once)
      if (opts.timeoutSeconds === undefined) return this.done.then((state) => this.valueOf(state, opts.raiseOnFailure !== false));
      checkTimeout(opts.timeoutSeconds);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.resultWithin(opts.timeoutSeconds, opts.raiseOnFailure !== false);
  }

  private async resultWithin(timeoutSeconds: number, raise: boolean): Promise<T> {
    const state = await this.wait(timeoutSeconds);
    if (!this.isDone) {
      throw new TimeoutError(
        "FUTURE_TIMEOUT",
        `Task run '${this.taskRun.name}' did not finish within ${timeoutSeconds} second(s); its state is ${state.toString()}`,
      );
    }
    return this.valueOf(state, raise);
  }

  private valueOf(state: State, raise: boolean): T {
    if (state.type === "COMPLETED") return state.data as T;
    const err = state.error ?? new FlowctlError("NOT_FINAL", `Task run '${this.taskRun.name}' ended in state ${state.toString()}`);
    if (!raise) return err as T;
    throw err;
  }

  /** Call `fn(future)` once the run is done (at once if it already is). */
  addDoneCallback(fn: (future: TaskRunFuture<T>) => unknown): void {
    if (typeof fn !== "function") throw new FlowctlError("INVALID_ARGUMENT", "addDoneCallback expects a function");
    this.done.then(() => fn(this));
  }

  /** How a future shows in stored parameters while it is unresolved (e.g. a NotReady run's). */
  toJSON(): { taskRunFuture: string; id: string } {
    return { taskRunFuture: this.taskRun.name, id: this.taskRun.id };
  }

  toString(): string {
    return `TaskRunFuture(${this.taskRun.name}, ${this.state.toString()})`;
  }
}

export function isFuture(v: unknown): v is TaskRunFuture {
  return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[FUTURE] === true;
}

function checkTimeout(t: number): void {
  if (typeof t !== "number" || !(t >= 0)) {
    throw new FlowctlError("INVALID_ARGUMENT", `timeoutSeconds must be a non-negative number, got ${String(t)}`);
  }
}

function checkSelfWait(f: TaskRunFuture): void {
  const ctx = currentContext();
  if (ctx?.taskRun && ctx.taskRun.id === f.taskRun.id) {
    throw new FlowctlError("INVALID_ARGUMENT", `Task run '${f.taskRun.name}' cannot wait on its own future: it would never finish.`);
  }
}

/** Wait for futures: `{ done, notDone }` after all finish or the time runs out. */
export async function wait<F extends TaskRunFuture<any>>(
  futures: Iterable<F>,
  opts: { timeoutSeconds?: number } = {},
): Promise<{ done: Set<F>; notDone: Set<F> }> {
  const list = Array.from(futures);
  for (const f of list) checkSelfWait(f);
  if (opts.timeoutSeconds !== undefined) checkTimeout(opts.timeoutSeconds);
  const all = Promise.all(list.map((f) => f.done));
  if (opts.timeoutSeconds === undefined) {
    await all;
  } else {
    let cancel: (() => void) | undefined;
    await Promise.race([all, new Promise<void>((r) => (cancel = clock().timeout(r, opts.timeoutSeconds! * 1000)))]);
    cancel?.();
  }
  const done = new Set<F>();
  const notDone = new Set<F>();
  for (const f of list) (f.isDone ? done : notDone).add(f);
  return { done, notDone };
}

/** Yield futures as they finish; throws a TimeoutError (FUTURE_TIMEOUT) when the time runs out. */
export async function* asCompleted<F extends TaskRunFuture<any>>(
  futures: Iterable<F>,
  opts: { timeoutSeconds?: number } = {},
): AsyncGenerator<F, void, undefined> {
  const pending = new Set(futures);
  for (const f of pending) checkSelfWait(f);
  if (opts.timeoutSeconds !== undefined) checkTimeout(opts.timeoutSeconds);
  const deadline = opts.timeoutSeconds === undefined ? undefined : clock().now() + opts.timeoutSeconds * 1000;
  const queue: F[] = [];
  let wake: (() => void) | undefined;
  for (const f of pending) {
    f.done.then(() => {
      queue.push(f);
      wake?.();
    });
  }
  while (pending.size > 0) {
    if (queue.length === 0) {
      let cancel: (() => void) | undefined;
      const timedOut = await new Promise<boolean>((resolve) => {
        wake = () => resolve(false);
        if (deadline !== undefined) cancel = clock().timeout(() => resolve(true), Math.max(0, deadline - clock().now()));
      });
      wake = undefined;
      cancel?.();
      if (timedOut && queue.length === 0) {
        throw new TimeoutError("FUTURE_TIMEOUT", `${pending.size} of the futures did not finish within ${opts.timeoutSeconds} second(s)`);
      }
    }
    const f = queue.shift()!;
    pending.delete(f);
    yield f;
  }
}
