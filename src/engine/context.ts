/**
 * The run context: which flow run and task run the current code belongs to, and the tags in
 * force, and the environment (settings, store, clock) they run in. It follows async calls
 * through AsyncLocalStorage.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { FlowRunRecord, TaskRunRecord } from "./run-records.ts";
import type { Logger } from "../logging/logger.ts";
import { setScopedClockResolver } from "../clock.ts";
import { routePrintsThrough } from "../logging/prints.ts";
import type { RunEnv } from "./env.ts";

export interface RunContext {
  readonly flowRun?: FlowRunRecord | undefined;
  readonly taskRun?: TaskRunRecord | undefined;
  readonly tags: readonly string[];
  /** Where console output goes while this context runs (set when logPrints is on). */
  readonly printLogger?: Logger | undefined;
  /** the environment runs started here use (undefined: the process's) */
  readonly env?: RunEnv | undefined;
  /** how many runs enclose the code here (1 in a top-level flow's body; see nesting.ts) */
  readonly depth?: number | undefined;
}

export const runContext = new AsyncLocalStorage<RunContext>();

routePrintsThrough(() => runContext.getStore()?.printLogger);

export function currentContext(): RunContext | undefined {
  return runContext.getStore();
}

export function mergeTags(a: readonly string[], b: readonly string[] | undefined): string[] {
  if (!b || b.length === 0) return a.length === 0 ? EMPTY : (a as string[]);
  if (a.length === 0) return b as string[];
  const out = a.slice();
  for (const t of b) if (!out.includes(t)) out.push(t);
  return out;
}

const EMPTY: string[] = [];

let scopedClocks = false;

/** Let `clock()` answer with the clock of the current run environment (installed once, by the test harness). */
export function enableScopedClocks(): void {
  if (scopedClocks) return;
  scopedClocks = true;
  setScopedClockResolver(() => runContext.getStore()?.env?.clock);
}
