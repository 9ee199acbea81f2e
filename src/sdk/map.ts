/**
 * `task.map(...)`: one run per element of the iterable arguments, zipped. Strings, futures and
 * `unmapped(x)` are passed whole to every run; so is any other non-iterable.
 */
import { FlowctlError } from "../errors.ts";
import { isFuture, resultsOf, wait as waitFutures, type TaskRunFuture } from "../engine/futures.ts";
import type { State } from "../engine/states.ts";
import type { TaskDefinition } from "../engine/task-definition.ts";
import { logMapped, submitTask, type CallOptions } from "../engine/task-engine.ts";
import { isUnmapped } from "../engine/upstream.ts";

export interface TaskRunFutureList<T> extends Array<TaskRunFuture<T>> {
  /** The values in order; rejects with the first failure. */
  result(opts?: { timeoutSeconds?: number; raiseOnFailure?: boolean }): Promise<T[]>;
  /** Wait for every run; resolves with their states in order. */
  wait(timeoutSeconds?: number): Promise<State[]>;
}

function isMappable(v: unknown): v is Iterable<unknown> {
  if (typeof v === "string" || v === null || typeof v !== "object") return false;
  if (isFuture(v) || isUnmapped(v)) return false;
  return typeof (v as Iterable<unknown>)[Symbol.iterator] === "function";
}

export function makeFutureList<T>(futures: TaskRunFuture<T>[]): TaskRunFutureList<T> {
  const list = futures as TaskRunFutureList<T>;
  Object.defineProperty(list, "result", {
    value: async (opts: { timeoutSeconds?: number; raiseOnFailure?: boolean } = {}) => {
      if (opts.timeoutSeconds !== undefined) return Promise.all(list.map((f) => f.result(opts)));
      // no time limit: one shared function waits on every run (no promise per future)
      return resultsOf(list, opts.raiseOnFailure !== false);
    },
  });
  Object.defineProperty(list, "wait", {
    value: async (timeoutSeconds?: number) => {
      await waitFutures(list, timeoutSeconds === undefined ? {} : { timeoutSeconds });
      return list.map((f) => f.state);
    },
  });
  return list;
}

export function mapTask(def: TaskDefinition, thisArg: unknown, args: unknown[], opts: CallOptions): TaskRunFutureList<unknown> {
  const columns: (unknown[] | undefined)[] = args.map((a) => (isMappable(a) ? Array.from(a) : undefined));
  const lengths = columns.flatMap((c, i) => (c ? [[i, c.length] as const] : []));
  if (lengths.length === 0) {
    throw new FlowctlError(
      "INVALID_ARGUMENT",
      `${def.name}.map() needs at least one iterable argument (an array, Set, Map or other iterable); got none. Use unmapped(x) for values passed whole.`,
    );
  }
  const n = lengths[0]![1];
  if (lengths.some(([, len]) => len !== n)) {
    throw new FlowctlError(
      "INVALID_ARGUMENT",
      `${def.name}.map() got iterables of different lengths: ${lengths.map(([i, len]) => `argument ${i} has ${len}`).join(", ")}`,
    );
  }
  const futures: TaskRunFuture[] = [];
  const mapped: CallOptions = { ...opts, mapGroup: { taskName: def.name, waitLogged: new Set() } };
  for (let i = 0; i < n; i++) {
    const callArgs = args.map((a, j) => {
      const col = columns[j];
      if (col) return col[i];
      return isUnmapped(a) ? a.value : a;
    });
    futures.push(submitTask(def, thisArg, callArgs, mapped));
  }
  logMapped(def, futures.map((f) => f.taskRun));
  return makeFutureList(futures);
}
