/**
 * The task engine: one task run from call to final state.
 *
 *   Pending ─▶ (upstream futures settle) ─▶ NotReady            if an upstream did not complete
 *           ─▶ (cache hit)               ─▶ Cached
 *           ─▶ Running ─▶ Completed
 *                      ─▶ Failed | TimedOut ─▶ AwaitingRetry ─▶ Retrying ─▶ …   while retries remain
 *                      ─▶ Cancelled | Crashed                                 interrupted
 *
 * The run keeps one record and one id through every attempt; each state is appended to its
 * history and handed to the store writer. The body runs on the flow's task runner.
 */
import { consumeIfGenerator } from "./consume-generator.ts";
import { FlowctlError, coerceError, describeError, exceptionPhrase, isFlowctlError, isNonErrorThrown } from "../errors.ts";
import { engineLogger, Logger } from "../logging/logger.ts";
import { LEVELS } from "../logging/levels.ts";
import { clock } from "../clock.ts";
import { currentContext } from "./context.ts";
import { TaskRunFuture } from "./futures.ts";
import { runHooks } from "./hooks.ts";
import { bindArgs } from "./parameters.ts";
import { baseDelaySeconds, jitteredDelay } from "./retry-policy.ts";
import { formatTraceback } from "../logging/traceback.ts";
import type { TaskRunRecord } from "./run-records.ts";
import {
  AwaitingRetry, Cached, Cancelled, Completed, Crashed, Failed, NotReady, Retrying, Running, State, TimedOut, isState,
} from "./states.ts";
import { planCache, readCached, writeCached, type CachePlan } from "./task-cache.ts";
import type { TaskDefinition } from "./task-definition.ts";
import { collectFutures, containsFutures, substituteFutures } from "./upstream.ts";
import { acquireConcurrencySlots, type ReleaseSlots } from "./concurrency.ts";
import { keepResult, noteInputs, noteOutcome, sourceHashOf } from "./keep-result.ts";
import { nestingError } from "./nesting.ts";
import { prepareTaskRun, type CallOptions, type Prepared } from "./task-prepare.ts";
import { round, runAttempt, runAttemptHere } from "./local-attempt.ts";
import { ConcurrentTaskRunner } from "../runners/concurrent.ts";

export { prepareTaskRun, standaloneGenerators, type CallOptions, type Prepared } from "./task-prepare.ts";

export interface StartedTaskRun {
  run: TaskRunRecord;
  /** the final (or NotReady) state, or a promise of it (never rejects): a quick run is done on return */
  done: State | Promise<State>;
}

/** Create the run (Pending, logged) and start it (a call: `submitTask` for a submit); the caller decides how to hand back the result. */
export function startTaskRun(def: TaskDefinition, thisArg: unknown, args: readonly unknown[], opts: CallOptions): StartedTaskRun {
  const p = prepareTaskRun(def, thisArg, args, opts);
  // counted in flight until its final state is recorded, hooks run and logged (see executeTaskRun)
  p.flowRun?.taskStarted();
  let done: State | Promise<State>;
  if (p.nameError !== undefined) done = finishBeforeStart(p, p.nameError);
  else if (syncNesting < SYNC_NESTING_BREAK) {
    // A called task's body runs before the call returns, so task calls nested in bodies nest on
    // the native stack; past SYNC_NESTING_BREAK levels the run starts from a fresh microtask
    // instead, and any depth of nesting fits in a bounded stack.
    syncNesting++;
    try {
      done = quickRun(p, false) ?? executeTaskRun(p, false);
    } finally {
      syncNesting--;
    }
  } else done = Promise.resolve(p).then(executeCalled);
  return { run: p.run, done };
}

/** Task runs being started on the current native stack, outermost first (see startTaskRun). */
let syncNesting = 0;
const SYNC_NESTING_BREAK = 32;
const executeCalled = (p: Prepared) => executeTaskRun(p, false);

/** The one INFO line for the runs one `.map` call submitted. */
export function logMapped(def: TaskDefinition, runs: readonly TaskRunRecord[]): void {
  if (runs.length === 0) return;
  const logger = currentContext()?.flowRun?.logger ?? engineLogger;
  const first = runs[0]!.name;
  const last = runs[runs.length - 1]!.name;
  const which = runs.length === 1 ? `'${first}'` : `'${first}' … '${last}'`;
  logger.info(`Submitted ${runs.length} task run${runs.length === 1 ? "" : "s"} of task '${def.name}' for execution (${which}).`);
}

/** `await t(...)`: the value, or a rejection with the run's error. */
export function callTask(def: TaskDefinition, thisArg: unknown, args: readonly unknown[], opts: CallOptions): Promise<unknown> {
  let started: StartedTaskRun;
  try {
    started = startTaskRun(def, thisArg, args, opts);
  } catch (err) {
    return Promise.reject(err);
  }
  const done = started.done;
  if (!(done instanceof State)) return opts.returnState ? done : done.then(unwrapState);
  if (opts.returnState) return Promise.resolve(done);
  try {
    return Promise.resolve(unwrapState(done));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * `t.submit(...)`: the run's future, handed back before any of the run happens (a sync body
 * included). The run waits for the store to keep up (backpressure) as two slots of the writer's
 * queue, and tells its record when it is done (`settle`): no closure or promise per run until
 * someone waits on this one future.
 */
export function submitTask(def: TaskDefinition, thisArg: unknown, args: readonly unknown[], opts: CallOptions): TaskRunFuture {
  const p = prepareTaskRun(def, thisArg, args, opts);
  p.flowRun?.taskStarted();
  if (p.nameError !== undefined) settleWhen(p.run, finishBeforeStart(p, p.nameError));
  else p.env.writer.whenAdmitted(executeSubmitted, p);
  return new TaskRunFuture(p.run);
}

const executeSubmitted = (p: Prepared) => {
  const done = quickRun(p, true) ?? executeTaskRun(p, true);
  if (done instanceof State) p.run.settle(done);
  else settleWhen(p.run, done);
};

function settleWhen(run: TaskRunRecord, done: Promise<State>): void {
  done.then((state) => run.settle(state));
}

export function unwrapState(state: State): unknown {
  if (state.type === "COMPLETED") return state.data;
  throw state.error ?? new FlowctlError("NOT_FINAL", `Task run ended in state ${state.toString()}`);
}

export async function finishBeforeStart(p: Prepared, err: unknown): Promise<State> {
  const error = coerceError(err);
  const state = Failed({ message: `Task run could not start: ${error.message}`, error });
  try {
    return await finish(p, state);
  } finally {
    p.flowRun?.taskEnded();
  }
}

async function executeTaskRun(p: Prepared, admitted: boolean): Promise<State> {
  const { run, cfg } = p;
  try {
    // backpressure: what was recorded stays in memory until the store has it
    if (!admitted) {
      const wait = p.env.writer.admit();
      if (wait) await wait;
    }
    try {
      let args = p.args;
      if (p.opts.waitFor !== undefined || containsFutures(args)) {
        const notReady = await settleUpstream(p);
        if (notReady) return await finish(p, notReady);
        args = substituteFutures(args) as unknown[];
        run.parameters = bindArgs(p.def.params, args);
      }
      const flowRun = p.flowRun;
      if (flowRun?.closedError) return await finish(p, interruptedState(flowRun.closedError));

      // keeping results for retries, and reusing them in a retry (generator runs are never either)
      const keep = flowRun !== undefined && flowRun.keepResults && !p.def.isGenerator;
      const reuse = p.def.isGenerator ? undefined : flowRun?.root.reuse;
      if (keep || reuse) noteInputs(run, p.thisArg);
      if (reuse) {
        const got = await reuse.take({ taskKey: p.def.taskKey, name: p.def.name, sourceHash: sourceHashOf(p.def) }, run);
        if (got) {
          if (keep) noteOutcome(p.def, run, flowRun!, "Cached", got.taskRunId);
          return await finish(p, new State("COMPLETED", { name: "Cached", message: got.message, data: got.value }));
        }
      }

      const plan = planCache(p.def, cfg, run, flowRun, p.thisArg);
      const debug = p.env.logHub.getThreshold() <= 10;
      if (plan) {
        run.cacheKey = plan.key;
        const hit = await readCached(plan, p.env);
        if (debug) {
          const why = plan.refresh ? "refreshCache is on: not read" : hit ? "hit" : "miss";
          run.logger.debug(`Cache key ${plan.key}: ${why}`);
        }
        if (hit) {
          if (keep) await keepResult(p.def, run, flowRun, hit.value);
          return await finish(p, Cached(hit.value));
        }
      } else if (debug) {
        run.logger.debug(cfg.persist && !p.def.isGenerator ? "No cache key (the policy gave none): not cached" : "Results not persisted: not cached");
      }

      let release: ReleaseSlots | undefined;
      if (run.tags.length > 0) {
        // the run stays Pending while it waits for tag concurrency slots
        const slots = await acquireConcurrencySlots(run, p.flowRun, p.env);
        if (slots.kind === "interrupted") return await finish(p, interruptedState(slots.reason));
        if (slots.kind === "refused") {
          return await finish(p, Failed({ message: slots.error.message, error: slots.error }));
        }
        release = slots.release;
      }
      try {
        return await attemptsThenFinish(p, args, plan, keep);
      } finally {
        release?.();
      }
    } catch (err) {
      return finish(p, crashedBy(err));
    }
  } finally {
    // after the final state is recorded, its hooks run and it is logged
    p.flowRun?.taskEnded();
  }
}

/** The attempts (the first one's outcome given, for a quick run that goes on here), then the result cached and kept, then the final state. */
async function attemptsThenFinish(
  p: Prepared, args: readonly unknown[], plan: CachePlan | undefined, keep: boolean, first?: Outcome | Promise<Outcome>,
): Promise<State> {
  const { run, flowRun } = p;
  const final = await attemptLoop(p, args, first);
  if (plan && final.type === "COMPLETED" && final.name !== "Cached") await writeCached(plan, p.def, run, final.data, p.env);
  if (keep && final.type === "COMPLETED") {
    const writing = keepResult(p.def, run, flowRun!, final.data);
    if (writing) await writing;
  }
  return await finish(p, final);
}

/** The engine itself broke (not the user's function): Crashed, not Failed. */
function crashedBy(err: unknown): State {
  if (isInterrupt(err)) return err.state;
  const error = coerceError(err);
  return Crashed({ message: `Execution was interrupted by an unexpected exception: ${describeError(error)}`, error });
}

/**
 * The common run, done on the caller's stack without an async frame or promise of its own (the
 * general path makes 11 promises per sequential run, each with the run context's hooks: a sixth
 * of the engine thread's CPU per run): a plain body (not async, not a generator function) on the
 * in-process runner without a concurrency cap, and nothing to wait for or look up first — no
 * upstream futures or waitFor, cache, tags, timeout, retry reuse or onRunning hooks, the store
 * keeping up (`admitted`: a submitted run was admitted already). The steps are those of
 * `executeTaskRun`, in its order; a body that throws, or returns a promise, a generator or a
 * State, goes on through the general attempt loop from that outcome. undefined: not such a run,
 * and nothing was done.
 */
function quickRun(p: Prepared, admitted: boolean): State | Promise<State> | undefined {
  const { run, cfg, def, env } = p;
  const flowRun = p.flowRun;
  if (def.isAsync || def.isGenerator || cfg.persist || cfg.timeoutMs !== undefined || cfg.onRunning.length > 0 || run.tags.length > 0) return undefined;
  if (p.opts.waitFor !== undefined || flowRun?.closedError || flowRun?.root.reuse || env.bodyFor !== undefined || env.observer !== undefined) return undefined;
  const runner = flowRun?.taskRunner ?? env.taskRunner;
  if (!(runner instanceof ConcurrentTaskRunner) || !runner.unlimited(flowRun?.settings ?? env.settings())) return undefined;
  if ((!admitted && !env.writer.admitsNow()) || containsFutures(p.args)) return undefined;
  const keep = flowRun !== undefined && flowRun.keepResults;
  let done: State | Promise<State>;
  try {
    if (keep) noteInputs(run, p.thisArg);
    if (env.logHub.getThreshold() <= LEVELS.DEBUG) run.logger.debug("Results not persisted: not cached");
    run.newAttempt();
    run.setState(Running());
    const outcome = runAttemptHere(p);
    if (outcome instanceof Promise || outcome.kind !== "ok") return continueQuick(p, keep, outcome);
    const final = Completed({ data: outcome.value });
    const writing = keep ? keepResult(def, run, flowRun, final.data) : undefined;
    done = writing ? writing.then(() => finish(p, final)) : finish(p, final);
  } catch (err) {
    done = finish(p, crashedBy(err));
  }
  // after the final state is recorded, its hooks run and it is logged
  if (done instanceof State) {
    flowRun?.taskEnded();
    return done;
  }
  return done.finally(() => flowRun?.taskEnded());
}

/** A quick run whose first attempt did not simply complete: on through the general steps. */
async function continueQuick(p: Prepared, keep: boolean, first: Outcome | Promise<Outcome>): Promise<State> {
  try {
    return await attemptsThenFinish(p, p.args, undefined, keep, first);
  } catch (err) {
    return finish(p, crashedBy(err));
  } finally {
    p.flowRun?.taskEnded();
  }
}

class InterruptError extends Error {
  constructor(readonly state: State) {
    super(state.message ?? state.name);
  }
}
const isInterrupt = (e: unknown): e is InterruptError => e instanceof InterruptError;

export function interruptedState(reason: Error): State {
  return Cancelled({ message: `Task run was cancelled: ${reason.message}`, error: reason });
}

/** Wait for upstream futures; returns a NotReady state when one did not complete (Failed when it is the run's own). */
export async function settleUpstream(p: Prepared): Promise<State | undefined> {
  const { run } = p;
  const ups = collectFutures(p.args);
  if (p.opts.waitFor) collectFutures(p.opts.waitFor as unknown[], ups);
  for (const u of ups) {
    if (u.future.taskRun.id === run.id) {
      // a user error, not an engine crash: the run fails instead of waiting forever
      const message = `Task run '${run.name}' cannot wait on its own future: it would never finish.`;
      run.logger.error(message);
      return Failed({ message, error: new FlowctlError("INVALID_ARGUMENT", message) });
    }
  }
  // run.parameters still hold the futures here: record each under the parameter it came in
  for (const [name, v] of Object.entries(run.parameters)) {
    for (const u of collectFutures(v)) run.addInput(name, u.future.taskRun.id);
  }
  if (p.opts.waitFor) for (const u of collectFutures(p.opts.waitFor as unknown[])) run.addInput("waitFor", u.future.taskRun.id);
  const states = await Promise.all(ups.map((u) => u.future.done));
  for (let i = 0; i < ups.length; i++) {
    const s = states[i]!;
    if (s.type === "COMPLETED" || ups[i]!.allowFailure) continue;
    const upName = ups[i]!.future.taskRun.name;
    const message = `Upstream task run '${upName}' did not reach a 'COMPLETED' state.`;
    run.logger.error(message);
    return NotReady(message, new FlowctlError("UPSTREAM_NOT_COMPLETED", message, { cause: s.error }));
  }
  return undefined;
}

export type Outcome =
  | { kind: "ok"; value: unknown }
  | { kind: "error"; error: unknown; timedOut?: boolean }
  | { kind: "interrupted"; state: State };

async function attemptLoop(p: Prepared, args: readonly unknown[], first?: Outcome | Promise<Outcome>): Promise<State> {
  const { run, cfg, def } = p;
  for (let given = first; ; given = undefined) {
    let outcome: Outcome;
    if (given !== undefined) outcome = await given; // the first attempt, begun by a quick run
    else {
      run.newAttempt();
      run.setState(run.runCount === 0 ? Running() : Retrying());
      if (cfg.onRunning.length) await runHooks(cfg.onRunning, def.publicTask, run, run.state, run.logger);
      outcome = await runAttempt(p, args);
    }
    if (outcome.kind === "interrupted") return outcome.state;
    let failure: State;
    if (outcome.kind === "ok") {
      const v = outcome.value;
      if (!isState(v)) return Completed({ data: typeof v === "object" && v !== null ? await consumeIfGenerator(v) : v });
      if (v.type !== "FAILED") return v;
      failure = v;
    } else {
      const error = coerceError(outcome.error);
      // the runner lost the body (its worker died): Crashed, and not retried, as in Prefect
      if (!outcome.timedOut && isFlowctlError(error, "CRASHED")) return Crashed({ message: error.message, error });
      failure = outcome.timedOut
        ? TimedOut(error.message, error)
        : Failed({ message: `Task run ${exceptionPhrase(error)}`, error });
    }
    const retry = await decideRetry(p, failure);
    if (retry === undefined) return failure;
    if (retry > 0) {
      run.setState(AwaitingRetry(new Date(clock().now() + retry * 1000)));
      try {
        await clock().sleep(retry * 1000, p.flowRun?.signal);
      } catch (err) {
        return interruptedState(coerceError(err));
      }
    }
  }
}

/** Seconds until the next retry, or undefined when no retry follows (logged either way). */
export async function decideRetry(p: Prepared, failure: State): Promise<number | undefined> {
  const { run, cfg, def } = p;
  const what = failure.name === "TimedOut" ? `TimeoutError: ${failure.message}` : failure.error ? describeError(failure.error) : failure.toString();
  // a thrown non-Error reads as what it was: `Task run threw a string: "text"`
  const lead = failure.name !== "TimedOut" && isNonErrorThrown(failure.error) ? `Task run ${what}` : `Task run failed with exception: ${what}`;
  // too deep: no retry can help, and the top-level run says it once (not every level on the way out)
  if (nestingError(failure.error)) {
    run.logger.debug(lead);
    return undefined;
  }
  const retries = cfg.retries;
  // the ERROR line that ends a failed task carries its traceback (user frames, cause chain)
  const trace = failure.name !== "TimedOut" && failure.error ? formatTraceback(failure.error) : "";
  const withTrace = (line: string) => (trace ? `${line}\n${trace}` : line);
  if (run.runCount > retries) {
    run.logger.error(withTrace(retries === 0 ? lead : `${lead} - Retries are exhausted`));
    return undefined;
  }
  if (def.options.retryConditionFn) {
    let ok: boolean;
    try {
      ok = Boolean(await def.options.retryConditionFn(def.publicTask, run, failure));
    } catch (err) {
      run.logger.error(`retryConditionFn raised ${describeError(err)}; not retrying.`);
      ok = false;
    }
    if (!ok) {
      run.logger.error(withTrace(`${lead} - Retry condition not met`));
      return undefined;
    }
  }
  const n = run.runCount;
  const base = baseDelaySeconds(cfg.retryDelay, retries, n);
  const delay = cfg.retryJitterFactor ? jitteredDelay(base, cfg.retryJitterFactor) : base;
  if (run.logger.isEnabledFor(10)) {
    const at = new Date(clock().now() + delay * 1000).toISOString();
    run.logger.debug(
      `Retry ${n}/${retries} scheduled for ${at}: base delay ${round(base)} s` +
        (cfg.retryJitterFactor ? `, jitter factor ${cfg.retryJitterFactor} → ${round(delay)} s` : ""),
    );
  }
  run.logger.info(
    `${lead} - Retry ${n}/${retries} will start ${delay > 0 ? `${round(delay)} second(s) from now` : "immediately"}`,
  );
  return delay;
}



/**
 * Record the final state, run its hooks, log it. Synchronous when there are no hooks (most
 * runs): a promise less for every task run.
 */
export function finish(p: Prepared, state: State, logger?: Logger): State | Promise<State> {
  const { run, cfg, def } = p;
  run.setState(state);
  p.tally?.record(p.tallyIndex, state);
  // a call that did not complete still counts in a retry's occurrences
  if (state.type !== "COMPLETED" && state.isFinal() && p.flowRun?.keepResults) noteOutcome(def, run, p.flowRun, state.name);
  const hooks = state.type === "COMPLETED" ? cfg.onCompletion : state.type === "FAILED" ? cfg.onFailure : undefined;
  if (hooks?.length) return runHooks(hooks, def.publicTask, run, state, logger ?? run.logger).then(() => logFinished(p, state, logger));
  return logFinished(p, state, logger);
}

/** (the run's logger is made only for a line that goes somewhere: most runs of a quiet flow log nothing) */
function logFinished(p: Prepared, state: State, given: Logger | undefined): State {
  p.run.finished = true;
  // the inputs' identity served the kept result and the retry bookkeeping, both done by now
  p.run.inputsKey = undefined;
  p.run.inputsProblem = undefined;
  const logger = given ?? (state.type !== "COMPLETED" || p.env.logHub.getThreshold() <= INFO ? p.run.logger : undefined);
  if (logger === undefined) return state;
  if (state.type === "CANCELLED" && p.flowRun?.closedError) {
    // the flow run is being interrupted: one line per task when it ends, not one per run
    logger.debug(`Finished in state ${state.toString()}`);
    const byTask = p.flowRun.cancelledByTask;
    byTask.set(p.def.name, (byTask.get(p.def.name) ?? 0) + 1);
  } else if (state.type !== "COMPLETED") {
    if (nestingError(state.error)) logger.debug(`Finished in state ${state.toString()}`);
    else logger.error(`Finished in state ${state.toString()}`);
  }
  else if (logger.isEnabledFor(INFO)) logger.info(`Finished in state ${state.toString()}`);
  return state;
}

const INFO = LEVELS.INFO;

