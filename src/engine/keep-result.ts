/**
 * Keeping the results of completed task runs for `flowctl runs retry` (on by default;
 * PREFECT_RESULTS_KEEP_FOR_RETRY=false turns it off).
 *
 * A call is identified by its task (key, and the source hash TASK_SOURCE computes, for
 * `run --retry-of`), its inputs (`inputsKeyOf`: the canonical form of its parameters and `this`,
 * hashed when long) and its occurrence. When the run completes, its value is encoded
 * (`kept-results.ts`) and handed to the store writer with the rest of the run's rows; a large one
 * goes to a result file first. A value that cannot be kept, or inputs that cannot be hashed,
 * leave a row that says why, so a retry can say why that call runs again.
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { stableHash, stableSerialize, UnhashableError } from "../results/hashing.ts";
import { encodeKept, INLINE_LIMIT, keptFile, writeKeptFile } from "../results/kept-results.ts";
import { processEnv } from "./env.ts";
import { scrubSecrets } from "../logging/redact.ts";
import type { KeptResultRow } from "../store/types.ts";
import type { FlowRunRecord, TaskRunRecord } from "./run-records.ts";
import type { TaskDefinition } from "./task-definition.ts";

/** Canonical inputs up to this length are kept as they are; longer ones as their hash. */
const KEY_TEXT_LIMIT = 96;

/** The identity of a call's inputs, or why they have none. */
export function inputsKeyOf(parameters: Record<string, unknown>, thisArg: unknown): { key: string } | { problem: string } {
  try {
    // a static method's `this` is its class: code, not state (as for the INPUTS cache policy)
    const text = thisArg === undefined || typeof thisArg === "function"
      ? stableSerialize(parameters, "parameters")
      : stableSerialize([parameters, thisArg], "inputs");
    // inputs that hold a secret value are kept only as their hash, however short
    const clear = text.length <= KEY_TEXT_LIMIT && scrubSecrets(text) === text;
    return { key: clear ? `=${text}` : `#${createHash("sha256").update(text).digest("hex")}` };
  } catch (err) {
    if (err instanceof UnhashableError) return { problem: `its inputs cannot be hashed: ${err.path} ${err.reason}` };
    return { problem: `its inputs cannot be hashed: ${(err as Error).message}` };
  }
}

const sourceHashes = new WeakMap<TaskDefinition, string>();

/** The task's source hash, as TASK_SOURCE computes it (once per task). */
export function sourceHashOf(def: TaskDefinition): string {
  let h = sourceHashes.get(def);
  if (h === undefined) {
    h = stableHash(Function.prototype.toString.call(def.fn).replace(/\r\n/g, "\n"));
    sourceHashes.set(def, h);
  }
  return h;
}

/** Work out the call's inputs identity (before it runs: its body may change its inputs). */
export function noteInputs(run: TaskRunRecord, thisArg: unknown): void {
  const res = inputsKeyOf(run.parameters, thisArg);
  if ("key" in res) run.inputsKey = res.key;
  else run.inputsProblem = res.problem;
}

/** A constructor, not an object literal: see run-rows.ts (a literal's site ends up pretenured). */
class KeptRow implements KeptResultRow {
  declare taskRunId: string;
  declare flowRunId: string;
  declare inputsKey: string | null;
  declare sourceHash: string;
  declare kind: KeptResultRow["kind"];
  declare payload: Uint8Array | null;
  declare message: string | null;
  declare created: number;

  constructor(def: TaskDefinition, run: TaskRunRecord, flowRun: FlowRunRecord) {
    this.taskRunId = run.id;
    this.flowRunId = flowRun.root.id;
    this.inputsKey = run.inputsKey ?? null;
    this.sourceHash = sourceHashOf(def);
    this.kind = "unkept";
    this.payload = null;
    this.message = null;
    this.created = Date.now();
  }
}

function rowFor(def: TaskDefinition, run: TaskRunRecord, flowRun: FlowRunRecord): KeptResultRow {
  return new KeptRow(def, run, flowRun);
}

/**
 * Record how a call whose inputs are known ended when it did not complete, or whose result it
 * reused: a later retry counts every call (the n-th call with the same inputs), not only the
 * completed ones.
 */
export function noteOutcome(def: TaskDefinition, run: TaskRunRecord, flowRun: FlowRunRecord, stateName: string, reusedFrom?: string): void {
  if (run.inputsKey === undefined) return;
  const row = rowFor(def, run, flowRun);
  if (reusedFrom !== undefined) {
    row.kind = "reused";
    row.message = reusedFrom;
  } else row.message = `it ended ${stateName}`;
  flowRun.env.writer.addResult(row);
}

/** Keep a completed call's value (see the header). Never throws: a result that cannot be kept is recorded as such. */
export function keepResult(def: TaskDefinition, run: TaskRunRecord, flowRun: FlowRunRecord, value: unknown): Promise<void> | undefined {
  const root = flowRun.root;
  const row = rowFor(def, run, flowRun);
  if (run.inputsKey === undefined) {
    row.message = run.inputsProblem ?? "its inputs were not recorded";
    flowRun.env.writer.addResult(row);
    return undefined;
  }
  let data: Buffer;
  try {
    data = encodeKept(value);
  } catch (err) {
    row.message = `its result cannot be kept: ${(err as Error).message}`;
    flowRun.env.writer.addResult(row);
    return undefined;
  }
  // (an environment of its own, such as the test harness's, keeps everything in its store)
  if (data.length <= INLINE_LIMIT || flowRun.env !== processEnv) {
    // the common case stays synchronous: no extra turn of the event loop per task run
    row.kind = "value";
    row.payload = data;
    flowRun.env.writer.addResult(row);
    return undefined;
  }
  const file = keptFile(resolve(flowRun.settings.PREFECT_LOCAL_STORAGE_PATH), root.id, run.id);
  return writeKeptFile(file, data).then(
    () => {
      row.kind = "file";
      flowRun.env.writer.addResult(row);
    },
    (err: unknown) => {
      row.message = `its result was not kept: ${(err as Error).message}`;
      flowRun.env.writer.addResult(row);
    },
  );
}
