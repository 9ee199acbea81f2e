/**
 * Generator tasks (`function*`, `async function*`): a call returns an async iterable. The run
 * is created at the first pull, is Running while it yields and ends Completed when exhausted
 * (Failed when the body throws, after retries — a retried generator starts again from the
 * beginning). A consumer that stops early completes the run. A flow run waits for a generator run only
 * while it is being pulled; one left suspended at a yield when the flow's body and other task
 * runs are done is closed like a consumer that stopped early. While the generator is suspended
 * at a yield, a task called with the value it yielded records the generator run as its parent.
 * A timeout counts from the first pull to exhaustion.
 */
import { TimeoutError, coerceError, describeError, exceptionPhrase } from "../errors.ts";
import { clock } from "../clock.ts";
import { runContext, type RunContext } from "./context.ts";
import { runHooks } from "./hooks.ts";
import { bindArgs } from "./parameters.ts";
import { AwaitingRetry, Completed, Crashed, Failed, Retrying, Running, TimedOut, type State } from "./states.ts";
import {
  decideRetry, finish, finishBeforeStart, interruptedState, prepareTaskRun, settleUpstream, standaloneGenerators,
  type CallOptions, type Prepared,
} from "./task-engine.ts";
import { round } from "./local-attempt.ts";
import type { TaskDefinition } from "./task-definition.ts";
import type { FlowRunRecord, TaskRunRecord } from "./run-records.ts";
import { containsFutures, substituteFutures } from "./upstream.ts";
import { acquireConcurrencySlots, type ReleaseSlots } from "./concurrency.ts";

type AnyIterator = Iterator<unknown> | AsyncIterator<unknown>;

export function callGeneratorTask(
  def: TaskDefinition, thisArg: unknown, args: readonly unknown[], opts: CallOptions, ctx: RunContext | undefined,
): AsyncGenerator<unknown, void, undefined> {
  const self: { gen?: AsyncGenerator<unknown, void, undefined> } = {};
  // the run belongs to the context of the call, whoever pulls first
  self.gen = ctx ? runContext.run(ctx, () => generatorRun(def, thisArg, args, opts, self)) : generatorRun(def, thisArg, args, opts, self);
  return self.gen;
}

/** How to end a generator run suspended at a yield (its consumer stopped early). */
const closers = new WeakMap<TaskRunRecord, () => Promise<unknown>>();

/**
 * End the flow run's generator task runs that are suspended at a yield. The flow engine calls
 * this once its body and every other task run are done: nobody is left to pull them, and a
 * flow must not wait forever for a generator its body abandoned.
 */
export async function closeSuspendedGenerators(flowRun: FlowRunRecord): Promise<void> {
  const pending = Array.from(flowRun.activeGenerators.keys(), (run) => closers.get(run)?.());
  await Promise.all(pending.map((p) => p?.catch(() => undefined)));
}

async function* generatorRun(
  def: TaskDefinition, thisArg: unknown, args: readonly unknown[], opts: CallOptions, self: { gen?: AsyncGenerator<unknown, void, undefined> },
): AsyncGenerator<unknown, void, undefined> {
  const p = prepareTaskRun(def, thisArg, args, opts);
  const { run, flowRun, cfg } = p;
  // The flow run waits for this run only while it is being pulled: suspended at a yield, it is
  // idle (and closed by the flow engine if nobody pulls it again).
  let busy: { promise: Promise<void>; resolve: () => void } | undefined;
  const markBusy = () => {
    if (!flowRun || busy) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    busy = { promise, resolve };
    flowRun.inflight.add(promise);
  };
  const markIdle = () => {
    if (!flowRun || !busy) return;
    flowRun.inflight.delete(busy.promise);
    busy.resolve();
    busy = undefined;
  };
  markBusy();
  closers.set(run, () => self.gen!.return(undefined));
  if (p.nameError !== undefined) {
    const s = await finishBeforeStart(p, p.nameError);
    markIdle();
    throw s.error;
  }
  let final: State | undefined;
  let iter: AnyIterator | undefined;
  let release: ReleaseSlots | undefined;
  try {
    let callArgs = args;
    if (opts.waitFor !== undefined || containsFutures(args)) {
      const notReady = await settleUpstream(p);
      if (notReady) {
        final = notReady;
        return;
      }
      callArgs = substituteFutures(args) as unknown[];
      run.parameters = bindArgs(def.params, callArgs);
    }
    if (run.tags.length > 0) {
      // tag concurrency slots are held from the first pull until the run ends
      const slots = await acquireConcurrencySlots(run, flowRun, p.env);
      if (slots.kind !== "acquired") {
        final = slots.kind === "interrupted" ? interruptedState(slots.reason) : Failed({ message: slots.error.message, error: slots.error });
        return;
      }
      release = slots.release;
    }
    const deadline = cfg.timeoutMs === undefined ? undefined : clock().now() + cfg.timeoutMs;
    const taskCtx: RunContext = { flowRun, taskRun: run, tags: p.ctxTags, printLogger: p.logPrints ? run.logger : undefined, env: p.env, depth: p.depth };
    attempts: for (;;) {
      run.newAttempt();
      run.setState(run.runCount === 0 ? Running() : Retrying());
      if (cfg.onRunning.length) await runHooks(cfg.onRunning, def.publicTask, run, run.state, run.logger);
      let failure: State;
      try {
        iter = runContext.run(taskCtx, () => def.fn.apply(thisArg, callArgs as unknown[])) as AnyIterator;
        for (;;) {
          const step = await pull(iter, taskCtx, deadline, p);
          if (step.done) {
            final = Completed();
            break attempts;
          }
          const suspended = flowRun?.activeGenerators ?? standaloneGenerators;
          suspended.set(run, step.value);
          markIdle();
          try {
            yield step.value;
          } finally {
            suspended.delete(run);
            markBusy();
          }
        }
      } catch (err) {
        const error = coerceError(err);
        if (error instanceof TimeoutError) failure = TimedOut(error.message, error);
        else failure = Failed({ message: `Task run ${exceptionPhrase(error)}`, error });
      }
      const delay = await decideRetry(p, failure);
      if (delay === undefined) {
        final = failure;
        return;
      }
      if (delay > 0) {
        run.setState(AwaitingRetry(new Date(clock().now() + delay * 1000)));
        try {
          await clock().sleep(delay * 1000, flowRun?.signal);
        } catch (err) {
          final = interruptedState(coerceError(err));
          return;
        }
      }
    }
  } catch (err) {
    const error = coerceError(err);
    final = Crashed({ message: `Execution was interrupted by an unexpected exception: ${describeError(error)}`, error });
  } finally {
    // exhausted, failed, or the consumer stopped early (return()/break): the run ends here
    if (final === undefined) {
      final = Completed({ message: "The consumer stopped early." });
      try {
        await iter?.return?.();
      } catch {
        // the body's own cleanup failed; the consumer asked to stop, so the run still completes
      }
    }
    const s = await finish(p, final, run.logger);
    release?.();
    markIdle();
    if (s.type !== "COMPLETED" && !(s.name === "Completed")) {
      // surface the failure to the consumer
      // eslint-disable-next-line no-unsafe-finally
      throw s.error ?? new Error(s.message ?? s.name);
    }
  }
}

async function pull(iter: AnyIterator, ctx: RunContext, deadline: number | undefined, p: Prepared): Promise<IteratorResult<unknown>> {
  const observer = p.env.observer;
  if (observer === undefined) return pullWithin(iter, ctx, deadline, p);
  // the body runs while it is pulled (a test harness holds its clock meanwhile)
  observer.body(p.run, true);
  try {
    return await pullWithin(iter, ctx, deadline, p);
  } finally {
    observer.body(p.run, false);
  }
}

async function pullWithin(iter: AnyIterator, ctx: RunContext, deadline: number | undefined, p: Prepared): Promise<IteratorResult<unknown>> {
  const next = runContext.run(ctx, () => iter.next());
  if (deadline === undefined) return next;
  const left = deadline - clock().now();
  const timeout = () =>
    new TimeoutError("TASK_RUN_TIMEOUT", `Task run exceeded timeout of ${round(p.cfg.timeoutMs! / 1000)} second(s)`);
  if (left <= 0) throw timeout();
  let cancel: (() => void) | undefined;
  try {
    return await Promise.race([
      Promise.resolve(next),
      new Promise<never>((_, reject) => {
        cancel = clock().timeout(() => {
          const e = timeout();
          p.run.abort(e);
          reject(e);
        }, left);
      }),
    ]);
  } finally {
    cancel?.();
  }
}
