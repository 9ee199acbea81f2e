/**
 * What the SQLite write thread's statements alone cost per task run, by kind of row: the rows a
 * sequential no-op task run leaves (its `task_runs` row carrying its three states and, since
 * store schema 10, its kept result; as schema 9 wrote it, the kept result as a `task_run_results`
 * row of its own, written here with the same multi-row statement schema 9 used; and, as schemas
 * before 9 had it, its states as three `run_states` rows), made up front and packed as the write thread receives them,
 * then written into a fresh store file through the write thread's own batch writer
 * (`createBatchWriter`, 450 task runs per transaction, about what a sequential flow's group
 * commit holds) on this thread: no messaging, no engine. CPU time (`process.cpuUsage`) per task
 * run, median of 3 rounds per kind, each into its own new file. Baseline: the same rows packed
 * only (no SQL), measured in the same run.
 *
 * It tells how much of the engine bench's write-thread CPU per task run the SQL itself is, and
 * which rows it goes to: the floor a design with these rows per task run cannot go below.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchFigure } from "./run.ts";
import { openSqliteFile } from "../src/store/sqlite/open.ts";
import { createBatchWriter, packBatch } from "../src/store/sqlite/batch-writer.mjs";
import { newId } from "../src/engine/ids.ts";
import { packStates } from "../src/store/packed-states.ts";
import type { KeptResultRow, StateRow, TaskRunRow, WriteBatch } from "../src/store/types.ts";

const N = 50_000;
const PER_TRANSACTION = 450;
const ROUNDS = 3;
/** `packed`: the task run's states in its row (schema 9); `states`: as run_states rows (before) */
type Kinds = { tasks: boolean; packed: boolean; states: boolean; results: boolean; separateResults?: boolean };

function makeBatches(kinds: Kinds): WriteBatch[] {
  const flowRunId = newId();
  const out: WriteBatch[] = [];
  let t = Date.now();
  for (let b = 0; b < N / PER_TRANSACTION; b++) {
    const taskRuns: TaskRunRow[] = [];
    const states: StateRow[] = [];
    const results: KeptResultRow[] = [];
    for (let i = 0; i < PER_TRANSACTION; i++) {
      const n = b * PER_TRANSACTION + i;
      const at = Math.floor((t += 0.02));
      const id = newId(at);
      taskRuns.push({
        id, name: `noop-${n}`, taskName: "noop", taskKey: "bench.ts:noop-1a2b3c4d", flowRunId, parentTaskRunId: null,
        parameters: `{"i":${n}}`, tags: "[]", stateType: "COMPLETED", stateName: "Completed", stateMessage: null, runCount: 1,
        cacheKey: null, created: at, startTime: at, endTime: at, updated: at,
      });
      const three = [["PENDING", "Pending"], ["RUNNING", "Running"], ["COMPLETED", "Completed"]] as const;
      if (kinds.packed) taskRuns.at(-1)!.states = packStates(three.map(([type, name]) => ({ type, name, ts: at })), (m) => m);
      three.forEach(([type, name], seq) => {
        states.push({ runId: id, seq, runKind: "task", type, name, message: null, timestamp: at, scheduledTime: null, error: null });
      });
      results.push({
        taskRunId: id, flowRunId, inputsKey: `={"i":${n}}`, sourceHash: "0123456789abcdef0123456789abcdef", kind: "value",
        payload: Buffer.from(`J${n}`), message: null, created: at,
      });
    }
    out.push({
      flowRuns: [], inputs: [], logs: [],
      taskRuns: kinds.tasks ? taskRuns : [],
      states: kinds.states ? states : [],
      results: kinds.results && !kinds.separateResults ? results : [],
      ...(kinds.separateResults ? { separate: results } : {}),
    });
  }
  return out;
}

/** CPU µs per task run: packing (and, unless `packOnly`, writing) the batches. */
function round(kinds: Kinds, packOnly: boolean): number {
  const batches = makeBatches(kinds);
  const dir = mkdtempSync(join(tmpdir(), "flowctl-bench-write-"));
  const db = openSqliteFile(join(dir, "flowctl.db"));
  // as the write thread opens its connection
  db.pragma("temp_store = MEMORY");
  db.pragma("cache_size = -2048");
  const write = createBatchWriter(db);
  const legacy = legacyResults(db, write);
  try {
    const c0 = process.cpuUsage();
    for (const b of batches) {
      const packed = packBatch(b);
      const separate = (b as { separate?: KeptResultRow[] }).separate;
      if (packOnly) continue;
      if (separate) legacy(packed, separate);
      else write.many([packed]);
    }
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / N;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Schema 9's way: the batch, then its kept results as task_run_results rows, 32 per statement, in one transaction. */
function legacyResults(db: ReturnType<typeof openSqliteFile>, write: ReturnType<typeof createBatchWriter>) {
  const cols = "task_run_id, flow_run_id, inputs_key, source_hash, kind, payload, message, created";
  const sql = (n: number) => `INSERT OR REPLACE INTO task_run_results (${cols}) VALUES ${Array(n).fill("(?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`;
  const chunk = db.prepare(sql(32));
  const one = db.prepare(sql(1));
  const flat = (r: KeptResultRow) => [r.taskRunId, r.flowRunId, r.inputsKey, r.sourceHash, r.kind, r.payload, r.message, r.created];
  const tx = db.transaction((packed: ReturnType<typeof packBatch>, rows: KeptResultRow[]) => {
    write.many([packed]);
    let i = 0;
    for (; i + 32 <= rows.length; i += 32) chunk.run(rows.slice(i, i + 32).flatMap(flat));
    for (; i < rows.length; i++) one.run(flat(rows[i]!));
  });
  return (packed: ReturnType<typeof packBatch>, rows: KeptResultRow[]) => tx.immediate(packed, rows);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export default async function writePathBench(): Promise<BenchFigure[]> {
  const all: Kinds = { tasks: true, packed: true, states: false, results: true };
  const before: Kinds = { tasks: true, packed: false, states: true, results: true, separateResults: true };
  const none: Kinds = { tasks: false, packed: false, states: false, results: false };
  const schema9: Kinds = { ...all, separateResults: true };
  const cases: [string, Kinds, boolean][] = [
    ["packing only (baseline)", all, true],
    ["task_runs row with its 3 states", { ...none, tasks: true, packed: true }, false],
    ["schema 9: task_run_results row", { ...none, results: true, separateResults: true }, false],
    ["schema 9: all of a task run's rows", schema9, false],
    ["all of a task run's rows (its row with its states and kept result)", all, false],
    ["before schema 9: task_runs row", { ...none, tasks: true }, false],
    ["before schema 9: 3 run_states rows", { ...none, states: true }, false],
    ["before schema 9: all of a task run's rows", before, false],
  ];
  const metrics: Record<string, number> = {};
  for (const [label, kinds, packOnly] of cases) {
    const xs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) xs.push(round(kinds, packOnly));
    metrics[`${label}, CPU µs per task run`] = median(xs);
  }
  return [
    {
      name: "write-path",
      description:
        `the SQLite statements alone for ${N.toLocaleString("en-US")} sequential task runs' rows (${PER_TRANSACTION} task runs per transaction, ` +
        `a fresh store file, no messaging), by kind of row; median of ${ROUNDS}`,
      metrics,
    },
  ];
}
