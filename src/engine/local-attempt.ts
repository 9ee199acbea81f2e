/**
 * One attempt of a task body, handed to the flow's task runner (`TaskAttempt`): it runs the body in
 * the task run's context (locally, or the runner takes it elsewhere), arms the timeout, and
 * settles once — with the body's value or error, or the state that interrupted it.
 */
import { consumeIfGenerator } from "./consume-generator.ts";
import { FlowctlError, TimeoutError } from "../errors.ts";
import type { ReturnedState, TaskAttempt } from "../runners/types.ts";
import type { Settings } from "../settings/schema.ts";
import { clock } from "../clock.ts";
import { runContext, type RunContext } from "./context.ts";
import type { RunEnv } from "./env.ts";
import type { FlowRunRecord, TaskRunRecord } from "./run-records.ts";
import { State } from "./states.ts";
import type { TaskDefinition } from "./task-definition.ts";
import type { Outcome, Prepared } from "./task-engine.ts";

/** Seconds for a message: `5`, `0.25`. */
export const round = (s: number) => (Number.isInteger(s) ? String(s) : s.toFixed(2).replace(/0+$/, ""));

/**
 * One attempt of a task body, handed to the task runner. A class rather than closures: an
 * attempt is made for every task run, and its methods live once on the prototype.
 */
class LocalAttempt implements TaskAttempt {
  readonly task: TaskDefinition;
  readonly taskRun: TaskRunRecord;
  readonly flowRun: FlowRunRecord | undefined;
  readonly logPrints: boolean;
  readonly thisArg: unknown;
  readonly mode: "call" | "submit";
  readonly settings: Settings;
  private readonly ctx: RunContext;
  private readonly env: RunEnv;
  private settled = false;
  private remoteBody = false;
  private cancelTimer: (() => void) | undefined;
  /** how it settled (`runHere` reads it when the body settled it before returning) */
  private outcome: Outcome | undefined;
  resolve: ((o: Outcome) => void) | undefined;

  constructor(p: Prepared, readonly args: readonly unknown[]) {
    this.task = p.def;
    this.taskRun = p.run;
    this.flowRun = p.flowRun;
    this.logPrints = p.logPrints;
    this.thisArg = p.thisArg;
    this.mode = p.opts.mode;
    this.settings = p.flowRun?.settings ?? p.env.settings();
    this.env = p.env;
    this.ctx = { flowRun: p.flowRun, taskRun: p.run, tags: p.ctxTags, printLogger: p.logPrints ? p.run.logger : undefined, env: p.env, depth: p.depth };
  }

  invokeLocal(): Promise<unknown> {
    // a synchronous body may hold the event loop for long: what came before it goes to the store first
    if (!this.task.isAsync) this.env.writer.handOff();
    const fn = this.env.bodyFor?.(this.task.fn) ?? this.task.fn;
    const observer = this.env.observer;
    if (observer === undefined) return runContext.run(this.ctx, invokeBody, fn, this.thisArg, this.args);
    observer.body(this.taskRun, true);
    const body = runContext.run(this.ctx, invokeBody, fn, this.thisArg, this.args);
    const ended = () => observer.body(this.taskRun, false);
    body.then(ended, ended);
    return body;
  }

  reviveState(s: ReturnedState): State {
    return new State(s.type, { name: s.name, message: s.message, data: s.data, error: s.error });
  }

  /** What may end the attempt before its body does: an interrupt of the run, the timeout. */
  private arm(timeoutMs: number | undefined): void {
    const run = this.taskRun;
    run.interrupt = (state) => {
      run.abort(state.error ?? new FlowctlError("CANCELLED", state.message ?? "cancelled"));
      this.settle({ kind: "interrupted", state });
    };
    this.flowRun?.running.add(run);
    if (timeoutMs !== undefined) {
      this.cancelTimer = clock().timeout(() => {
        const err = new TimeoutError("TASK_RUN_TIMEOUT", `Task run exceeded timeout of ${round(timeoutMs / 1000)} second(s)`);
        run.abort(err);
        this.settle({ kind: "error", error: err, timedOut: true });
      }, timeoutMs);
    }
  }

  start(timeoutMs: number | undefined): void {
    this.arm(timeoutMs);
    const run = this.taskRun;
    let exec: Promise<unknown>;
    try {
      // a mocked body runs here, whatever the flow's runner (a worker elsewhere knows no mocks)
      const mocked = this.env.bodyFor?.(this.task.fn) !== undefined;
      const runner = this.flowRun?.taskRunner ?? this.env.taskRunner;
      if (!mocked && !runner.runsInProcess && this.env.observer) {
        // the body runs in a worker, never through invokeLocal: it counts as running until the attempt settles
        this.remoteBody = true;
        this.env.observer.body(run, true);
      }
      exec = mocked ? this.invokeLocal() : runner.run(this);
    } catch (err) {
      exec = Promise.reject(err);
    }
    this.follow(exec);
  }

  private follow(exec: Promise<unknown>): void {
    exec.then(
      (value) => this.settle({ kind: "ok", value }),
      (error) => this.settle({ kind: "error", error }),
    );
  }

  /**
   * The attempt of a plain (not async) body on the in-process runner without a concurrency cap
   * or a timeout (`quickRun` in task-engine.ts): its body runs here and now, in its context, as
   * `invokeLocal` runs it. Its outcome at once when the body threw or returned a plain value;
   * a promise of it when the body returned a promise, a thenable, a generator or a State.
   */
  runHere(): Outcome | Promise<Outcome> {
    this.arm(undefined);
    // a synchronous body may hold the event loop for long: what came before it goes to the store first
    this.env.writer.handOff();
    let value: unknown;
    try {
      value = runContext.run(this.ctx, callBody, this.task.fn, this.thisArg, this.args);
    } catch (error) {
      this.settle({ kind: "error", error });
      return this.outcome!;
    }
    if (this.settled) return this.outcome!; // interrupted while the body ran
    if (typeof value !== "object" || value === null || isPlainValue(value)) {
      this.settle({ kind: "ok", value });
      return this.outcome!;
    }
    this.follow(runContext.run(this.ctx, settleValue, value));
    return new Promise<Outcome>((resolve) => {
      if (this.outcome) resolve(this.outcome);
      else this.resolve = resolve;
    });
  }

  settle(o: Outcome): void {
    if (this.settled) return;
    this.settled = true;
    this.outcome = o;
    this.cancelTimer?.();
    if (this.remoteBody) this.env.observer?.body(this.taskRun, false);
    this.taskRun.interrupt = undefined;
    this.flowRun?.running.delete(this.taskRun);
    this.resolve?.(o);
  }
}

const callBody = (fn: (...a: any[]) => unknown, thisArg: unknown, args: readonly unknown[]): unknown => fn.apply(thisArg, args as unknown[]);

/** A body's value that is final as it is: not a promise or thenable, a generator, or a State (which the attempt loop reads). */
function isPlainValue(v: object): boolean {
  if (v instanceof State || typeof (v as { then?: unknown }).then === "function") return false;
  const tag = Object.prototype.toString.call(v);
  return tag !== "[object Generator]" && tag !== "[object AsyncGenerator]";
}

/** The attempt of a quick run (`LocalAttempt.runHere`). */
export function runAttemptHere(p: Prepared): Outcome | Promise<Outcome> {
  return new LocalAttempt(p, p.args).runHere();
}

export function runAttempt(p: Prepared, args: readonly unknown[]): Promise<Outcome> {
  const attempt = new LocalAttempt(p, args);
  return new Promise<Outcome>((resolve) => {
    attempt.resolve = resolve;
    attempt.start(p.cfg.timeoutMs);
  });
}

function invokeBody(fn: (...a: any[]) => unknown, thisArg: unknown, args: readonly unknown[]): Promise<unknown> {
  try {
    return settleValue(fn.apply(thisArg, args as unknown[]));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * What a body returned, as a promise of its final value: a promise or thenable awaited, a
 * returned generator consumed — called inside the run's context (its prints, its timeout).
 */
function settleValue(r: unknown): Promise<unknown> {
  if (r instanceof Promise) return r.then(consumeIfGenerator);
  return typeof r === "object" && r !== null ? consumeIfGenerator(r) : Promise.resolve(r);
}

