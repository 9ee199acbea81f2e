/**
 * The flow engine: one flow run from call to final state.
 *
 *   Pending ─▶ Running ─▶ (body settles, every task run it started finishes) ─▶ final
 *   final is Failed/TimedOut and retries remain ─▶ AwaitingRetry ─▶ Retrying ─▶ …
 *   interrupted (SIGINT/SIGTERM) ─▶ Cancelled | Crashed
 *
 * The final state: a throw → Failed; a returned value → Completed(); `undefined` → the
 * aggregate of the task runs and subflow runs the body started directly in its last attempt.
 */
import { FlowctlError, TimeoutError, coerceError, describeError, exceptionPhrase } from "../errors.ts";
import { engineLogger, Logger } from "../logging/logger.ts";
import type { TaskRunner } from "../runners/types.ts";
import { clock } from "../clock.ts";
import { currentContext, runContext, type RunContext } from "./context.ts";
import { processEnv } from "./env.ts";
import type { FlowDefinition, ResolvedFlow } from "./flow-definition.ts";
import { isFuture } from "./futures.ts";
import { runHooks } from "./hooks.ts";
import { randomRunName } from "./names.ts";
import { prepareFlowCall, type PreparedFlowCall } from "./flow-call.ts";
import { baseDelaySeconds } from "./retry-policy.ts";
import { renderRunName } from "./run-name-template.ts";
import { recordLimits } from "./run-records.ts";
import { FlowRunRecord, type ResumedRun, type ReuseSource } from "./flow-run-record.ts";
import { secretParameterKeys, unwrapSecretArgs } from "./secrets.ts";
import { AttemptTally } from "./attempt-tally.ts";
import { AwaitingRetry, Cancelled, Completed, Crashed, Failed, Pending, Retrying, Running, State, TimedOut, isState } from "./states.ts";
import { collectFutures, containsFutures, substituteFutures } from "./upstream.ts";
import { closeSuspendedGenerators } from "./generator-task.ts";
import { watchForCancel } from "./cancel-watch.ts";
import { statusLine } from "../logging/status-line.ts";
import { nestedDepth, nestingError } from "./nesting.ts";
import { slotReleasesSettled } from "./concurrency.ts";
import { boundHeapSlack } from "./heap-slack.ts";

/** Flow runs in progress in this process, subflows included (interrupted together on SIGINT/SIGTERM). */
export const activeFlowRuns = new Map<FlowRunRecord, Promise<State>>();

type Outcome =
  | { kind: "ok"; value: unknown }
  | { kind: "error"; error: unknown }
  | { kind: "timeout"; error: TimeoutError }
  | { kind: "interrupted"; state: State };

const interrupts = new WeakMap<FlowRunRecord, (state: State) => void>();

export async function callFlow(def: FlowDefinition, thisArg: unknown, args: readonly unknown[]): Promise<unknown> {
  const { state } = await runFlow(def, thisArg, args);
  if (state.type === "COMPLETED") return state.data;
  throw state.error ?? new FlowctlError("FLOW_RUN_FAILED", state.message ?? state.name);
}

/** How `flowctl run` and `flowctl runs retry` start a top-level flow run. */
export interface RunFlowOptions {
  /** `<absolute file>:<flow name>`, recorded with the run (what `runs retry` loads) */
  entrypoint?: string | undefined;
  /** take up this run from the store (same id, run count + 1) instead of creating one */
  resume?: ResumedRun | undefined;
  /** the earlier task calls this run may reuse */
  reuse?: ReuseSource | undefined;
  /** the call's arguments, already checked (flowctl run checks them before opening the store) */
  prepared?: PreparedFlowCall | undefined;
}

/**
 * Run a flow to its final state; never rejects for the flow's own failures. Bad parameters
 * reject with a ParameterError before any run exists.
 */
export async function runFlow(
  def: FlowDefinition, thisArg: unknown, callArgs: readonly unknown[], opts: RunFlowOptions = {},
): Promise<{ run: FlowRunRecord; state: State }> {
  // values wrapped in secret() are unwrapped before any check: the flow receives the real value
  const unwrapped = unwrapSecretArgs(callArgs);
  const { args, parameters } = opts.prepared ?? (await prepareFlowCall(def, unwrapped.args));
  const ctx = currentContext();
  const parent = ctx?.flowRun;
  if (parent?.closedError) throw parent.closedError;
  const env = ctx?.env ?? processEnv;
  const settings = parent?.settings ?? env.settings();
  nestedDepth(ctx?.depth, settings.PREFECT_RUNS_MAX_NESTING_DEPTH, "flow", def.name);
  const cfg = def.resolve(settings);
  const run = new FlowRunRecord({
    env,
    name: opts.resume?.name ?? randomRunName(),
    flowName: def.name,
    flowVersion: def.version,
    parentFlowRunId: parent?.id,
    parentTaskRunId: ctx?.taskRun?.id,
    parameters,
    tags: ctx?.tags ?? [],
    settings,
    taskRunner: def.options.taskRunner ?? parent?.taskRunner ?? env.taskRunner,
    logPrints: cfg.logPrints,
    root: parent?.root,
    entrypoint: parent ? undefined : opts.entrypoint,
    resume: parent ? undefined : opts.resume,
  });
  run.secretKeys = secretParameterKeys(parameters, unwrapped.secrets, def.paramsSchema, recordLimits(settings));
  env.observer?.created(run);
  if (!parent) run.reuse = opts.reuse;
  let nameError: unknown;
  if (def.options.flowRunName !== undefined && !opts.resume) {
    const template = def.options.flowRunName;
    try {
      // `runtime.flowRun` inside a flowRunName function describes the run being named
      const naming: RunContext = { flowRun: run, taskRun: undefined, tags: run.tags, env };
      run.rename(runContext.run(naming, () => renderRunName(template, parameters, "flowRunName")));
    } catch (err) {
      nameError = err;
    }
  }
  if (parent) run.progress = parent.progress;
  if (!parent) {
    await env.writer.open();
    // the process's own runs (not a test harness's): keep the heap near what is live
    if (env === processEnv) boundHeapSlack();
  }
  run.setState(Pending());
  env.writer.markLive(run.id);
  // the flow run is in the store before its first log line (a SIGKILL from here on leaves it)
  if (!parent) await env.writer.persistNow();
  if (parent) parent.logger.info(`Created subflow run '${run.name}' for flow '${def.name}'`);
  // on the engine's logger, but stored with the run it announces
  else if (opts.resume) {
    new Logger(engineLogger.source, run.id, undefined, env.logHub).info(`Retrying flow run '${run.name}' for flow '${def.name}' (run count ${run.runCount + 1})`);
  } else new Logger(engineLogger.source, run.id, undefined, env.logHub).info(`Created flow run '${run.name}' for flow '${def.name}'`);

  let done: Promise<State>;
  if (nameError !== undefined) {
    const e = coerceError(nameError);
    done = finishFlow(def, cfg, run, Failed({ message: `Flow run could not start: ${e.message}`, error: e }));
  } else {
    done = executeFlowRun(def, cfg, run, thisArg, args, ctx);
  }
  if (parent) {
    const tally = ctx?.taskRun === undefined ? parent.attempt : undefined;
    const index = tally?.add() ?? 0;
    parent.inflight.add(done);
    done.then((s) => {
      tally?.record(index, s);
      parent.inflight.delete(done);
    });
  }
  activeFlowRuns.set(run, done);
  // a top-level run can be cancelled from any process sharing the store (`flowctl runs cancel`)
  const stopWatch = parent ? undefined : watchForCancel(run, (message) => cancelRun(run, message));
  // a top-level run shows its progress under the log while stderr is a terminal
  // (the process's own console only: a test harness's runs log elsewhere)
  const showsStatus = !parent && env === processEnv && statusLine.start(run.progress);
  let state: State;
  try {
    state = await done;
  } finally {
    stopWatch?.();
    if (showsStatus) statusLine.stop();
    activeFlowRuns.delete(run);
    env.writer.markDone(run.id);
    // the last flow run in progress that uses a runner releases its workers and connections
    if (!runnerInUse(run.taskRunner)) await run.taskRunner.shutdown?.().catch(() => undefined);
    if (!parent) {
      await slotReleasesSettled();
      await env.writer.flush().catch(() => undefined);
    }
  }
  return { run, state };
}

function runnerInUse(runner: TaskRunner): boolean {
  for (const other of activeFlowRuns.keys()) if (other.taskRunner === runner) return true;
  return false;
}

async function executeFlowRun(
  def: FlowDefinition, cfg: ResolvedFlow, run: FlowRunRecord, thisArg: unknown, args: readonly unknown[], ctx: RunContext | undefined,
): Promise<State> {
  let final: State;
  try {
    for (;;) {
      run.newAttempt();
      run.closedError = undefined;
      run.attempt = new AttemptTally();
      run.setState(run.runCount === 0 ? Running() : Retrying());
      // attempts made by this process (a retried run counts from where it was)
      const attempt = run.runCount - run.baseRunCount;
      if (attempt === 1 && run.logger.isEnabledFor(10)) {
        run.logger.debug(`Task runner: ${run.taskRunner.name}${def.options.taskRunner ? "" : run.parentFlowRunId ? " (the parent flow run's)" : " (the default)"}`);
      }
      if (cfg.hooks.onRunning.length) await runHooks(cfg.hooks.onRunning, def.publicFlow, run, run.state, run.logger);
      const outcome = await runFlowAttempt(def, cfg, run, thisArg, args, ctx);
      await settleInflight(run);
      if (run.activeGenerators.size > 0) {
        // generator task runs left suspended at a yield: nobody can pull them any more
        await closeSuspendedGenerators(run);
        await settleInflight(run);
      }
      final = await finalState(run, outcome);
      if (final.type !== "FAILED" || attempt > cfg.retries) break;
      const delay = baseDelaySeconds(cfg.retryDelay, cfg.retries, attempt);
      run.logger.info(
        `Flow run failed in state ${final.toString()} - Retry ${attempt}/${cfg.retries} will start ${delay > 0 ? `${delay} second(s) from now` : "immediately"}`,
      );
      if (delay > 0) {
        run.setState(AwaitingRetry(new Date(clock().now() + delay * 1000)));
        const interrupted = await sleepInterruptible(run, delay * 1000);
        if (interrupted) {
          final = interrupted;
          break;
        }
      }
    }
  } catch (err) {
    const error = coerceError(err);
    final = Crashed({ message: `Execution was interrupted by an unexpected exception: ${describeError(error)}`, error });
  }
  return finishFlow(def, cfg, run, final);
}

async function finishFlow(def: FlowDefinition, cfg: ResolvedFlow, run: FlowRunRecord, final: State): Promise<State> {
  run.setState(final);
  const hooks =
    final.type === "COMPLETED" ? cfg.hooks.onCompletion
    : final.type === "FAILED" ? cfg.hooks.onFailure
    : final.type === "CANCELLED" ? cfg.hooks.onCancellation
    : final.type === "CRASHED" ? cfg.hooks.onCrashed
    : [];
  if (hooks.length) await runHooks(hooks, def.publicFlow, run, final, run.logger);
  for (const [taskName, n] of run.cancelledByTask) {
    run.logger.warning(`${n} task run${n === 1 ? "" : "s"} of task '${taskName}' cancelled: ${run.closedError?.message ?? "the flow run was interrupted"}`);
  }
  run.cancelledByTask.clear();
  if (final.type === "COMPLETED") run.logger.info(`Finished in state ${final.toString()}`);
  // too deep: the top-level run says it once, not every level on the way out
  else if (run.parentFlowRunId !== undefined && nestingError(final.error)) run.logger.debug(`Finished in state ${final.toString()}`);
  else run.logger.error(`Finished in state ${final.toString()}`);
  // every top-level run ends with its counts (`1000 task runs: 998 Completed, 2 Failed in 6.9 s`)
  if (run.parentFlowRunId === undefined) run.logger.info(run.progress.summaryLine());
  return final;
}

function runFlowAttempt(
  def: FlowDefinition, cfg: ResolvedFlow, run: FlowRunRecord, thisArg: unknown, args: readonly unknown[], ctx: RunContext | undefined,
): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    let settled = false;
    let cancelTimer: (() => void) | undefined;
    const observer = run.env.observer;
    const settle = (o: Outcome) => {
      if (settled) return;
      settled = true;
      cancelTimer?.();
      observer?.body(run, false);
      interrupts.delete(run);
      resolve(o);
    };
    interrupts.set(run, (state) => {
      const reason = state.error ?? new FlowctlError("CANCELLED", state.message ?? "cancelled");
      run.closedError = reason;
      run.abort(reason);
      for (const t of run.running) t.interrupt?.(new State(state.type, { name: state.name, message: state.message, error: reason }));
      settle({ kind: "interrupted", state });
    });
    if (cfg.timeoutMs !== undefined) {
      cancelTimer = clock().timeout(() => {
        const secs = cfg.timeoutMs! / 1000;
        const err = new TimeoutError("FLOW_RUN_TIMEOUT", `Flow run exceeded timeout of ${secs} second(s)`);
        run.closedError = err;
        run.abort(err);
        for (const t of run.running) {
          t.interrupt?.(Cancelled({ message: `Flow run '${run.name}' timed out; this task run was cancelled.`, error: err }));
        }
        settle({ kind: "timeout", error: err });
      }, cfg.timeoutMs);
    }
    const runCtx: RunContext = {
      flowRun: run, taskRun: undefined, tags: ctx?.tags ?? [], printLogger: run.logPrints ? run.logger : undefined, env: ctx?.env,
      depth: (ctx?.depth ?? 0) + 1,
    };
    observer?.body(run, true);
    let body: Promise<unknown>;
    try {
      const r = runContext.run(runCtx, () => def.fn.apply(thisArg, args as unknown[]));
      body = r instanceof Promise ? r : Promise.resolve(r);
    } catch (err) {
      body = Promise.reject(err);
    }
    body.then(
      (value) => settle({ kind: "ok", value }),
      (error) => settle({ kind: "error", error }),
    );
  });
}

/** Wait until every task run started in this flow run has finished (new ones may start meanwhile). */
async function settleInflight(run: FlowRunRecord): Promise<void> {
  for (;;) {
    const tasks = run.whenTasksSettled();
    if (tasks) await tasks;
    else if (run.inflight.size > 0) await Promise.all(Array.from(run.inflight));
    else return;
  }
}

async function finalState(run: FlowRunRecord, outcome: Outcome): Promise<State> {
  switch (outcome.kind) {
    case "interrupted":
      return outcome.state;
    case "timeout":
      return TimedOut(outcome.error.message, outcome.error);
    case "error": {
      const error = coerceError(outcome.error);
      return Failed({ message: `Flow run ${exceptionPhrase(error, true)}`, error });
    }
    case "ok": {
      let v = outcome.value;
      if (isState(v)) return v;
      if (v === undefined) return aggregate(run);
      if (isFuture(v) || containsFutures(v)) {
        await Promise.all(collectFutures(v).map((u) => u.future.done));
        v = substituteFutures(v);
      }
      return Completed({ data: v });
    }
  }
}

function aggregate(run: FlowRunRecord): State {
  const { total, failed, cancelled, firstError } = run.attempt;
  if (failed > 0) {
    const message = `${failed}/${total} states failed.`;
    return Failed({ message, error: new FlowctlError("FLOW_RUN_FAILED", message, { cause: firstError }) });
  }
  if (cancelled > 0) {
    const message = `${cancelled}/${total} states cancelled.`;
    return Cancelled({ message, error: new FlowctlError("CANCELLED", message, { cause: firstError }) });
  }
  return Completed({ message: "All states completed." });
}

async function sleepInterruptible(run: FlowRunRecord, ms: number): Promise<State | undefined> {
  const ac = new AbortController();
  let interrupted: State | undefined;
  interrupts.set(run, (state) => {
    interrupted = state;
    ac.abort(state.error);
  });
  try {
    await clock().sleep(ms, ac.signal);
  } catch {
    // interrupted during the wait
  } finally {
    interrupts.delete(run);
  }
  return interrupted;
}

/**
 * End every top-level flow run in this process: SIGINT → Cancelled, SIGTERM → Crashed.
 * Their running task runs end the same way. Resolves when they have all finished.
 */
export async function interruptActiveFlowRuns(signal: "SIGINT" | "SIGTERM" | "SIGHUP" | "CRASH", cause?: unknown): Promise<void> {
  const runs = Array.from(activeFlowRuns);
  for (const [run] of runs) interruptRun(run, signal, cause);
  await Promise.all(runs.map(([, done]) => done));
}

/**
 * The process is ending now, with no time for runs to wind down (a second Ctrl-C,
 * `process.exit()` from workflow code): every active flow run and every task run still
 * executing in it gets its final state at once, synchronously, so that the store's last
 * synchronous flush records it. Runs already final are left as they are.
 */
export function endActiveRunsNow(type: "CRASHED" | "CANCELLED", message: string): number {
  let ended = 0;
  const error = new FlowctlError(type === "CANCELLED" ? "CANCELLED" : "CRASHED", message);
  const make = () => (type === "CANCELLED" ? Cancelled({ message, error }) : Crashed({ message, error }));
  for (const run of activeFlowRuns.keys()) {
    for (const t of run.running) {
      if (!t.state.isFinal()) {
        t.setState(make());
        ended++;
      }
    }
    if (!run.state.isFinal()) {
      run.setState(make());
      ended++;
    }
  }
  return ended;
}

/** End a flow run Cancelled with this message, as SIGINT would (`flowctl runs cancel`). */
export function cancelRun(run: FlowRunRecord, message: string): void {
  const error = new FlowctlError("CANCELLED", message);
  endRun(run, Cancelled({ message, error }), error);
}

function endRun(run: FlowRunRecord, state: State, error: Error): void {
  const fn = interrupts.get(run);
  if (fn) fn(state);
  else {
    run.closedError = error;
    run.abort(error);
    for (const t of run.running) t.interrupt?.(state);
  }
}

function interruptRun(run: FlowRunRecord, signal: "SIGINT" | "SIGTERM" | "SIGHUP" | "CRASH", cause?: unknown): void {
  const message =
    signal === "SIGINT" ? "Flow run was cancelled by SIGINT (interrupt)."
    : signal === "SIGTERM" ? "Flow run crashed: the process received SIGTERM."
    : signal === "SIGHUP" ? "Flow run crashed: the process received SIGHUP (its terminal went away)."
    : `Flow run crashed: an uncaught exception: ${describeError(cause)}`;
  const error = new FlowctlError(signal === "SIGINT" ? "CANCELLED" : "CRASHED", message, { cause });
  endRun(run, signal === "SIGINT" ? Cancelled({ message, error }) : Crashed({ message, error }), error);
}
