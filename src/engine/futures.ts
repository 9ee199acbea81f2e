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
  declare readonly [FUTURE]: true;
  private donePromise: Promise<State> | undefined;

  /** @internal */
  constructor(readonly taskRun: TaskRunRecord) {}

  /**
   * @internal Resolves with the final state; never rejects. Made on first use: the runs of a
   * `.map` list waited on as a whole (`result()`, `wait()`) never need one each.
   */
  get done(): Promise<State> {
    return (this.donePromise ??= this.taskRun.whenSettled());
  }

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
    return valueOfState(state, this.taskRun, raise);
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

// on the prototype, not on each future (a list of 100,000 futures would carry it 100,000 times)
Object.defineProperty(TaskRunFuture.prototype, FUTURE, { value: true });

/** A future's value from its final state: the data, or its error (thrown when `raise`). */
function valueOfState<T>(state: State, run: TaskRunRecord, raise: boolean): T {
  if (state.type === "COMPLETED") return state.data as T;
  const err = errorOfState(state, run);
  if (!raise) return err as T;
  throw err;
}

function errorOfState(state: State, run: TaskRunRecord): unknown {
  return state.error ?? new FlowctlError("NOT_FINAL", `Task run '${run.name}' ended in state ${state.toString()}`);
}

/**
 * Resolves once every future's run is done, through one shared function on each run (no promise
 * per future); `each(state)` is told of every run as it is done, in the order they finish.
 */
function allDone(futures: readonly TaskRunFuture<any>[], each?: (state: State, run: TaskRunRecord) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    let left = futures.length;
    if (left === 0) return resolve();
    const one = (state: State, run: TaskRunRecord) => {
      each?.(state, run);
      if (--left === 0) resolve();
    };
    for (const f of futures) {
      if (f instanceof TaskRunFuture) f.taskRun.onSettled(one);
      else Promise.resolve((f as { done?: unknown } | undefined)?.done).then(one as (s: unknown) => void);
    }
  });
}

/**
 * The values of a list of futures, in order (`TaskRunFutureList.result()` without a time limit):
 * rejects with the first failure as it happens (`raise`), or gives the errors in place. The same
 * as `Promise.all(futures.map((f) => f.result()))`, without two promises, two reactions and two
 * functions per future for as long as the runs go on.
 */
export function resultsOf<T>(futures: readonly TaskRunFuture<T>[], raise: boolean): Promise<T[]> {
  for (const f of futures) {
    if (!(f instanceof TaskRunFuture)) return Promise.all(futures.map((f) => f.result({ raiseOnFailure: raise })));
  }
  try {
    for (const f of futures) checkSelfWait(f);
  } catch (err) {
    return Promise.reject(err);
  }
  // the list as it is now: a user's later change to it does not change what this resolves to
  const out = futures.slice() as unknown[];
  return new Promise<T[]>((resolve, reject) => {
    let failed = false;
    const each = raise
      ? (state: State, run: TaskRunRecord) => {
          if (!failed && state.type !== "COMPLETED") {
            failed = true;
            reject(errorOfState(state, run));
          }
        }
      : undefined;
    allDone(out as TaskRunFuture<T>[], each).then(() => {
      if (failed) return;
      for (let i = 0; i < out.length; i++) {
        const run = (out[i] as TaskRunFuture<T>).taskRun;
        out[i] = valueOfState(run.settled!, run, false);
      }
      resolve(out as T[]);
    });
  });
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
  const all = allDone(list);
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
