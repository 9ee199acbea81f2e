/**
 * What ThreadPoolTaskRunner and ProcessPoolTaskRunner share: check that an attempt can run
 * off this thread, send it to a worker of the pool, and turn the worker's reply back into a
 * value, a State or a throw. Retries, caching, hooks, tags and states stay with the engine in
 * the flow's process; only the body runs in the worker.
 *
 * A timed-out or cancelled attempt's worker is killed (a busy loop cannot hold it) and replaced
 * by the next attempt that needs one; a worker that dies on its own ends its attempt CRASHED.
 */
import { availableParallelism } from "node:os";
import { FlowctlError } from "../errors.ts";
import { logHub } from "../logging/logger.ts";
import { WorkerPool, type SpawnWorker } from "./pool.ts";
import { checkTransferable, decodeError, notTransferable, thisIsIgnorable, usesThis, type FlowRunSnapshot, type RunMessage } from "./pool-protocol.ts";
import type { TaskAttempt, TaskRunner } from "./types.ts";

export interface PoolTaskRunnerOptions {
  /**
   * Most workers at once; attempts beyond that wait in submission order.
   * @default os.availableParallelism()
   */
  maxWorkers?: number | undefined;
}

export abstract class PoolTaskRunner implements TaskRunner {
  abstract readonly name: string;
  readonly maxWorkers: number;
  private pool: WorkerPool | undefined;

  constructor(what: string, options: PoolTaskRunnerOptions) {
    if (typeof options !== "object" || options === null) {
      throw new FlowctlError("INVALID_OPTION", `${what}: expected an options object like { maxWorkers: 4 }, got ${options === null ? "null" : typeof options}`);
    }
    const m = options.maxWorkers;
    if (m !== undefined && (typeof m !== "number" || !Number.isInteger(m) || m < 1)) {
      throw new FlowctlError("INVALID_OPTION", `${what}: expected \`maxWorkers\` to be a positive integer, got ${JSON.stringify(m) ?? String(m)}`);
    }
    this.maxWorkers = m ?? availableParallelism();
  }

  protected abstract spawnWorker: SpawnWorker;

  /** Workers alive right now (for tests and diagnostics). */
  get workerCount(): number {
    return this.pool?.size ?? 0;
  }

  async run<T>(attempt: TaskAttempt<T>): Promise<T> {
    const { msg, flowParameters } = this.prepare(attempt);
    this.pool ??= new WorkerPool(this.name, this.maxWorkers, this.spawnWorker);
    const reply = await this.pool.execute(msg, flowParameters, attempt.taskRun.signal);
    switch (reply.type) {
      case "result":
        return reply.value as T;
      case "state": {
        const s = reply.state;
        const error = s.error === undefined ? undefined : decodeError(s.error);
        return attempt.reviveState({ type: s.type, name: s.name, message: s.message, data: s.data, error }) as T;
      }
      case "error":
        throw decodeError(reply.error);
    }
  }

  async shutdown(): Promise<void> {
    await this.pool?.shutdown();
  }

  private prepare(attempt: TaskAttempt): { msg: Omit<RunMessage, "job">; flowParameters: Record<string, unknown> | undefined } {
    const { task, taskRun: run } = attempt;
    if (task.modulePath === undefined) {
      throw new FlowctlError(
        "TASK_NOT_FOUND",
        `Task '${task.name}' cannot run on ${this.name}: flowctl could not tell which module defines it; define it at the top level of a module file.`,
      );
    }
    if (!thisIsIgnorable(attempt.thisArg) && usesThis(task.fn)) {
      throw new FlowctlError(
        "NOT_SUPPORTED",
        `Task '${task.name}' uses \`this\`, which cannot be sent to a ${this.name} worker: off-thread runners call a task's ` +
          "function on its own; pass what it needs as arguments, or run it on the default task runner.",
      );
    }
    const lead = `Task run '${run.name}' cannot be sent to a ${this.name} worker`;
    attempt.args.forEach((a, i) => {
      const bad = checkTransferable(a, `args[${i}]`);
      if (bad) throw notTransferable(lead, bad);
    });
    const flow = attempt.flowRun;
    let flowRun: FlowRunSnapshot | undefined;
    let flowParameters: Record<string, unknown> | undefined;
    if (flow && flow.id === run.flowRunId) {
      flowRun = {
        id: flow.id,
        name: flow.name,
        flowName: flow.flowName,
        tags: [...flow.tags],
        runCount: flow.runCount,
        parentFlowRunId: flow.parentFlowRunId,
      };
      // what cannot cross is left out of `runtime.flowRun.parameters` in the worker
      flowParameters = {};
      for (const [k, v] of Object.entries(flow.parameters)) if (checkTransferable(v, k) === undefined) flowParameters[k] = v;
    }
    const msg: Omit<RunMessage, "job"> = {
      type: "run",
      runner: this.name,
      modulePath: task.modulePath,
      taskKey: task.taskKey,
      taskName: task.name,
      args: attempt.args as unknown[],
      taskRun: {
        id: run.id,
        name: run.name,
        taskName: run.taskName,
        taskKey: run.taskKey,
        flowRunId: run.flowRunId,
        parentTaskRunId: run.parentTaskRunId,
        tags: [...run.tags],
        runCount: run.runCount,
      },
      flowRun,
      logPrints: attempt.logPrints ?? false,
      threshold: logHub.getThreshold(),
    };
    return { msg, flowParameters };
  }
}


