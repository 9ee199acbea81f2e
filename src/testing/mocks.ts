/**
 * Task mocks: `h.mock(task, impl?)` replaces the body of a task for the runs of one harness.
 * The run itself is untouched — states, retries, caching, hooks, timeouts all apply — only the
 * code that runs for an attempt changes. Every attempt is recorded in `calls`.
 *
 * An attempt of a mock: record the call ─▶ wait `takes` on the virtual clock (a timeout can
 * end it there) ─▶ fail while `failTimes` failures remain ─▶ throw / return what was set ─▶
 * else run the implementation (the task's own body when none was given).
 */
import { FlowctlError } from "../errors.ts";
import { runContext } from "../engine/context.ts";
import type { Task } from "../sdk/task.ts";
import { durationMs, type Duration } from "./duration.ts";
import type { VirtualClock } from "./virtual-clock.ts";

export interface MockCall<A extends unknown[] = unknown[]> {
  /** the arguments the attempt received (futures already resolved) */
  readonly args: A;
  /** the task run's name (`getUrl-0`) and id */
  readonly taskRunName: string | undefined;
  readonly taskRunId: string | undefined;
  /** which attempt of that run this was (1 = the first) */
  readonly attempt: number;
  /** the flow run it belongs to (undefined for a task called outside a flow) */
  readonly flowRunName: string | undefined;
  /** the virtual time of the call, ms since the epoch */
  readonly at: number;
}

type Body<A extends unknown[], R> = (...args: A) => R | Promise<Awaited<R>> | Awaited<R>;

export class TaskMock<A extends unknown[] = unknown[], R = unknown> {
  /** every attempt this mock ran, oldest first */
  readonly calls: MockCall<A>[] = [];
  private impl: Body<A, R>;
  private failuresLeft = 0;
  private failWith: ((n: number) => unknown) | undefined;
  private delayMs = 0;
  private outcome: { kind: "return"; value: unknown } | { kind: "throw"; error: unknown } | undefined;
  /** @internal the body the engine runs instead of the task's */
  readonly body: (...args: unknown[]) => Promise<unknown>;

  /** @internal */
  constructor(readonly task: Task<A, R>, impl: Body<A, R> | undefined, clock: VirtualClock, private readonly onRestore: () => void) {
    this.impl = impl ?? (task.fn as Body<A, R>);
    const self = this;
    this.body = async function mockedBody(this: unknown, ...args: unknown[]) {
      const ctx = runContext.getStore();
      const run = ctx?.taskRun;
      self.calls.push({
        args: args as A,
        taskRunName: run?.name,
        taskRunId: run?.id,
        attempt: run?.runCount ?? 1,
        flowRunName: ctx?.flowRun?.name,
        at: clock.now(),
      });
      if (self.delayMs > 0) await clock.sleep(self.delayMs, run?.signal);
      if (self.failuresLeft > 0) {
        self.failuresLeft--;
        throw self.failWith!(self.calls.length);
      }
      if (self.outcome?.kind === "throw") throw self.outcome.error;
      if (self.outcome?.kind === "return") return self.outcome.value;
      return self.impl.apply(this, args as A);
    };
  }

  /** How many attempts ran. */
  get callCount(): number {
    return this.calls.length;
  }

  /** The next `n` attempts throw (`error`, or an Error naming the mock), then the body runs as set. */
  failTimes(n: number, error?: unknown | ((call: number) => unknown)): this {
    if (!Number.isInteger(n) || n < 0) throw new FlowctlError("INVALID_ARGUMENT", `failTimes expects a whole number ≥ 0, got ${String(n)}`);
    this.failuresLeft = n;
    const name = this.task.name;
    this.failWith =
      typeof error === "function" ? (error as (call: number) => unknown)
      : error !== undefined ? () => error
      : (call) => new Error(`mock of '${name}' failed (call ${call})`);
    return this;
  }

  /** Every attempt returns `value` (after any failures set by `failTimes`). */
  returns(value: Awaited<R>): this {
    this.outcome = { kind: "return", value };
    return this;
  }

  /** Every attempt throws `error` (a Failed run, retried as the task says). */
  throws(error: unknown): this {
    this.outcome = { kind: "throw", error };
    return this;
  }

  /** Each attempt takes this long on the virtual clock before it does anything else (timeouts apply). */
  takes(duration: Duration): this {
    this.delayMs = durationMs(duration, "mock duration");
    return this;
  }

  /** Each attempt waits on the virtual clock forever: only a timeout or a cancellation ends it. */
  hangs(): this {
    this.delayMs = Infinity;
    return this;
  }

  /** Replace the implementation (and forget `returns`/`throws`). */
  implement(impl: Body<A, R>): this {
    this.impl = impl;
    this.outcome = undefined;
    return this;
  }

  /** Forget the calls recorded so far. */
  clearCalls(): this {
    this.calls.length = 0;
    return this;
  }

  /** Take the mock off: the task's own body runs again in this harness. */
  restore(): void {
    this.onRestore();
  }
}
