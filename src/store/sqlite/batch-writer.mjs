// Writing one batch to a SQLite connection: one IMMEDIATE transaction per batch, rows inserted
// several at a time (multi-row VALUES: one call into SQLite for up to 32 rows). Used by the write
// thread and, for in-memory databases, directly by the store. Plain JavaScript (typed by
// batch-writer.d.mts): the write thread loads it without a TypeScript loader, which would cost
// the process tens of MB for one file.
//
// A batch crosses to the write thread packed: each kind of row as one flat array of column
// values (`packBatch`). Structured cloning a flat array costs a third of cloning the same rows as
// objects, and the thread binds the values as they come.

export const FLOW_COLS =
  "id, name, flow_name, flow_version, parent_flow_run_id, parent_task_run_id, parameters, tags, state_type, state_name, state_message, run_count, created, start_time, end_time, updated, entrypoint, pid, host, heartbeat";
export const TASK_COLS =
  "id, name, task_name, task_key, flow_run_id, parent_task_run_id, parameters, tags, state_type, state_name, state_message, run_count, cache_key, created, start_time, end_time, updated";
/**
 * written, not read back with the row: its states (`packed-states.ts`; `getStates` reads them)
 * and its kept result, when the batch carries it (`getKeptResults` reads it; schema version 10)
 */
export const TASK_WRITE_COLS = `${TASK_COLS}, states, kept_inputs, kept_source, kept_kind, kept_payload, kept_message, kept_created`;
/** where a task row's kept result starts among TASK_WRITE_COLS, and how many columns it takes */
const KEPT_AT = TASK_WRITE_COLS.split(", ").indexOf("kept_inputs");
const KEPT_WIDTH = 6;
const KEPT_COLS = TASK_WRITE_COLS.split(", ").slice(KEPT_AT, KEPT_AT + KEPT_WIDTH);
const STATE_COLS = "run_id, seq, run_kind, type, name, message, timestamp, scheduled_time, error";
const INPUT_COLS = "task_run_id, upstream_task_run_id, parameter";
const LOG_COLS = "flow_run_id, task_run_id, level, source, message, timestamp";
const RESULT_COLS = "task_run_id, flow_run_id, inputs_key, source_hash, kind, payload, message, created";

/** Rows per multi-row statement. */
const CHUNK = 32;

/** @param {import("../types.ts").WriteBatch} b */
export function packBatch(b) {
  // filled in order from empty, not sized up front: an array made with `new Array(n)` is "holey"
  // to V8, whose serializer then writes (and the write thread reads back) every element as a
  // keyed property instead of a dense list: ~3× the cost to post, more to receive
  const flowRuns = [];
  let k = 0;
  for (const r of b.flowRuns) {
    flowRuns[k++] = r.id; flowRuns[k++] = r.name; flowRuns[k++] = r.flowName; flowRuns[k++] = r.flowVersion;
    flowRuns[k++] = r.parentFlowRunId; flowRuns[k++] = r.parentTaskRunId; flowRuns[k++] = r.parameters; flowRuns[k++] = r.tags;
    flowRuns[k++] = r.stateType; flowRuns[k++] = r.stateName; flowRuns[k++] = r.stateMessage; flowRuns[k++] = r.runCount;
    flowRuns[k++] = r.created; flowRuns[k++] = r.startTime; flowRuns[k++] = r.endTime; flowRuns[k++] = r.updated;
    flowRuns[k++] = r.entrypoint ?? null; flowRuns[k++] = r.pid ?? null; flowRuns[k++] = r.host ?? null; flowRuns[k++] = r.heartbeat ?? null;
  }
  // a kept result rides in its task run's row when the batch carries that row (nearly always: a run
  // keeps its result just before its final state); the others stay rows of task_run_results
  const kept = b.results ?? [];
  let keptOf;
  if (kept.length > 0 && b.taskRuns.length > 0) {
    keptOf = new Map();
    for (const r of kept) keptOf.set(r.taskRunId, r);
  }
  const taskRuns = [];
  k = 0;
  for (const r of b.taskRuns) {
    taskRuns[k++] = r.id; taskRuns[k++] = r.name; taskRuns[k++] = r.taskName; taskRuns[k++] = r.taskKey; taskRuns[k++] = r.flowRunId;
    taskRuns[k++] = r.parentTaskRunId; taskRuns[k++] = r.parameters; taskRuns[k++] = r.tags; taskRuns[k++] = r.stateType;
    taskRuns[k++] = r.stateName; taskRuns[k++] = r.stateMessage; taskRuns[k++] = r.runCount; taskRuns[k++] = r.cacheKey;
    taskRuns[k++] = r.created; taskRuns[k++] = r.startTime; taskRuns[k++] = r.endTime; taskRuns[k++] = r.updated;
    taskRuns[k++] = r.states ?? null;
    const kr = keptOf?.get(r.id);
    if (kr === undefined) {
      taskRuns[k++] = null; taskRuns[k++] = null; taskRuns[k++] = null; taskRuns[k++] = null; taskRuns[k++] = null; taskRuns[k++] = null;
    } else {
      taskRuns[k++] = kr.inputsKey; taskRuns[k++] = kr.sourceHash; taskRuns[k++] = kr.kind; taskRuns[k++] = kr.payload; taskRuns[k++] = kr.message;
      taskRuns[k++] = kr.created;
      keptOf.delete(r.id);
    }
  }
  const states = [];
  k = 0;
  for (const s of b.states) {
    states[k++] = s.runId; states[k++] = s.seq; states[k++] = s.runKind; states[k++] = s.type; states[k++] = s.name;
    states[k++] = s.message; states[k++] = s.timestamp; states[k++] = s.scheduledTime; states[k++] = s.error;
  }
  const inputs = [];
  for (const i of b.inputs) inputs.push(i.taskRunId, i.upstreamTaskRunId, i.parameter);
  const logs = [];
  for (const l of b.logs) logs.push(l.flowRunId, l.taskRunId, l.level, l.source, l.message, l.timestamp);
  // kept results whose task run's row is not in the batch
  const results = [];
  k = 0;
  for (const r of keptOf ? keptOf.values() : kept) {
    results[k++] = r.taskRunId; results[k++] = r.flowRunId; results[k++] = r.inputsKey; results[k++] = r.sourceHash;
    results[k++] = r.kind; results[k++] = r.payload; results[k++] = r.message; results[k++] = r.created;
  }
  return { flowRuns, taskRuns, states, inputs, logs, results, replayed: b.replayed === true, resent: b.resent === true };
}

function values(width, rows) {
  const one = `(${Array(width).fill("?").join(", ")})`;
  return Array(rows).fill(one).join(", ");
}

const FINAL = "('COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED')";

/**
 * The columns of a task run that a later snapshot changes. Its name, task, flow run and parent are
 * fixed when it is created (its first row): leaving them out of the update spares rewriting three
 * of the table's indexes (name, flow run + created, flow run + task key) each time a run's row is
 * written again (every run of a `.map`: Pending first, its final state later), ~1/3 of the update.
 */
const TASK_UPDATED_COLS =
  "parameters, tags, state_type, state_name, state_message, run_count, cache_key, start_time, end_time, updated, states, kept_inputs, kept_source, kept_kind, kept_payload, kept_message, kept_created";

/** Columns a row that does not carry them leaves as stored: its packed states (an older flowctl's journal), its kept result. */
const KEPT_IF_NULL = new Set(["states", "kept_inputs", "kept_source", "kept_kind", "kept_payload", "kept_message", "kept_created"]);

/** Upsert of runs; `replayed` (a journalled batch): a run stored final is not moved back to a state that is not. */
function upsertSql(table, cols, rows, replayed = false, updated = cols) {
  const names = cols.split(", ");
  // a row without packed states (an older flowctl's journal) or without its kept result leaves the
  // ones stored; a replayed row's kept result does not replace one stored (as task_run_results rows)
  const set = (c) =>
    !KEPT_IF_NULL.has(c) ? `${c} = excluded.${c}`
    : c === "states" ? `states = COALESCE(excluded.states, ${table}.states)`
    : replayed ? `${c} = CASE WHEN ${table}.kept_kind IS NULL THEN excluded.${c} ELSE ${table}.${c} END`
    : `${c} = CASE WHEN excluded.kept_kind IS NULL THEN ${table}.${c} ELSE excluded.${c} END`;
  const sets = updated.split(", ").filter((c) => c !== "id" && c !== "created").map(set).join(", ");
  const keepFinal = replayed ? ` AND (${table}.state_type NOT IN ${FINAL} OR excluded.state_type IN ${FINAL})` : "";
  return `INSERT INTO ${table} (${cols}) VALUES ${values(names.length, rows)} ON CONFLICT (id) DO UPDATE SET ${sets} WHERE excluded.updated >= ${table}.updated${keepFinal}`;
}

/**
 * A replayed state: one already stored stays, unless it is another process's guess that the run
 * died (liveness.ts GONE_PREFIXES), which the run's own state at that place replaces.
 */
const KEEP_STATE_UNLESS_GUESSED = `ON CONFLICT (run_id, seq) DO UPDATE SET ${STATE_COLS.split(", ")
  .slice(2)
  .map((c) => `${c} = excluded.${c}`)
  .join(", ")} WHERE run_states.type = 'CRASHED' AND (run_states.message LIKE 'Flow run crashed: process gone%' OR run_states.message LIKE 'Flow run crashed: no heartbeat since%')`;

/** A replayed log line is added unless the store holds it already (same run, time, level, source, message). */
function replayLogWriter(db) {
  const same = "l.timestamp = @ts AND l.level = @level AND l.source = @source AND l.message = @message";
  const insert = db.prepare(`INSERT INTO logs (${LOG_COLS}) SELECT @flow, @task, @level, @source, @message, @ts WHERE NOT (CASE
    WHEN @task IS NOT NULL THEN EXISTS (SELECT 1 FROM logs l WHERE l.task_run_id = @task AND ${same})
    WHEN @flow IS NOT NULL THEN EXISTS (SELECT 1 FROM logs l WHERE l.flow_run_id = @flow AND l.task_run_id IS NULL AND ${same})
    ELSE 0 END)`);
  return (list, key) => {
    for (const b of list) {
      const flat = b[key] ?? [];
      for (let i = 0; i < flat.length; i += 6) {
        insert.run({ flow: flat[i], task: flat[i + 1], level: flat[i + 2], source: flat[i + 3], message: flat[i + 4], ts: flat[i + 5] });
      }
    }
  };
}

/**
 * Kept results that came without their task run's row (packBatch puts the others in it): into
 * the run's row when it is stored (the newest kept result wins there; a replayed one does not
 * replace one stored), else a task_run_results row. One statement per result: few take this way.
 */
function keptWriter(db, replayed) {
  const sets = KEPT_COLS.map((c) => (replayed ? `${c} = CASE WHEN kept_kind IS NULL THEN ? ELSE ${c} END` : `${c} = ?`));
  const update = db.prepare(`UPDATE task_runs SET ${sets.join(", ")} WHERE id = ?`);
  const insert = db.prepare(`${replayed ? "INSERT OR IGNORE" : "INSERT OR REPLACE"} INTO task_run_results (${RESULT_COLS}) VALUES ${values(8, 1)}`);
  return (list, key) => {
    for (const b of list) {
      const flat = b[key] ?? [];
      for (let i = 0; i < flat.length; i += 8) {
        // RESULT_COLS: task_run_id, flow_run_id, inputs_key, source_hash, kind, payload, message, created
        if (update.run(flat[i + 2], flat[i + 3], flat[i + 4], flat[i + 5], flat[i + 6], flat[i + 7], flat[i]).changes === 0) {
          insert.run(flat[i], flat[i + 1], flat[i + 2], flat[i + 3], flat[i + 4], flat[i + 5], flat[i + 6], flat[i + 7]);
        }
      }
    }
  };
}

/**
 * Statements for one row and for CHUNK rows, and how to run the rows of a list of packed batches
 * (`key`: which kind) through them: the values are copied into one parameter array per statement,
 * reused from chunk to chunk, so several batches written together are neither merged into a new
 * array nor sliced (the write thread's garbage was a copy of every value, twice).
 */
function rowWriter(db, cols, sql) {
  const width = cols.split(", ").length;
  const single = db.prepare(sql(1));
  const chunk = db.prepare(sql(CHUNK));
  const params = new Array(CHUNK * width);
  const one = new Array(width);
  return (list, key) => {
    let k = 0;
    for (const b of list) {
      const flat = b[key];
      if (flat === undefined) continue;
      for (let i = 0; i < flat.length; i++) {
        params[k++] = flat[i];
        if (k === params.length) {
          chunk.run(...params);
          k = 0;
        }
      }
    }
    for (let r = 0; r < k; r += width) {
      for (let c = 0; c < width; c++) one[c] = params[r + c];
      single.run(...one);
    }
  };
}

const TASK_WIDTH = TASK_WRITE_COLS.split(", ").length;
const TASK_UPDATED_AT = TASK_WRITE_COLS.split(", ").indexOf("updated");

/**
 * The task-run rows of several batches written in one transaction, one row per run: a run whose
 * row comes more than once (a `.map` run's Pending row, then its final one) is written once, at
 * its first place (the order rows are inserted in, which pages break ties on), with the values the
 * upserts one after another would leave: the latest row whose `updated` is not older than the one
 * it follows (the same rule as the upsert's WHERE), whose packed states are the run's newest,
 * carrying the kept result another of its rows carried when it carries none.
 * Returns the list unchanged when no run repeats.
 */
export function collapseTaskRows(list) {
  if (list.length < 2) return list;
  /** id → [batch, offset] of the row it ends with */
  const last = new Map();
  let rows = 0;
  for (let b = 0; b < list.length; b++) {
    const flat = list[b].taskRuns;
    for (let i = 0; i < flat.length; i += TASK_WIDTH) {
      rows++;
      const id = flat[i];
      const at = last.get(id);
      if (at === undefined) last.set(id, [b, i]);
      else if (flat[i + TASK_UPDATED_AT] >= list[at[0]].taskRuns[at[1] + TASK_UPDATED_AT]) (at[0] = b), (at[1] = i);
    }
  }
  if (last.size === rows) return list;
  const out = new Array(last.size * TASK_WIDTH);
  /** id → where its row is in `out` */
  const placed = new Map();
  let k = 0;
  for (const b of list) {
    const flat = b.taskRuns;
    for (let i = 0; i < flat.length; i += TASK_WIDTH) {
      const at = last.get(flat[i]);
      if (at === null) {
        // written at its first place; a kept result another row of it carries goes along (one by one,
        // the upserts leave it too, unless that row is older than the one stored: then it is lost there)
        const o = placed.get(flat[i]);
        if (flat[i + KEPT_AT + 2] !== null && out[o + KEPT_AT + 2] === null) for (let c = 0; c < KEPT_WIDTH; c++) out[o + KEPT_AT + c] = flat[i + KEPT_AT + c];
        continue;
      }
      const from = list[at[0]].taskRuns;
      placed.set(flat[i], k);
      for (let c = 0; c < TASK_WIDTH; c++) out[k + c] = from[at[1] + c];
      if (out[k + KEPT_AT + 2] === null && flat[i + KEPT_AT + 2] !== null) for (let c = 0; c < KEPT_WIDTH; c++) out[k + KEPT_AT + c] = flat[i + KEPT_AT + c];
      k += TASK_WIDTH;
      last.set(flat[i], null);
    }
  }
  return [{ taskRuns: out }];
}

/** The byte values at `at`, every `width` values of `flat`, as Buffers. */
function asBuffers(flat, at, width) {
  for (let i = at; i < flat.length; i += width) {
    const p = flat[i];
    if (p !== null && !Buffer.isBuffer(p)) flat[i] = Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  }
}

/**
 * @param {import("better-sqlite3").Database} db
 * @returns {(packed: ReturnType<typeof packBatch>) => void}
 */
export function createBatchWriter(db) {
  const write = statements(db, false, false);
  let replay;
  let resend;
  const one = (packed) =>
    (packed.replayed ? (replay ??= statements(db, true, true)) : packed.resent ? (resend ??= statements(db, false, true)) : write)(packed);
  // several batches in one transaction; replayed or resent ones (rare) each with their own statements, inside it
  const mixed = db.transaction((list) => {
    for (const b of list) one(b);
  });
  one.many = (list) => (list.some((b) => b.replayed || b.resent) ? mixed.immediate(list) : write.many(list));
  return one;
}

/**
 * The transaction writing one batch: as recorded, or (`replayed`) keeping what the store holds
 * already; `dedupeLogs` (replayed or resent batches): a log line already stored is not added again.
 */
function statements(db, replayed, dedupeLogs) {
  const flow = rowWriter(db, FLOW_COLS, (n) => upsertSql("flow_runs", FLOW_COLS, n, replayed));
  const task = rowWriter(db, TASK_WRITE_COLS, (n) => upsertSql("task_runs", TASK_WRITE_COLS, n, replayed, TASK_UPDATED_COLS));
  const keep = replayed ? "INSERT OR IGNORE" : "INSERT OR REPLACE";
  const state = rowWriter(db, STATE_COLS, (n) =>
    replayed ? `INSERT INTO run_states (${STATE_COLS}) VALUES ${values(9, n)} ${KEEP_STATE_UNLESS_GUESSED}` : `INSERT OR REPLACE INTO run_states (${STATE_COLS}) VALUES ${values(9, n)}`,
  );
  const input = rowWriter(db, INPUT_COLS, (n) => `INSERT OR IGNORE INTO task_run_inputs (${INPUT_COLS}) VALUES ${values(3, n)}`);
  const log = dedupeLogs ? replayLogWriter(db) : rowWriter(db, LOG_COLS, (n) => `INSERT INTO logs (${LOG_COLS}) VALUES ${values(6, n)}`);
  const result = keptWriter(db, replayed);
  // a list of packed batches, in order (a later snapshot of a run after an earlier one)
  const tx = db.transaction((list) => {
    flow(list, "flowRuns");
    task(replayed ? list : collapseTaskRows(list), "taskRuns");
    state(list, "states");
    input(list, "inputs");
    // a Buffer posted to the write thread arrives as a plain Uint8Array, which SQLite binds only as a Buffer
    for (const b of list) {
      asBuffers(b.results ?? [], 5, 8);
      asBuffers(b.taskRuns, KEPT_AT + 3, TASK_WIDTH);
    }
    result(list, "results");
    log(list, "logs");
  });
  const write = (packed) => tx.immediate([packed]);
  /** several packed batches in one transaction, their rows through the same multi-row statements */
  write.many = (list) => tx.immediate(list);
  return write;
}
