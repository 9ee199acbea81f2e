/**
 * ProcessPoolTaskRunner: task bodies run in child processes (forked Node processes), apart
 * from the flow's memory and native state: a body that exits the process, crashes natively
 * or runs out of memory ends its task run Crashed and the flow goes on. A timed-out body's
 * process is killed and replaced.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { FlowctlError, describeError } from "../errors.ts";
import type { SpawnWorker } from "./pool.ts";
import { PoolTaskRunner, type PoolTaskRunnerOptions } from "./pool-runner.ts";
import type { WorkerMessage } from "./pool-protocol.ts";

export interface ProcessPoolTaskRunnerOptions extends PoolTaskRunnerOptions {
  /**
   * Node options of each worker process.
   * @example ["--max-old-space-size=512"]
   * @default []
   */
  execArgv?: string[] | undefined;
}

const BOOTSTRAP = fileURLToPath(new URL("../worker/bootstrap.mjs", import.meta.url));

const SIGNAL_HINTS: Record<string, string> = {
  SIGABRT: " (a native crash, or it ran out of memory)",
  SIGSEGV: " (a native crash)",
  SIGBUS: " (a native crash)",
  SIGKILL: " (killed from outside, e.g. by the out-of-memory killer)",
};

/**
 * Worker processes alive in this process. An idle worker leaves when its IPC channel closes,
 * but one stuck in a busy loop would not notice: when this process exits, they are killed.
 */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const c of liveChildren) c.kill("SIGKILL");
    });
  }
}

export class ProcessPoolTaskRunner extends PoolTaskRunner {
  readonly name = "ProcessPoolTaskRunner";
  private readonly execArgv: string[];

  constructor(options: ProcessPoolTaskRunnerOptions = {}) {
    super("ProcessPoolTaskRunner", options);
    const a = options.execArgv;
    if (a !== undefined && (!Array.isArray(a) || a.some((x) => typeof x !== "string"))) {
      throw new FlowctlError("INVALID_OPTION", `ProcessPoolTaskRunner: expected \`execArgv\` to be an array of strings, got ${JSON.stringify(a)}`);
    }
    this.execArgv = a ? [...a] : [];
  }

  protected spawnWorker: SpawnWorker = (events) => {
    const child = fork(BOOTSTRAP, [], {
      execArgv: this.execArgv,
      serialization: "advanced",
      stdio: ["ignore", "inherit", "pipe", "ipc"],
    });
    track(child);
    // stderr passes through; its tail names a fatal error (V8's out-of-memory report) in the crash
    let tail = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      process.stderr.write(chunk);
      tail = (tail + chunk.toString("utf8")).slice(-8192);
    });
    let stderrClosed = !child.stderr;
    child.stderr?.once("close", () => (stderrClosed = true));
    let exited: Promise<void> | undefined;
    const exit = new Promise<void>((resolve) => {
      child.on("exit", (code, signal) => {
        let reported = false;
        const report = () => {
          if (reported) return;
          reported = true;
          const fatal = /^FATAL ERROR: (.+)$/m.exec(tail)?.[1]?.trim();
          const how = signal ? `was killed by ${signal}${fatal ? "" : SIGNAL_HINTS[signal] ?? ""}` : `exited with code ${code}`;
          events.exit(fatal ? `${how}: ${fatal}` : how);
          resolve();
        };
        if (stderrClosed) return report();
        // the rest of stderr first, unless a grandchild holds it open (a ref'd timer: the
        // stream may be unref'd, and the report must still come)
        const timer = setTimeout(report, 250);
        child.stderr?.once("close", () => {
          clearTimeout(timer);
          report();
        });
      });
    });
    child.on("message", (m: WorkerMessage) => events.message(m));
    // 'error' = it could not be spawned, killed or sent to; its 'exit' reports the crash, if it ran
    child.on("error", (err) => {
      if (child.pid === undefined) events.exit(`could not be started: ${describeError(err)}`);
    });
    return {
      label: `worker process ${child.pid ?? "?"}`,
      send: (m) => {
        child.send(m);
      },
      kill: () => {
        // ref'd again, or an idle (unref'd) child's exit would not hold the loop while we wait for it
        exited ??= child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : (child.ref(), child.kill("SIGKILL"), exit);
        return exited;
      },
      setRef: (on) => {
        const stderr = child.stderr as (NodeJS.ReadableStream & { ref?(): void; unref?(): void }) | null;
        if (on) {
          child.ref();
          child.channel?.ref();
          stderr?.ref?.();
        } else {
          child.unref();
          child.channel?.unref();
          stderr?.unref?.();
        }
      },
    };
  };
}
