// The SQLite write thread: owns its own connection to the store file and applies the batches
// the main thread posts, in order. Batches that queued up behind one go into the same
// transaction, their rows merged into the same multi-row statements: a flow that hands off a
// small batch per task run (before each synchronous body) would otherwise pay a commit per run.
// Answers every batch with {id, error}; a batch posted with a shared flag also sets the flag
// (1 ok, 2 failed) and wakes the poster, which is how a synchronous flush waits for it (it ends
// a group: its poster is blocked until it is applied).
// A heartbeat (`{id, beat}`, beat.mjs) is applied in its turn after the batches before it and
// answered with the live runs' rows: the main thread never waits on the write lock for it.
// Plain JavaScript, loaded without a TypeScript loader (which would add tens of MB to the process).
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { createBatchWriter } from "./batch-writer.mjs";
import { lockedCall } from "./lock-wait.mjs";
import { beatRows } from "./beat.mjs";

/** Most batches (and rows) applied in one transaction. */
const MAX_GROUP = 256;
const MAX_GROUP_VALUES = 20_000;

let write;
let db;
let openError = null;
const lockMs = workerData.lockTimeoutMs ?? 30_000;
try {
  db = new Database(workerData.path, { timeout: lockMs });
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  // A multi-row upsert inside a transaction keeps a statement journal (the pages it changes, to
  // undo that one statement if it fails halfway); in memory rather than in a temporary file it
  // costs a fifth less CPU per `.map` task run, whose rows are updated (a 32-row statement touches
  // a few pages: kilobytes). Nothing else this connection runs sorts or builds temporary tables.
  db.pragma("temp_store = MEMORY");
  // A page cache of 2 MiB, not better-sqlite3's default of 16 MB: this connection only appends
  // (the pages it writes again are each B-tree's rightmost path, a few hundred KB), and the
  // cache's pages, kept once touched, were the largest part of the process's memory outside
  // V8 (peak RSS of 100,000 sequential task runs 177 → 158 MiB, no more CPU per task run).
  db.pragma("cache_size = -2048");
  write = createBatchWriter(db);
} catch (err) {
  openError = err;
}

function tryWrite(fn) {
  try {
    if (openError) throw openError;
    // a lock another process holds: said after 2 s, waited on up to the lock timeout
    lockedCall(db, workerData.path, lockMs, fn);
    return null;
  } catch (err) {
    return { message: err?.message ?? String(err), code: err?.code };
  }
}

/** see write-thread.ts `appliedThrough`: advanced while every batch so far was applied */
const appliedThrough = workerData.appliedThrough;
let allApplied = true;

function answer(msg, error) {
  if (error) allApplied = false;
  else if (allApplied && appliedThrough) Atomics.store(appliedThrough, 0, msg.id);
  if (msg.flag) {
    if (error) msg.flag.errorMessage = error.message;
    Atomics.store(msg.flag, 0, error ? 2 : 1);
    Atomics.notify(msg.flag, 0);
  }
  parentPort.postMessage({ id: msg.id, error });
}

const size = (b) => b.flowRuns.length + b.taskRuns.length + b.states.length + b.inputs.length + b.logs.length + b.results.length;

parentPort.on("message", (first) => {
  if (first.beat) return beat(first);
  const msgs = [first];
  let values = size(first.batch);
  let beatAfter;
  for (let m; !msgs[msgs.length - 1].flag && msgs.length < MAX_GROUP && values < MAX_GROUP_VALUES && (m = receiveMessageOnPort(parentPort)); ) {
    // a heartbeat posted behind these batches ends the group, and is applied after it
    if (m.message.beat) {
      beatAfter = m.message;
      break;
    }
    msgs.push(m.message);
    values += size(m.message.batch);
  }
  applyGroup(msgs);
  if (beatAfter) beat(beatAfter);
});

function applyGroup(msgs) {
  if (msgs.length === 1) return answer(msgs[0], tryWrite(() => write(msgs[0].batch)));
  const error = tryWrite(() => write.many(msgs.map((m) => m.batch)));
  // one at a time after a failure, so one bad batch does not fail the others
  if (error) for (const m of msgs) answer(m, tryWrite(() => write(m.batch)));
  else for (const m of msgs) answer(m, null);
}

/** A heartbeat: answered with the rows, or the error (it is not a batch: `appliedThrough` stays). */
function beat(msg) {
  let rows = [];
  const error = tryWrite(() => {
    rows = beatRows(db, msg.beat.cols, msg.beat.ids, msg.beat.at);
  });
  parentPort.postMessage({ id: msg.id, error, rows });
}
// seen by the main thread at once, even while it runs on microtasks alone
if (workerData.readyFlag) Atomics.store(workerData.readyFlag, 0, 1);
