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
  resolve!: (o: Outcome) => void;

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

  start(timeoutMs: number | undefined): void {
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
    exec.then(
      (value) => this.settle({ kind: "ok", value }),
      (error) => this.settle({ kind: "error", error }),
    );
  }

  settle(o: Outcome): void {
    if (this.settled) return;
    this.settled = true;
    this.cancelTimer?.();
    if (this.remoteBody) this.env.observer?.body(this.taskRun, false);
    this.taskRun.interrupt = undefined;
    this.flowRun?.running.delete(this.taskRun);
    this.resolve(o);
  }
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
    const r = fn.apply(thisArg, args as unknown[]);
    // a returned generator is consumed here, inside the run's context (its prints, its timeout)
    if (r instanceof Promise) return r.then(consumeIfGenerator);
    return typeof r === "object" && r !== null ? consumeIfGenerator(r) : Promise.resolve(r);
  } catch (err) {
    return Promise.reject(err);
  }
}

