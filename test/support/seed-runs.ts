/**
 * Test support: a store holding one big flow run, written straight through the store API (one
 * batch per 5,000 task runs) instead of by running the tasks — a 100,000-task-run history in
 * seconds. Each task run has a Pending/Running/final history and `logsPerTask` log lines; every
 * `failEvery`-th one Failed (with an error), the rest Completed.
 *
 * Also a command: `node --import tsx test/support/seed-runs.ts DB_PATH TASK_RUNS [LOGS_PER_TASK]`.
 */
import { openStore } from "../../src/store/index.ts";
import type { FlowRunRow, LogRow, StateRow, TaskRunRow, WriteBatch } from "../../src/store/types.ts";

export interface SeedOptions {
  taskRuns: number;
  logsPerTask?: number;
  failEvery?: number;
  flowRunId?: string;
  flowRunName?: string;
  /** ms epoch of the flow run's start */
  at?: number;
}

/** Task run ids sort in creation order: `t-000000042`. */
export const seedTaskId = (i: number) => `t-${String(i).padStart(9, "0")}`;

export async function seedBigRun(url: string, o: SeedOptions): Promise<{ flowRunId: string; flowRunName: string }> {
  const flowRunId = o.flowRunId ?? "f-big-0001";
  const flowRunName = o.flowRunName ?? "big-run";
  const at = o.at ?? Date.now() - 3_600_000;
  const logsPerTask = o.logsPerTask ?? 0;
  const failEvery = o.failEvery ?? 0;
  const store = await openStore(url);
  try {
    const end = at + o.taskRuns + 10;
    const flow: FlowRunRow = {
      id: flowRunId, name: flowRunName, flowName: "big", flowVersion: null, parentFlowRunId: null, parentTaskRunId: null,
      parameters: "{}", tags: "[]", stateType: failEvery ? "FAILED" : "COMPLETED", stateName: failEvery ? "Failed" : "Completed",
      stateMessage: null, runCount: 1, created: at, startTime: at, endTime: end, updated: end,
    };
    const flowStates: StateRow[] = [
      { runId: flowRunId, seq: 0, runKind: "flow", type: "RUNNING", name: "Running", message: null, timestamp: at, scheduledTime: null, error: null },
      { runId: flowRunId, seq: 1, runKind: "flow", type: flow.stateType, name: flow.stateName, message: null, timestamp: end, scheduledTime: null, error: null },
    ];
    await store.writeBatch({ flowRuns: [flow], taskRuns: [], states: flowStates, inputs: [], logs: [flowLog(flowRunId, at, "Beginning flow run")] });
    const BATCH = 5000;
    for (let start = 0; start < o.taskRuns; start += BATCH) {
      const batch: WriteBatch = { flowRuns: [], taskRuns: [], states: [], inputs: [], logs: [] };
      for (let i = start; i < Math.min(o.taskRuns, start + BATCH); i++) {
        const id = seedTaskId(i);
        const t = at + i + 1;
        const failed = failEvery > 0 && i % failEvery === failEvery - 1;
        const row: TaskRunRow = {
          id, name: `work-${i}`, taskName: "work", taskKey: "work-abc", flowRunId, parentTaskRunId: null,
          parameters: JSON.stringify({ i }), tags: "[]", stateType: failed ? "FAILED" : "COMPLETED", stateName: failed ? "Failed" : "Completed",
          stateMessage: failed ? `Task run encountered an exception Error: item ${i} failed` : null, runCount: 1, cacheKey: null,
          created: t, startTime: t, endTime: t + 1, updated: t + 1,
        };
        batch.taskRuns.push(row);
        const error = failed ? JSON.stringify({ name: "Error", message: `item ${i} failed` }) : null;
        batch.states.push(
          { runId: id, seq: 0, runKind: "task", type: "PENDING", name: "Pending", message: null, timestamp: t, scheduledTime: null, error: null },
          { runId: id, seq: 1, runKind: "task", type: "RUNNING", name: "Running", message: null, timestamp: t, scheduledTime: null, error: null },
          { runId: id, seq: 2, runKind: "task", type: row.stateType, name: row.stateName, message: row.stateMessage, timestamp: t + 1, scheduledTime: null, error },
        );
        for (let k = 0; k < logsPerTask; k++) {
          batch.logs.push({ flowRunId, taskRunId: id, level: 20, source: `Task run 'work-${i}'`, message: `line ${k} of work-${i}`, timestamp: t });
        }
      }
      await store.writeBatch(batch);
    }
    await store.writeBatch({ flowRuns: [], taskRuns: [], states: [], inputs: [], logs: [flowLog(flowRunId, end, "Finished")] });
  } finally {
    await store.close();
  }
  return { flowRunId, flowRunName };
}

function flowLog(flowRunId: string, at: number, message: string): LogRow {
  return { flowRunId, taskRunId: null, level: 20, source: "Flow run 'big-run'", message, timestamp: at };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [path, n, logs] = process.argv.slice(2);
  if (!path || !n) {
    process.stderr.write("usage: seed-runs.ts DB_PATH TASK_RUNS [LOGS_PER_TASK]\n");
    process.exit(2);
  }
  const t0 = Date.now();
  await seedBigRun(path, { taskRuns: Number(n), logsPerTask: Number(logs ?? 0), failEvery: 1000 });
  process.stderr.write(`seeded ${n} task runs in ${Date.now() - t0} ms\n`);
}
