// The SQLite write thread: owns its own connection to the store file and applies the batches
// the main thread posts, in order, one transaction each. Answers every batch with {id, error};
// a batch posted with a shared flag also sets the flag (1 ok, 2 failed) and wakes the poster,
// which is how a synchronous flush waits for it.
// Plain JavaScript, loaded without a TypeScript loader (which would add tens of MB to the process).
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { createBatchWriter } from "./batch-writer.mjs";

let write;
let openError = null;
try {
  const db = new Database(workerData.path, { timeout: 30_000 });
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  write = createBatchWriter(db);
} catch (err) {
  openError = err;
}

function answer(msg, error) {
  if (msg.flag) {
    if (error) msg.flag.errorMessage = error.message;
    Atomics.store(msg.flag, 0, error ? 2 : 1);
    Atomics.notify(msg.flag, 0);
  }
  parentPort.postMessage({ id: msg.id, error });
}

function tryWrite(fn) {
  try {
    if (openError) throw openError;
    fn();
    return null;
  } catch (err) {
    return { message: err?.message ?? String(err), code: err?.code };
  }
}

parentPort.on("message", (first) => {
  // batches queued behind this one go in the same transaction: a flow that hands off one small
  // batch per task run would otherwise pay a commit per run (a synchronous flush ends the group)
  const msgs = [first];
  for (let m; !msgs.at(-1).flag && msgs.length < 256 && (m = receiveMessageOnPort(parentPort)); ) msgs.push(m.message);
  const error = msgs.length === 1 ? tryWrite(() => write(first.batch)) : tryWrite(() => write.many(msgs.map((m) => m.batch)));
  if (error && msgs.length > 1) {
    // one at a time, so one bad batch does not fail the others
    for (const m of msgs) answer(m, tryWrite(() => write(m.batch)));
    return;
  }
  for (const m of msgs) answer(m, error);
});
// seen by the main thread at once, even while it runs on microtasks alone
if (workerData.readyFlag) Atomics.store(workerData.readyFlag, 0, 1);
parentPort.postMessage({ ready: true });
