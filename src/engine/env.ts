/**
 * The environment runs execute in: settings, where records and logs go, result storage, the
 * run store (tag limits) and the clock. The process has one (`processEnv`, from the settings
 * files and environment); a test harness makes its own and runs code inside it, carried by
 * the run context, so two harnesses in one process share nothing.
 */
import { getResultStorage, type ResultStorage } from "../results/storage.ts";
import { logHub, type LogHub } from "../logging/logger.ts";
import { currentSettings, type Settings } from "../settings/index.ts";
import { getStore, type RunStore } from "../store/index.ts";
import { storeWriter, type StoreWriter } from "../store/writer.ts";
import { defaultTaskRunner } from "../runners/concurrent.ts";
import type { TaskRunner } from "../runners/types.ts";
import type { Clock } from "../clock.ts";

/** What the cache needs of a result storage. */
export type CacheStorage = Pick<ResultStorage, "read" | "write">;

/**
 * Told what runs do (a test harness follows its runs with it). `run` is the FlowRunRecord or
 * TaskRunRecord (typed loosely here: the records themselves refer to this module).
 */
export interface RunObserver {
  /** a flow run or task run was created */
  created(run: object): void;
  /** a run's own code (a flow body or a task attempt's body) started or ended */
  body(run: object, active: boolean): void;
}

export interface RunEnv {
  /** the settings for runs started here (a flow run keeps the ones it started with) */
  settings(): Settings;
  readonly writer: StoreWriter;
  readonly logHub: LogHub;
  resultStorage(): CacheStorage;
  runStore(): Promise<RunStore>;
  /** the runner of flows that name none */
  readonly taskRunner: TaskRunner;
  /** a clock of its own (undefined: the process's) */
  readonly clock?: Clock | undefined;
  /** a replacement body for the task whose function is `fn` (test mocks), or undefined */
  bodyFor?(fn: Function): ((...args: any[]) => unknown) | undefined;
  readonly observer?: RunObserver | undefined;
}

export const processEnv: RunEnv = {
  // re-resolved when a source changed: a run follows the settings in force when it starts
  settings: currentSettings,
  writer: storeWriter,
  logHub,
  resultStorage: getResultStorage,
  runStore: getStore,
  taskRunner: defaultTaskRunner,
};
