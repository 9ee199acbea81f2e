// Waiting on a store file another process holds locked. A call that may wait (a write: SQLite
// waits for the lock inside the call, blocking its thread) first waits LOCK_NOTICE_MS; still
// locked out, it says once, on stderr, which file and which process holds it (the pid with a
// write lock on the file or its -shm in /proc/locks, and that process's command line; best
// effort), then waits again up to the lock timeout (PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS) and
// then fails with one line naming the file, the holder and the setting. Only a call SQLite
// refused with SQLITE_BUSY is tried again: nothing of it was applied.
// Plain JavaScript: the write thread loads it without a TypeScript loader.
import { readFileSync, statSync, writeSync } from "node:fs";

export const LOCK_NOTICE_MS = 2000;
export const LOCK_SETTING = "PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS";

const isBusy = (err) => err?.code === "SQLITE_BUSY" || err?.code === "SQLITE_BUSY_SNAPSHOT" || err?.code === "SQLITE_BUSY_RECOVERY";

/** Linux dev_t → "maj:min" in hex, as /proc/locks writes it. */
function devText(dev) {
  const major = Number((BigInt(dev) >> 8n) & 0xfffn) | Number((BigInt(dev) >> 32n) & ~0xfffn);
  const minor = Number(BigInt(dev) & 0xffn) | Number((BigInt(dev) >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}`;
}

/** The processes (other than this one) holding a write lock on `path` or its -shm file: `{ pid, command }`. */
export function lockHolders(path) {
  const ids = new Set();
  for (const f of [path, `${path}-shm`]) {
    try {
      const st = statSync(f);
      ids.add(`${devText(st.dev)}:${st.ino}`);
    } catch {
      // no such file: nothing held on it
    }
  }
  let table;
  try {
    table = readFileSync("/proc/locks", "utf8");
  } catch {
    return [];
  }
  const pids = new Set();
  for (const line of table.split("\n")) {
    // "1: POSIX  ADVISORY  WRITE 14311 fe:00:2164576 120 120"; "1: -> POSIX …" is a waiter
    const f = line.trim().split(/\s+/);
    if (f[1] === "->" || f[3] !== "WRITE") continue;
    const pid = Number(f[4]);
    const [maj, min, ino] = (f[5] ?? "").split(":");
    if (!(pid > 0) || pid === process.pid || !ids.has(`${maj}:${min}:${ino}`)) continue;
    pids.add(pid);
  }
  return [...pids].map((pid) => ({ pid, command: commandOf(pid) }));
}

function commandOf(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
    return text.length > 120 ? `${text.slice(0, 119)}…` : text;
  } catch {
    return undefined;
  }
}

/** `process 123 (node hold.js)`, or a few of them; a phrase for when none could be found. */
export function holderText(path) {
  const holders = lockHolders(path);
  if (holders.length === 0) return "another process (not found in /proc/locks)";
  const one = (h) => `process ${h.pid}${h.command ? ` (${h.command})` : ""}`;
  return holders.length === 1 ? one(holders[0]) : `processes ${holders.slice(0, 3).map(one).join(", ")}`;
}

const seconds = (ms) => `${Number((ms / 1000).toFixed(1))} s`;

/** The error a call ends with when the file stayed locked for the whole timeout. */
export function lockedError(path, timeoutMs, holder = holderText(path)) {
  const err = new Error(
    `The run store ${path} stayed locked for ${seconds(timeoutMs)} by ${holder}; stop that process or wait longer with ${LOCK_SETTING}`,
  );
  err.name = "FlowctlError";
  err.code = "STORE_LOCKED";
  return err;
}

/** Files whose lock was said already (once per file and thread: a run may wait many times). */
const noticed = new Set();

/** Where lock notices go: stderr, written at once (the thread may block right after). */
export const lockNotices = { write: (line) => void writeSync(2, line) };

/** Prepared `PRAGMA busy_timeout = N` statements per connection (a call sets two: 16 µs unprepared, 7 µs prepared). */
const timeoutStatements = new WeakMap();

function setBusyTimeout(db, ms) {
  let byMs = timeoutStatements.get(db);
  if (!byMs) timeoutStatements.set(db, (byMs = new Map()));
  let stmt = byMs.get(ms);
  if (!stmt) byMs.set(ms, (stmt = db.prepare(`PRAGMA busy_timeout = ${Math.round(ms)}`)));
  stmt.run();
}

/**
 * Run `fn` (one call on `db` that may wait on a lock) waiting at most `timeoutMs` for the lock,
 * with a notice after LOCK_NOTICE_MS (see the header). `db`'s busy timeout is left at `timeoutMs`.
 */
export function lockedCall(db, path, timeoutMs, fn) {
  const first = Math.min(LOCK_NOTICE_MS, timeoutMs);
  const started = Date.now();
  setBusyTimeout(db, first);
  try {
    return fn();
  } catch (err) {
    if (!isBusy(err)) throw err;
    if (first >= timeoutMs) throw lockedError(path, timeoutMs);
  } finally {
    setBusyTimeout(db, timeoutMs);
  }
  if (!noticed.has(path)) {
    noticed.add(path);
    lockNotices.write(`flowctl: the run store ${path} is locked by ${holderText(path)}; waiting up to ${seconds(timeoutMs)} (${LOCK_SETTING})\n`);
  }
  db.pragma(`busy_timeout = ${Math.max(1, timeoutMs - (Date.now() - started))}`);
  try {
    return fn();
  } catch (err) {
    if (isBusy(err)) throw lockedError(path, timeoutMs);
    throw err;
  } finally {
    setBusyTimeout(db, timeoutMs);
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Run `fn` again while SQLite answers SQLITE_BUSY at once, for at most `timeoutMs`: a call that
 * needs the whole file (`PRAGMA journal_mode = WAL` on a store another process is creating)
 * fails without waiting on the busy timeout. Short sleeps, growing to 50 ms; past the time, the
 * same error as `lockedCall`.
 */
export function retryWhileBusy(path, timeoutMs, fn) {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    try {
      return fn();
    } catch (err) {
      if (!isBusy(err)) throw err;
      if (Date.now() >= deadline) throw lockedError(path, timeoutMs);
      Atomics.wait(pause, 0, 0, wait);
    }
  }
}
