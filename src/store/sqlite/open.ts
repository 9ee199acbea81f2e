/**
 * Opening a SQLite store file: private (0600, in a 0700 folder when flowctl creates it), checked
 * to be ours and of a schema this flowctl knows before anything is written (`../compat.ts`), and
 * migrated with a copy of the file kept from before the first pending migration.
 */
import Database from "better-sqlite3";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlowctlError } from "../../errors.ts";
import { ensurePrivateFile, PRIVATE_FILE_MODE, privacyNotices, tighten, unwritableReason } from "../../private-files.ts";
import { FLOWCTL_VERSION } from "../../version.ts";
import { BOOKKEEPING_SQL, pendingMigrations, type StoreShape } from "../compat.ts";
import { lockedCall, retryWhileBusy } from "./lock-wait.mjs";

type Db = Database.Database;

export interface SqliteOpenOptions {
  /** open without writing anything (the file must exist and need no migration) */
  readOnly?: boolean;
  /** ms to wait on a database another process holds locked (PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS) */
  busyTimeoutMs?: number;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;

export function openSqliteFile(path: string, opts: SqliteOpenOptions = {}): Db {
  const mem = path === ":memory:";
  let db: Db | undefined;
  try {
    if (opts.readOnly && needsSnapshot(path)) db = openSnapshot(path);
    // a new file is created private; an existing one is tightened once known to be ours
    if (!mem && !opts.readOnly) ensurePrivateFile(path, false);
    db ??= new Database(path, { timeout: opts.busyTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, readonly: opts.readOnly === true, fileMustExist: opts.readOnly === true });
    // the first read of the header: a file that is not SQLite fails here
    db.prepare("SELECT count(*) FROM sqlite_master").get();
    if (!opts.readOnly) {
      // 8 KiB pages for a new file (ignored by one that has pages already): each commit appends
      // every page it changed to the WAL, a frame header and a write call per page; half as many
      // pages for the same rows cut the write thread's CPU per task run by ~10 % (4 KiB: the default)
      // another process creating the same store at this moment makes the change to WAL fail at
      // once (SQLITE_BUSY without waiting on the busy timeout): tried again until the lock timeout
      const open = db;
      retryWhileBusy(path, opts.busyTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, () => {
        open.pragma("page_size = 8192");
        open.pragma("journal_mode = WAL");
      });
      db.pragma("synchronous = NORMAL");
    }
    db.pragma("foreign_keys = OFF");
  } catch (err) {
    db?.close();
    // locked past the timeout: that error names the file and its holder already
    if ((err as { code?: string }).code === "STORE_LOCKED") throw err;
    if ((err as { code?: string }).code === "SQLITE_NOTADB") {
      throw new FlowctlError("STORE_INCOMPATIBLE", `${path} is not a flowctl run store (not a SQLite database); point PREFECT_API_DATABASE_CONNECTION_URL at a new file`, { cause: err });
    }
    throw new FlowctlError("STORE_ERROR", `Cannot open the run store at ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const migrating = db;
    if (mem || opts.readOnly) migrate(db, path, opts.readOnly === true);
    else lockedCall(db, path, opts.busyTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, () => migrate(migrating, path, false));
  } catch (err) {
    db.close();
    throw err;
  }
  if (!mem && !opts.readOnly) for (const f of [path, path + "-wal", path + "-shm"]) tighten(f, PRIVATE_FILE_MODE);
  return db;
}

function readShape(db: Db): StoreShape {
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  let recorded: StoreShape["recorded"];
  if (tables.includes("schema_migrations")) {
    try {
      recorded = db.prepare("SELECT version, name FROM schema_migrations").all() as { version: number; name: string }[];
    } catch {
      recorded = [{ version: -1, name: "(a schema_migrations table of another shape)" }];
    }
  }
  let writtenBy: string | undefined;
  if (tables.includes("store_meta")) {
    writtenBy = (db.prepare("SELECT value FROM store_meta WHERE key = 'schema_written_by'").get() as { value: string } | undefined)?.value;
  }
  return { tables, recorded, writtenBy };
}

function migrate(db: Db, path: string, readOnly: boolean): void {
  const shape = readShape(db);
  const pending = pendingMigrations(shape, path);
  if (pending.length === 0) return;
  const from = Math.max(0, ...(shape.recorded ?? []).map((r) => r.version));
  if (readOnly) {
    throw new FlowctlError("STORE_ERROR", `The run store at ${path} has schema version ${from} and needs migrating, but it can only be opened read-only`);
  }
  if (from > 0 && path !== ":memory:") backUp(db, path, from, pending.at(-1)!.version);
  const apply = db.transaction(() => {
    for (const sql of BOOKKEEPING_SQL) db.exec(sql);
    // another process may have migrated between our look and our lock
    const done = new Set((db.prepare("SELECT version FROM schema_migrations").all() as { version: number }[]).map((r) => r.version));
    for (const m of pending) {
      if (done.has(m.version)) continue;
      db.exec(m.sql);
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(m.version, m.name, Date.now());
    }
    db.prepare("INSERT INTO store_meta (key, value) VALUES ('schema_written_by', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(FLOWCTL_VERSION);
  });
  apply.immediate();
}

/** A consistent copy of the store (VACUUM INTO), private like the store, before migrating it. */
function backUp(db: Db, path: string, from: number, to: number): void {
  let target = `${path}.schema-${from}.bak`;
  if (exists(target)) target = `${path}.schema-${from}.${Date.now()}.bak`;
  ensurePrivateFile(target);
  db.prepare("VACUUM INTO ?").run(target);
  privacyNotices.write(`flowctl: notice: migrating the run store at ${path} from schema version ${from} to ${to}; the store as it was is kept at ${target}\n`);
}

function exists(path: string): boolean {
  try {
    return statSync(path).size > 0;
  } catch {
    return false;
  }
}

/**
 * A WAL-mode store that was closed cleanly has no -shm file, and SQLite cannot read it without
 * creating one: in a folder nobody may write (a read-only PREFECT_HOME), it is read from a
 * private copy (0600 in a 0700 temp folder, removed when the process ends) instead.
 */
function needsSnapshot(path: string): boolean {
  if (path === ":memory:" || existsSync(`${path}-shm`) || !existsSync(path)) return false;
  return unwritableReason(`${path}-shm`) !== undefined;
}

function openSnapshot(path: string): Db {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-readonly-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, "flowctl.db");
  copyFileSync(path, copy);
  chmodSync(copy, PRIVATE_FILE_MODE);
  if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`);
  return new Database(copy, { readonly: true, fileMustExist: true });
}
