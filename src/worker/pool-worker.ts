/**
 * The worker side of ThreadPoolTaskRunner and ProcessPoolTaskRunner. A worker runs one task
 * attempt at a time: it imports the task's module (once), finds the task by its key, runs
 * the body inside a run context that mirrors the flow process's run records, and answers
 * with the result, a returned State, or what the body threw. Log lines of the run (and
 * console output when logPrints is on) go back to the flow process as records, which emits
 * them to its console and store.
 *
 * Inside the worker `runtime.taskRun`/`runtime.flowRun` and `getRunLogger()` work as on the
 * main thread. Task and flow calls do not: the engine that records runs lives in the flow's
 * process, so a body that calls a task here fails at once with a clear error (the context's
 * flow run carries it as `closedError`, which the engine checks before creating any run).
 */
import { consumeIfGenerator } from "../engine/consume-generator.ts";
import { Worker, parentPort } from "node:worker_threads";
import { pathToFileURL } from "node:url";
import { FlowctlError, describeError } from "../errors.ts";
import { runContext, type RunContext } from "../engine/context.ts";
import { bindArgs } from "../engine/parameters.ts";
import type { FlowRunRecord, TaskRunRecord } from "../engine/run-records.ts";
import { isState } from "../engine/states.ts";
import { findTask } from "../engine/task-registry.ts";
import type { TaskDefinition } from "../engine/task-definition.ts";
import { Logger, logHub, type LogSink } from "../logging/logger.ts";
import { installPrintCapture } from "../logging/prints.ts";
import { checkTransferable, encodeError, notTransferable, pack, unpack, type RunMessage, type WorkerMessage } from "../runners/pool-protocol.ts";

interface Channel {
  send(m: WorkerMessage, then?: () => void): void;
  onMessage(fn: (m: RunMessage) => void): void;
}

function openChannel(): Channel {
  const port = parentPort;
  if (port) {
    // arguments and results are packed with v8 on threads (see pool-protocol.ts)
    return {
      send: (m, then) => {
        if (m.type === "result") m = { ...m, value: pack(m.value) };
        else if (m.type === "state") m = { ...m, state: { ...m.state, data: pack(m.state.data) } };
        port.postMessage(m);
        then?.();
      },
      onMessage: (fn) =>
        port.on("message", (m: RunMessage) => {
          if (m?.type !== "run") return;
          let args: unknown[];
          try {
            args = unpack(m.args as unknown as Uint8Array) as unknown[];
          } catch (err) {
            port.postMessage({ type: "error", job: m.job, error: encodeError(err) } satisfies WorkerMessage);
            return;
          }
          fn({ ...m, args });
        }),
    };
  }
  const send = process.send?.bind(process);
  if (send) {
    // the flow's process decides what an interrupt means; when it goes away, so do we
    process.on("SIGINT", () => undefined);
    process.on("disconnect", () => process.exit(0));
    return {
      send: (m, then) => send(m, undefined, {}, () => then?.()),
      onMessage: (fn) => process.on("message", fn as (m: unknown) => void),
    };
  }
  throw new Error("flowctl pool-worker: start it as a worker thread or a forked child process");
}

const channel = openChannel();

// Every record goes to the flow's process; records outside a run (warnings from re-importing
// a workflow module, say) were already shown there once.
const forward: LogSink = {
  write: (rec) => {
    if (rec.taskRunId !== undefined || rec.flowRunId !== undefined) channel.send({ type: "log", rec });
  },
};
logHub.consoleSink = forward as never;
logHub.storeSink = undefined;
installPrintCapture();

if (!parentPort) {
  // A child process whose flow process died without a word (SIGKILL) would spin on in a busy
  // body, which never sees 'disconnect': a watchdog thread ends it when it is orphaned.
  const watchdog = `const { workerData: w } = require("node:worker_threads");
    setInterval(() => { if (process.ppid !== w.ppid) process.kill(w.pid, "SIGKILL"); }, 500);`;
  new Worker(watchdog, { eval: true, workerData: { ppid: process.ppid, pid: process.pid } }).unref();
  // a child process: report what killed it before going (a thread's parent gets it as 'error')
  process.on("uncaughtException", (err) => {
    channel.send({ type: "fatal", error: encodeError(err) }, () => process.exit(1));
    setTimeout(() => process.exit(1), 1000).unref();
  });
}

const imports = new Map<string, Promise<unknown>>();
/** the flow run's signal here: a cancelled flow run stops its workers instead */
const neverAborted = new AbortController().signal;
let lastFlowRun: { id: string; parameters: Record<string, unknown> } | undefined;

async function locate(m: RunMessage): Promise<TaskDefinition> {
  let loading = imports.get(m.modulePath);
  if (!loading) {
    // A module that calls its flow at the top level, unguarded by `isMain(import.meta)`, would
    // start a flow run (and its own pool, and so on) in every worker: run calls fail instead.
    const url = pathToFileURL(m.modulePath).href;
    loading = runContext.run(refusingContext(`a ${m.runner} worker imported ${m.modulePath} to run task '${m.taskName}'`), () => import(url));
    imports.set(m.modulePath, loading);
  }
  try {
    await loading;
  } catch (err) {
    throw new FlowctlError(
      "LOAD_ERROR",
      `A ${m.runner} worker could not import ${m.modulePath} to run task '${m.taskName}': ${describeError(err)}`,
      { cause: err },
    );
  }
  const def = findTask(m.taskKey);
  if (!def) {
    throw new FlowctlError(
      "TASK_NOT_FOUND",
      `Task '${m.taskName}' was not found in ${m.modulePath} by a ${m.runner} worker, which imports the task's module ` +
        "and looks the task up by its key: define it at the top level of a module (not inside a function, a flow or a loop).",
    );
  }
  return def;
}

/** Outside any run (while importing a module): no run, and task or flow calls are refused. */
function refusingContext(doing: string): RunContext {
  const flowRun = {
    id: undefined,
    name: undefined,
    flowName: undefined,
    parameters: {},
    tags: [],
    runCount: undefined,
    parentFlowRunId: undefined,
    signal: undefined,
    get closedError() {
      return new FlowctlError(
        "NOT_SUPPORTED",
        `A task or flow was called while ${doing}; call flows at the bottom of a workflow file only ` +
          "behind `if (isMain(import.meta)) { ... }`, so that importing the file does not run them.",
      );
    },
  };
  return { flowRun: flowRun as unknown as FlowRunRecord, taskRun: undefined, tags: [] };
}

function contextFor(m: RunMessage, def: TaskDefinition): RunContext {
  const logger = new Logger(`Task run '${m.taskRun.name}'`, m.taskRun.flowRunId, m.taskRun.id);
  let signal: AbortSignal | undefined;
  const taskRun = {
    ...m.taskRun,
    parameters: bindArgs(def.params, m.args),
    logger,
    // never aborted here: a timed-out or cancelled run's worker is stopped instead
    get signal() {
      return (signal ??= new AbortController().signal);
    },
  };
  const f = m.flowRun;
  if (f?.parameters !== undefined) lastFlowRun = { id: f.id, parameters: f.parameters };
  const flowRun = {
    id: f?.id,
    name: f?.name,
    flowName: f?.flowName,
    parameters: f !== undefined && lastFlowRun?.id === f.id ? lastFlowRun.parameters : {},
    tags: f?.tags ?? [],
    runCount: f?.runCount,
    parentFlowRunId: f?.parentFlowRunId,
    signal: neverAborted,
    logger: f ? new Logger(`Flow run '${f.name}'`, f.id, undefined) : undefined,
    // read by the engine before it creates a task or flow run: made only when someone tries
    get closedError() {
      return new FlowctlError(
        "NOT_SUPPORTED",
        `Task run '${m.taskRun.name}' runs in a ${m.runner} worker, where tasks and flows cannot be called ` +
          `(their runs are recorded by the flow's process): call them from the flow, or run '${m.taskName}' on the default task runner.`,
      );
    },
  };
  return {
    flowRun: flowRun as unknown as FlowRunRecord,
    taskRun: taskRun as unknown as TaskRunRecord,
    tags: m.taskRun.tags,
    printLogger: m.logPrints ? logger : undefined,
  };
}


async function runJob(m: RunMessage): Promise<WorkerMessage> {
  logHub.threshold = m.threshold;
  const def = await locate(m);
  const ctx = contextFor(m, def);
  const value = await runContext.run(ctx, async () => consumeIfGenerator(await def.fn.apply(undefined, m.args)));
  const lead = `Task run '${m.taskRun.name}' on ${m.runner} returned a value that cannot be sent back`;
  if (isState(value)) {
    const bad = checkTransferable(value.data, "result.data");
    if (bad) throw notTransferable(lead, bad);
    const state = {
      type: value.type,
      name: value.name,
      message: value.message,
      data: value.data,
      error: value.error === undefined ? undefined : encodeError(value.error),
    };
    return { type: "state", job: m.job, state };
  }
  const bad = checkTransferable(value, "result");
  if (bad) throw notTransferable(lead, bad);
  return { type: "result", job: m.job, value };
}

channel.onMessage((m) => {
  if (m?.type !== "run") return;
  runJob(m).then(
    (reply) => {
      try {
        channel.send(reply);
      } catch (err) {
        channel.send({ type: "error", job: m.job, error: encodeError(err) });
      }
    },
    (err) => channel.send({ type: "error", job: m.job, error: encodeError(err) }),
  );
});
channel.send({ type: "ready" });
