// Writing one batch to a SQLite connection: prepared statements (positional parameters) and
// one IMMEDIATE transaction per batch. Used by the write thread and, for in-memory databases,
// directly by the store. Plain JavaScript (typed by batch-writer.d.mts): the write thread loads
// it without a TypeScript loader, which would cost the process tens of MB for one file.

export const FLOW_COLS =
  "id, name, flow_name, flow_version, parent_flow_run_id, parent_task_run_id, parameters, tags, state_type, state_name, state_message, run_count, created, start_time, end_time, updated, entrypoint";
export const TASK_COLS =
  "id, name, task_name, task_key, flow_run_id, parent_task_run_id, parameters, tags, state_type, state_name, state_message, run_count, cache_key, created, start_time, end_time, updated";

function upsertSql(table, cols) {
  const names = cols.split(", ");
  const sets = names.filter((c) => c !== "id" && c !== "created").map((c) => `${c} = excluded.${c}`).join(", ");
  return `INSERT INTO ${table} (${cols}) VALUES (${names.map(() => "?").join(", ")}) ON CONFLICT (id) DO UPDATE SET ${sets} WHERE excluded.updated >= ${table}.updated`;
}

/** @param {import("better-sqlite3").Database} db */
export function createBatchWriter(db) {
  const flow = db.prepare(upsertSql("flow_runs", FLOW_COLS));
  const task = db.prepare(upsertSql("task_runs", TASK_COLS));
  const state = db.prepare(
    "INSERT OR REPLACE INTO run_states (run_id, seq, run_kind, type, name, message, timestamp, scheduled_time, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const input = db.prepare("INSERT OR IGNORE INTO task_run_inputs (task_run_id, upstream_task_run_id, parameter) VALUES (?, ?, ?)");
  const result = db.prepare(
    "INSERT OR REPLACE INTO task_run_results (task_run_id, flow_run_id, inputs_key, source_hash, kind, payload, message, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const log = db.prepare("INSERT INTO logs (flow_run_id, task_run_id, level, source, message, timestamp) VALUES (?, ?, ?, ?, ?, ?)");
  const tx = db.transaction((b) => {
    for (const r of b.flowRuns) {
      flow.run(r.id, r.name, r.flowName, r.flowVersion, r.parentFlowRunId, r.parentTaskRunId, r.parameters, r.tags, r.stateType,
        r.stateName, r.stateMessage, r.runCount, r.created, r.startTime, r.endTime, r.updated, r.entrypoint ?? null);
    }
    for (const r of b.taskRuns) {
      task.run(r.id, r.name, r.taskName, r.taskKey, r.flowRunId, r.parentTaskRunId, r.parameters, r.tags, r.stateType, r.stateName,
        r.stateMessage, r.runCount, r.cacheKey, r.created, r.startTime, r.endTime, r.updated);
    }
    for (const s of b.states) state.run(s.runId, s.seq, s.runKind, s.type, s.name, s.message, s.timestamp, s.scheduledTime, s.error);
    for (const i of b.inputs) input.run(i.taskRunId, i.upstreamTaskRunId, i.parameter);
    for (const r of b.results ?? []) {
      // a Buffer posted to the write thread arrives as a plain Uint8Array
      const payload = r.payload === null || Buffer.isBuffer(r.payload) ? r.payload : Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength);
      result.run(r.taskRunId, r.flowRunId, r.inputsKey, r.sourceHash, r.kind, payload, r.message, r.created);
    }
    for (const l of b.logs) log.run(l.flowRunId, l.taskRunId, l.level, l.source, l.message, l.timestamp);
  });
  return (batch) => tx.immediate(batch);
}
