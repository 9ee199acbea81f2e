/**
 * Reading and writing the small JSON files settings live in (the profile, `.prefectrc.json`).
 *
 * Writes are atomic and serialised: `updateJsonFile` takes an exclusive lock file next to the
 * target (`<file>.lock`, created with O_EXCL), reads the current contents, applies the change,
 * writes a temp file in the same directory and renames it over the target, then drops the lock.
 * A crash leaves either the old or the new file, never a torn one; two concurrent updates of
 * different keys both land. A lock older than STALE_LOCK_MS is taken to be left by a crashed
 * process and is removed.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { FlowctlError, UsageError } from "../errors.ts";
import { cannotWriteReason } from "../private-files.ts";

const STALE_LOCK_MS = 5_000;
const LOCK_TIMEOUT_MS = 10_000;

/**
 * A JSON file holding one object (the profile, or a `.prefectrc.json` that `config set --local`
 * edits): undefined when missing, a CONFIG_ERROR naming the file and line when unreadable or
 * corrupt.
 */
export function readJsonObjectFile(path: string, what: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UsageError(`Cannot read ${what} ${path}: ${(err as Error).message}`, "CONFIG_ERROR");
  }
  if (text.trim() === "") return {};
  return parseJsonObject(text, path, what);
}

export function parseJsonObject(text: string, path: string, what: string): Record<string, unknown> {
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const at = /at position (\d+)/.exec(message);
    const position = at ? Number(at[1]) : /end of JSON input/.test(message) ? text.trimEnd().length : undefined;
    const where = position === undefined ? path : `${path}:${lineAt(text, position)}`;
    const reason = message.replace(/\s*\(line \d+ column \d+\)/, "").replace(/ in JSON at position \d+/, "");
    throw new UsageError(`Corrupt ${what} ${where}: ${reason} (not valid JSON)`, "CONFIG_ERROR");
  }
  if (typeof values !== "object" || values === null || Array.isArray(values)) {
    throw new UsageError(
      `Corrupt ${what} ${path}: expected a JSON object of settings, got ${Array.isArray(values) ? "an array" : JSON.stringify(values)}`,
      "CONFIG_ERROR",
    );
  }
  return values as Record<string, unknown>;
}

function lineAt(text: string, position: number): string {
  const before = text.slice(0, position);
  const line = before.split("\n").length;
  const column = position - before.lastIndexOf("\n");
  return `${line}:${column}`;
}

/** `path:line` of the first line that names `key`, or just `path` (for errors about a value). */
export function locate(path: string, key: string): string {
  try {
    const lines = readFileSync(path, "utf8").split("\n");
    const word = new RegExp(`(^|[^A-Za-z0-9_])${key}([^A-Za-z0-9_]|$)`);
    const index = lines.findIndex((l) => word.test(l));
    return index >= 0 ? `${path}:${index + 1}` : path;
  } catch {
    return path;
  }
}

/**
 * Read-modify-write `path` (a JSON object, missing = `{}`) under its lock. `change` edits the
 * object in place and may throw to abandon the update, leaving the file untouched. Returns the
 * object written.
 */
export async function updateJsonFile(
  path: string,
  what: string,
  change: (values: Record<string, unknown>) => void,
  opts: { mode?: number } = {},
): Promise<Record<string, unknown>> {
  const lock = `${path}.lock`;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    await acquireLock(lock);
  } catch (err) {
    const why = cannotWriteReason(err);
    // one line naming the file, not Node's "EROFS: read-only file system, open '….lock'"
    if (why) throw new FlowctlError("CONFIG_ERROR", `Cannot write ${what} ${path}: ${why}`, { cause: err });
    throw err;
  }
  try {
    const values = readJsonObjectFile(path, what) ?? {};
    change(values);
    writeFileAtomic(path, `${JSON.stringify(values, null, 2)}\n`, opts.mode ?? 0o644);
    return values;
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // already gone: someone judged it stale; nothing more to undo
    }
  }
}

function writeFileAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const fd = openSync(tmp, "wx", mode);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already renamed
    }
    throw err;
  }
}

async function acquireLock(lock: string): Promise<void> {
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      const fd = openSync(lock, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    if (lockIsStale(lock)) {
      try {
        unlinkSync(lock);
      } catch {
        // another waiter removed it first
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new UsageError(
        `Timed out waiting for the lock file ${lock}; if no other flowctl is changing settings, delete it.`,
        "CONFIG_ERROR",
      );
    }
    await sleep(10 + Math.random() * 30);
  }
}

/** Left by a process that is gone, or held far longer than any update takes. */
function lockIsStale(lock: string): boolean {
  try {
    if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) return true;
    const pid = Number(readFileSync(lock, "utf8"));
    if (!Number.isSafeInteger(pid) || pid <= 0) return false; // being written right now
    process.kill(pid, 0);
    return false;
  } catch (err) {
    // ESRCH: the holder has exited; ENOENT: the lock was just released
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}
