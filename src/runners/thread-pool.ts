/**
 * ThreadPoolTaskRunner: task bodies run on worker threads of this process, so synchronous,
 * CPU-bound bodies run in parallel and a timed-out body is really stopped (its thread is
 * terminated and replaced).
 */
import { Worker, type ResourceLimits } from "node:worker_threads";
import { FlowctlError, describeError } from "../errors.ts";
import type { SpawnWorker } from "./pool.ts";
import { PoolTaskRunner, type PoolTaskRunnerOptions } from "./pool-runner.ts";
import { pack, unpack, type WorkerMessage } from "./pool-protocol.ts";

export interface ThreadPoolTaskRunnerOptions extends PoolTaskRunnerOptions {
  /**
   * Heap and stack limits of each worker thread; a thread that exceeds them dies and its task
   * run ends Crashed (the flow goes on). Unset = Node's defaults.
   * @example { maxOldGenerationSizeMb: 256 }
   */
  resourceLimits?: ResourceLimits | undefined;
}

const BOOTSTRAP = new URL("../worker/bootstrap.mjs", import.meta.url);

export class ThreadPoolTaskRunner extends PoolTaskRunner {
  readonly name = "ThreadPoolTaskRunner";
  private readonly resourceLimits: ResourceLimits | undefined;

  constructor(options: ThreadPoolTaskRunnerOptions = {}) {
    super("ThreadPoolTaskRunner", options);
    const r = options.resourceLimits;
    if (r !== undefined && (typeof r !== "object" || r === null)) {
      throw new FlowctlError("INVALID_OPTION", `ThreadPoolTaskRunner: expected \`resourceLimits\` to be an object, got ${r === null ? "null" : typeof r}`);
    }
    this.resourceLimits = r;
  }

  protected spawnWorker: SpawnWorker = (events) => {
    const worker = new Worker(BOOTSTRAP, { execArgv: [], argv: [], resourceLimits: this.resourceLimits });
    let error: Error | undefined;
    worker.on("message", (m: WorkerMessage) => events.message(unpackReply(m)));
    worker.on("error", (err: Error) => (error = err));
    worker.on("exit", (code) => events.exit(error ? `died: ${describeError(error)}` : `exited with code ${code}`));
    return {
      label: `worker thread ${worker.threadId}`,
      send: (m) => worker.postMessage({ ...m, args: pack(m.args) }),
      kill: async () => {
        await worker.terminate();
      },
      setRef: (on) => (on ? worker.ref() : worker.unref()),
    };
  };
}

/** Results and returned states' data come packed from a worker thread (see pool-protocol.ts). */
function unpackReply(m: WorkerMessage): WorkerMessage {
  if (m.type === "result") return { ...m, value: unpack(m.value as Uint8Array) };
  if (m.type === "state") return { ...m, state: { ...m.state, data: unpack(m.state.data as Uint8Array) } };
  return m;
}
