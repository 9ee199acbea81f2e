// The SQLite write thread: owns its own connection to the store file and applies the batches
// the main thread posts, in order, one transaction each. Answers every batch with {id, error};
// a batch posted with a shared flag also sets the flag (1 ok, 2 failed) and wakes the poster,
// which is how a synchronous flush waits for it.
// Plain JavaScript, loaded without a TypeScript loader (which would add tens of MB to the process).
import { parentPort, workerData } from "node:worker_threads";
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

parentPort.on("message", (msg) => {
  let error = null;
  try {
    if (openError) throw openError;
    write(msg.batch);
  } catch (err) {
    error = { message: err?.message ?? String(err), code: err?.code };
  }
  if (msg.flag) {
    if (error) msg.flag.errorMessage = error.message;
    Atomics.store(msg.flag, 0, error ? 2 : 1);
    Atomics.notify(msg.flag, 0);
  }
  parentPort.postMessage({ id: msg.id, error });
});
parentPort.postMessage({ ready: true });
