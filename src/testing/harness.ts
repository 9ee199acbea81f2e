/**
 * The test harness: everything a flow needs to run inside a test, in memory, on virtual time.
 *
 *   testHarness() ─▶ open: h.run(fn) runs code in the harness; h.mock, h.clock.advance,
 *                          h.runs/taskRuns/logs read what happened
 *                 ─▶ h.close() ─▶ closed: the store is closed, mocks dropped; h.run refuses
 *
 * A harness owns a run store (memory), a result storage (memory), settings (defaults plus the
 * ones given: never the environment, a project file or a profile), a log hub (captured; printed
 * only with `print`), a virtual clock and its mocks. Code reaches them only inside `h.run`,
 * through the run context, so two harnesses in one process — or tests running at once — never
 * see each other's runs, time or mocks, and nothing outside a harness changes.
 */
import { UsageError, FlowctlError } from "../errors.ts";
import { enableScopedClocks, runContext } from "../engine/context.ts";
import type { RunEnv } from "../engine/env.ts";
import { cancelRun } from "../engine/flow-engine.ts";
import { Cancelled } from "../engine/states.ts";
import { LEVELS } from "../logging/levels.ts";
import { LogHub } from "../logging/logger.ts";
import { installPrintCapture } from "../logging/prints.ts";
import { MemoryResultStorage } from "../results/memory-storage.ts";
import { ConcurrentTaskRunner } from "../runners/concurrent.ts";
import { isTask, type Task } from "../sdk/task.ts";
import { settingsFrom, type Settings } from "../settings/index.ts";
import type { LogLevelName } from "../settings/schema.ts";
import { MemoryDatabase, MemoryStore } from "../store/memory/memory-store.ts";
import { StoreWriter } from "../store/writer.ts";
import { Activity } from "./activity.ts";
import { durationMs, type Duration } from "./duration.ts";
import { TaskMock } from "./mocks.ts";
import { runFileHere, type RunFileOptions, type RunFileResult } from "./run-file.ts";
import { flowRunView, logLine, taskRunView, type FlowRunView, type LogLine, type TaskRunView } from "./views.ts";
import { settle, VirtualClock } from "./virtual-clock.ts";

export interface HarnessOptions {
  /** settings for the harness's runs (`{ PREFECT_TASK_DEFAULT_RETRIES: 2 }`); everything else is the default */
  settings?: Readonly<Record<string, string | number | boolean | readonly number[]>>;
  /** print log lines as they happen (plain, to stderr, or to the stream given); default: captured only */
  print?: boolean | NodeJS.WriteStream;
  /** the virtual time the harness starts at; default: the real time now */
  startTime?: Date | number;
  /** move the clock by itself when every run waits on it; default true */
  autoAdvance?: boolean;
}

/** The harness's virtual clock, as tests see it. */
export interface HarnessClock {
  /** virtual time, ms since the epoch */
  now(): number;
  /** Move time on (`"5m"`, `"1h30m"`, or seconds), firing every timer that falls due on the way. */
  advance(duration: Duration): Promise<void>;
  /** Wait on virtual time (for fakes written by hand; the run counts as waiting on the clock). */
  sleep(duration: Duration, signal?: AbortSignal): Promise<void>;
  /** timers armed now (retry waits, time limits, sleeps) */
  readonly pendingTimers: number;
}

let harnesses = 0;

/** Make a harness. It is ready at once; `await` it for symmetry with `close()`. */
export async function testHarness(options: HarnessOptions = {}): Promise<TestHarness> {
  return new TestHarness(options);
}

export class TestHarness {
  readonly clock: HarnessClock;
  /** the harness's run store (in memory): what `flowctl runs` would read */
  readonly store: MemoryStore;
  /** the harness's result storage (the cache; in memory) */
  readonly results: MemoryResultStorage;
  readonly settings: Settings;
  private readonly vclock: VirtualClock;
  private readonly activity: Activity;
  private readonly writer: StoreWriter;
  private readonly hub: LogHub;
  private readonly lines: LogLine[] = [];
  private readonly mocks = new Map<Function, TaskMock<any, any>>();
  private readonly env: RunEnv;
  /** how to fail each `h.run` in progress */
  private readonly inProgress = new Set<(err: Error) => void>();
  private closed = false;

  constructor(options: HarnessOptions = {}) {
    enableScopedClocks();
    installPrintCapture();
    const n = ++harnesses;
    const start = options.startTime instanceof Date ? options.startTime.getTime() : options.startTime ?? Date.now();
    if (!Number.isFinite(start)) throw new FlowctlError("INVALID_ARGUMENT", `testHarness: startTime must be a Date or ms since the epoch, got ${String(options.startTime)}`);
    const vclock = (this.vclock = new VirtualClock(start));
    this.settings = settingsFrom(
      {
        // never written: the harness keeps its store and results in memory
        PREFECT_HOME: "/nonexistent/flowctl-test-harness",
        PREFECT_API_DATABASE_CONNECTION_URL: `memory://harness-${process.pid}-${n}`,
        ...(options.settings as Record<string, unknown> | undefined),
      },
      "the test harness settings",
    );
    const now = () => vclock.now();
    this.store = new MemoryStore(new MemoryDatabase(now), `harness-${process.pid}-${n}`);
    this.results = new MemoryResultStorage(now);
    this.writer = new StoreWriter({ exitHooks: false });
    this.writer.storeProvider = async () => this.store;
    const print = options.print === true ? process.stderr : options.print || undefined;
    this.hub = new LogHub({ threshold: LEVELS[this.settings.PREFECT_LOGGING_LEVEL], now, console: print });
    this.hub.storeSink = { write: (rec) => this.writer.addLog(rec) };
    this.hub.extraSinks.push({ write: (rec) => this.lines.push(logLine(rec)) });
    this.activity = new Activity(vclock, options.autoAdvance ?? true);
    this.activity.onStall = (open) => {
      const names = open.map((r) => `'${r.name}' (${r.state.name})`).join(", ");
      const err = new FlowctlError(
        "HARNESS_STALLED",
        `Every run in this test harness waits on the virtual clock and no timer is armed, so nothing can happen (a mock that hangs() with no timeout?). Open runs: ${names}`,
      );
      for (const fail of this.inProgress) fail(err);
      this.cancelOpenRuns(`Cancelled by the test harness: ${err.message}`);
    };
    this.env = {
      settings: () => this.settings,
      writer: this.writer,
      logHub: this.hub,
      resultStorage: () => this.results,
      runStore: async () => this.store,
      taskRunner: new ConcurrentTaskRunner(),
      clock: vclock,
      bodyFor: (fn) => this.mocks.get(fn)?.body,
      observer: this.activity,
    };
    const activity = this.activity;
    this.clock = {
      now: () => vclock.now(),
      advance: async (d) => {
        const ms = durationMs(d, "time to advance");
        activity.paused++;
        try {
          await vclock.advance(ms);
        } finally {
          activity.paused--;
          activity.schedule();
        }
      },
      sleep: (d, signal) => vclock.sleep(durationMs(d, "sleep"), signal),
      get pendingTimers() {
        return vclock.pendingTimers;
      },
    };
  }

  /** Run `fn` (a flow, a task, or code that calls them) inside the harness; resolves with its result. */
  run<R>(fn: () => R): Promise<Awaited<R>> {
    this.checkOpen("run");
    if (typeof fn !== "function") return Promise.reject(new FlowctlError("INVALID_ARGUMENT", `h.run expects a function, got ${typeof fn}`));
    return new Promise<Awaited<R>>((resolve, reject) => {
      this.inProgress.add(reject);
      runContext
        .run({ tags: [], env: this.env }, async (): Promise<Awaited<R>> => await fn())
        .then(resolve, reject)
        .finally(() => this.inProgress.delete(reject));
    });
  }

  /** Run a workflow file as `flowctl run FILE` would, inside the harness. */
  runFile(file: string, options: RunFileOptions = {}): Promise<RunFileResult> {
    this.checkOpen("runFile");
    return runContext.run({ tags: [], env: this.env }, () => runFileHere(this.hub, file, options));
  }

  /**
   * Replace `task`'s body for this harness's runs (its runs keep their states, retries, caching
   * and hooks). Without `impl` the task's own body runs, recorded. Mocking a task again returns
   * the same mock (with `impl`, re-implemented).
   */
  mock<A extends unknown[], R>(task: Task<A, R>, impl?: (...args: A) => unknown): TaskMock<A, R> {
    this.checkOpen("mock");
    if (!isTask(task)) throw new FlowctlError("INVALID_ARGUMENT", `h.mock expects a task made with task(), got ${describe(task)}`);
    const def = (task as unknown as { definition: { isGenerator: boolean } }).definition;
    if (def.isGenerator) throw new FlowctlError("INVALID_ARGUMENT", `h.mock: '${task.name}' is a generator task; generator tasks cannot be mocked`);
    const existing = this.mocks.get(task.fn) as TaskMock<A, R> | undefined;
    if (existing) return impl ? existing.implement(impl as never) : existing;
    const m = new TaskMock<A, R>(task, impl as never, this.vclock, () => {
      if (this.mocks.get(task.fn) === m) this.mocks.delete(task.fn);
    });
    this.mocks.set(task.fn, m as TaskMock<any, any>);
    return m;
  }

  /** The flow runs made in this harness, oldest first (subflows included); `flow` narrows by flow name. */
  runs(filter: { flow?: string | { name: string } } = {}): FlowRunView[] {
    const name = typeof filter.flow === "string" ? filter.flow : filter.flow?.name;
    return this.activity.flowRuns.filter((r) => name === undefined || r.flowName === name).map((r) => flowRunView(r, this.lines));
  }

  /** The task runs made in this harness, oldest first; `task` narrows to one task (object: its key; text: its name). */
  taskRuns(filter: { task?: Task<any, any> | string; flowRun?: { id: string } } = {}): TaskRunView[] {
    const t = filter.task;
    const byId = new Map(this.activity.taskRuns.map((r) => [r.id, r.name]));
    return this.activity.taskRuns
      .filter((r) => t === undefined || (typeof t === "string" ? r.taskName === t : r.taskKey === t.taskKey))
      .filter((r) => filter.flowRun === undefined || r.flowRunId === filter.flowRun.id)
      .map((r) => taskRunView(r, this.lines, (id) => byId.get(id)));
  }

  /** Captured log lines, oldest first: all of them, those at `level` or above, or one run's. */
  logs(filter: { level?: LogLevelName; run?: { id: string } } = {}): LogLine[] {
    const min = filter.level === undefined ? 0 : LEVELS[filter.level];
    if (filter.level !== undefined && min === undefined) throw new UsageError(`h.logs: unknown level '${filter.level}'; use one of ${Object.keys(LEVELS).join(", ")}`);
    const id = filter.run?.id;
    return this.lines.filter((l) => LEVELS[l.level] >= min && (id === undefined || l.flowRunId === id || l.taskRunId === id));
  }

  /** Write what is pending to the store, close it, drop the mocks. Calls after this refuse. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.activity.paused++;
    // runs a test left going end here (their timers and store polling with them)
    this.cancelOpenRuns("Cancelled: the test harness was closed while the run was going on");
    // let them record their end (hooks and all; a run that ignores its cancellation is left behind)
    for (let i = 0; i < 100 && this.activity.openRuns > 0; i++) await settle();
    this.mocks.clear();
    await this.writer.flush().catch(() => undefined);
    await this.store.close();
    // whatever a run left behind records after this goes nowhere (and says nothing)
    this.writer.enabled = false;
  }

  /** End every top-level run still going, Cancelled, as Ctrl-C would. */
  private cancelOpenRuns(message: string): void {
    for (const r of this.activity.openList()) {
      if ("flowName" in r) {
        if (r.parentFlowRunId === undefined) cancelRun(r, message);
      } else if (r.flowRunId === undefined) {
        r.interrupt?.(Cancelled({ message, error: new FlowctlError("CANCELLED", message) }));
      }
    }
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new FlowctlError("INVALID_ARGUMENT", `h.${what}: this test harness is closed`);
  }
}

function describe(v: unknown): string {
  if (typeof v === "function") return `a plain function${v.name ? ` '${v.name}'` : ""}`;
  return v === null ? "null" : typeof v;
}
