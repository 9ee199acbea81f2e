/**
 * Generator tasks (`function*`, `async function*`): a call returns an async iterable. The run
 * is created at the first pull, is Running while it yields and ends Completed when exhausted
 * (Failed when the body throws, after retries — a retried generator starts again from the
 * beginning). A consumer that stops early completes the run. While the generator is suspended
 * at a yield, a task called with the value it yielded records the generator run as its parent.
 * A timeout counts from the first pull to exhaustion.
 */
import { TimeoutError, coerceError, describeError } from "../errors.ts";
import { clock } from "./clock.ts";
import { runContext, type RunContext } from "./context.ts";
import { runHooks } from "./hooks.ts";
import { bindArgs } from "./parameters.ts";
import { AwaitingRetry, Completed, Crashed, Failed, Retrying, Running, TimedOut, type State } from "./states.ts";
import {
  decideRetry, finish, finishBeforeStart, interruptedState, prepareTaskRun, round, settleUpstream, standaloneGenerators,
  type CallOptions, type Prepared,
} from "./task-engine.ts";
import type { TaskDefinition } from "./task-definition.ts";
import { containsFutures, substituteFutures } from "./upstream.ts";
import { acquireConcurrencySlots, type ReleaseSlots } from "./concurrency.ts";

type AnyIterator = Iterator<unknown> | AsyncIterator<unknown>;

export function callGeneratorTask(
  def: TaskDefinition, thisArg: unknown, args: readonly unknown[], opts: CallOptions, ctx: RunContext | undefined,
): AsyncGenerator<unknown, void, undefined> {
  // the run belongs to the context of the call, whoever pulls first
  const gen = ctx ? runContext.run(ctx, () => generatorRun(def, thisArg, args, opts)) : generatorRun(def, thisArg, args, opts);
  return gen;
}

async function* generatorRun(def: TaskDefinition, thisArg: unknown, args: readonly unknown[], opts: CallOptions): AsyncGenerator<unknown, void, undefined> {
  const p = prepareTaskRun(def, thisArg, args, opts);
  const { run, flowRun, cfg } = p;
  let settleDone!: (s: State) => void;
  const done = new Promise<State>((r) => (settleDone = r));
  if (flowRun) {
    flowRun.inflight.add(done);
    done.then(() => flowRun.inflight.delete(done));
  }
  if (p.nameError !== undefined) {
    const s = await finishBeforeStart(p, p.nameError);
    settleDone(s);
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
      const slots = await acquireConcurrencySlots(run, flowRun);
      if (slots.kind !== "acquired") {
        final = slots.kind === "interrupted" ? interruptedState(slots.reason) : Failed({ message: slots.error.message, error: slots.error });
        return;
      }
      release = slots.release;
    }
    const deadline = cfg.timeoutMs === undefined ? undefined : clock().now() + cfg.timeoutMs;
    const taskCtx: RunContext = { flowRun, taskRun: run, tags: p.ctxTags, printLogger: p.logPrints ? run.logger : undefined };
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
          try {
            yield step.value;
          } finally {
            suspended.delete(run);
          }
        }
      } catch (err) {
        const error = coerceError(err);
        if (error instanceof TimeoutError) failure = TimedOut(error.message, error);
        else failure = Failed({ message: `Task run encountered an exception ${describeError(error)}`, error });
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
    settleDone(s);
    if (s.type !== "COMPLETED" && !(s.name === "Completed")) {
      // surface the failure to the consumer
      // eslint-disable-next-line no-unsafe-finally
      throw s.error ?? new Error(s.message ?? s.name);
    }
  }
}

async function pull(iter: AnyIterator, ctx: RunContext, deadline: number | undefined, p: Prepared): Promise<IteratorResult<unknown>> {
  const next = runContext.run(ctx, () => iter.next());
  if (deadline === undefined) return next;
  const left = deadline - clock().now();
  const timeout = () =>
    new TimeoutError("TASK_RUN_TIMEOUT", `Task run exceeded timeout of ${round(p.cfg.timeoutMs! / 1000)} second(s)`);
  if (left <= 0) throw timeout();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve(next),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const e = timeout();
          p.run.abort(e);
          reject(e);
        }, left);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
