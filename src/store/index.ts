/**
 * Opening the run store named by PREFECT_API_DATABASE_CONNECTION_URL: a SQLite file (a path
 * or `sqlite://PATH`), PostgreSQL (`postgresql://…`) or memory (`memory://NAME`, shared by the
 * stores of this process opened on that name while one is open). One store per process,
 * opened lazily.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { FlowctlError } from "../errors.ts";
import { getSettings } from "../settings/index.ts";
import { ensurePrivateHome, unwritableReason } from "../private-files.ts";
import { crashDeadRuns } from "./liveness.ts";
import { describeCounts, Journal, type JournalCounts } from "./journal.ts";
import { parsePgUrl } from "./postgres/connection.ts";
import type { RunStore } from "./types.ts";

export function sqlitePathFromUrl(url: string): string | undefined {
  if (/^postgres(ql)?:\/\//i.test(url)) return undefined;
  let path = url;
  if (/^sqlite(\+\w+)?:\/\//i.test(url)) path = url.replace(/^sqlite(\+\w+)?:\/\//i, "");
  if (path === ":memory:") return path;
  return resolve(path);
}

export interface OpenStoreOptions {
  /** PREFECT_HOME: made private when the store file lives in it */
  home?: string;
  /** open a SQLite file without writing (see SqliteOpenOptions.readOnly) */
  readOnly?: boolean;
  /** ms a SQLite write waits on another process's lock; PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS by default */
  lockTimeoutMs?: number;
}

/** PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS in ms (30 s when the settings cannot be read). */
function lockTimeoutMs(): number {
  try {
    return Math.round(getSettings().PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS * 1000);
  } catch {
    return 30_000;
  }
}

export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<RunStore> {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    let mod: { PostgresStore: { open(url: string): Promise<RunStore> } };
    try {
      const backend = "./postgres/postgres-store.ts";
      mod = (await import(backend)) as typeof mod;
    } catch (err) {
      throw new FlowctlError("STORE_ERROR", `PostgreSQL store is not available: ${(err as Error).message}`, { cause: err });
    }
    return mod.PostgresStore.open(url);
  }
  if (/^memory:\/\//i.test(url)) {
    const { MemoryStore } = await import("./memory/memory-store.ts");
    return MemoryStore.open(url.slice("memory://".length));
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^sqlite/i.test(url)) {
    throw new FlowctlError(
      "CONFIG_ERROR",
      `Unsupported PREFECT_API_DATABASE_CONNECTION_URL '${url}': expected a SQLite path, sqlite://PATH, postgresql://… or memory://NAME`,
    );
  }
  const { SqliteStore } = await import("./sqlite/sqlite-store.ts");
  const path = sqlitePathFromUrl(url)!;
  if (path !== ":memory:" && !opts.readOnly) {
    // said up front, in one line, rather than as SQLite's "attempt to write a readonly database" mid-run
    const why = unwritableReason(path);
    if (why) {
      throw new FlowctlError(
        "STORE_READ_ONLY",
        `Cannot write the run store ${path}: ${why}. Reading it still works (runs ls, runs inspect, runs logs, server start); ` +
          "to run flows, point PREFECT_HOME or PREFECT_API_DATABASE_CONNECTION_URL at a writable place",
      );
    }
    if (opts.home !== undefined) ensurePrivateHome(opts.home, path);
  }
  return new SqliteStore(path, { readOnly: opts.readOnly, busyTimeoutMs: opts.lockTimeoutMs ?? lockTimeoutMs() });
}

let current: Promise<RunStore> | undefined;
let currentUrl: string | undefined;

/**
 * The journal of the store named by the settings (`journal.ts`): where rows that could not be
 * written to it wait. None for a memory store (its rows die with the process anyway).
 */
export function currentJournal(): Journal | undefined {
  const settings = getSettings();
  const url = settings.PREFECT_API_DATABASE_CONNECTION_URL;
  if (/^memory:\/\//i.test(url)) return undefined;
  let location: string;
  try {
    location = /^postgres(ql)?:\/\//i.test(url) ? parsePgUrl(url).location : (sqlitePathFromUrl(url) ?? url);
  } catch {
    return undefined; // a bad URL: opening the store says so
  }
  if (location === ":memory:") return undefined;
  return new Journal(settings.PREFECT_HOME, location);
}

/** What this process replayed from the journal when it opened the store (`flowctl runs sync` reports it). */
export const journalReplay: { written: JournalCounts | undefined; error: unknown; path: string | undefined; notices: { write(line: string): void } } = {
  written: undefined,
  error: undefined,
  path: undefined,
  notices: { write: (line) => void process.stderr.write(line) },
};

/** Write what waits in the store's journal, once the store is open; a failure leaves it waiting. */
async function replayJournal(store: RunStore): Promise<void> {
  const journal = currentJournal();
  if (!journal || store.kind === "memory") return;
  journalReplay.path = journal.path;
  try {
    const written = await journal.replay(store);
    if (written.batches === 0) return;
    journalReplay.written = written;
    journalReplay.notices.write(`flowctl: wrote ${describeCounts(written)} from the journal ${journal.path} to the run store\n`);
  } catch (err) {
    journalReplay.error = err;
    const left = journal.pending();
    journalReplay.notices.write(
      `flowctl: warning: ${left ? describeCounts(left) : "rows"} still wait in the journal ${journal.path}: ${(err as Error).message}\n`,
    );
  }
}

/**
 * The process's store, from the settings (opened on first use). Opening it writes what waits in
 * its journal (`journal.ts`), then marks the runs whose process is gone Crashed (`liveness.ts`),
 * so no command shows them `Running` — in that order, so a journalled final state is in first.
 */
export function getStore(): Promise<RunStore> {
  const settings = getSettings();
  const url = settings.PREFECT_API_DATABASE_CONNECTION_URL;
  if (!current || currentUrl !== url) {
    currentUrl = url;
    current = openStore(url, { home: settings.PREFECT_HOME }).then(async (store) => {
      await replayJournal(store);
      await crashDeadRuns(store);
      return store;
    });
    current.catch(() => {
      // surfaced to whoever awaits it; a later call retries
      current = undefined;
    });
  }
  return current;
}

/**
 * The store for commands that only read (or change what already exists): a SQLite file that
 * does not exist reads as an empty store and is not created (unless `createMissing`), and one
 * this user cannot write (a read-only PREFECT_HOME) is opened read-only. Otherwise the
 * process's store.
 */
export async function getReadableStore(opts: { createMissing?: boolean } = {}): Promise<RunStore> {
  const url = getSettings().PREFECT_API_DATABASE_CONNECTION_URL;
  // only SQLite files can be missing or read-only here
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^sqlite/i.test(url)) return getStore();
  const path = sqlitePathFromUrl(url);
  if (path === undefined || path === ":memory:") return getStore();
  // a missing file with a journal waiting: the store is created to take it
  if (!existsSync(path)) return opts.createMissing || currentJournal()?.exists() ? getStore() : openStore(":memory:");
  if (unwritableReason(path) !== undefined) return openStore(path, { readOnly: true });
  return getStore();
}


const closeListeners: (() => void)[] = [];

/** Be told when the process's store is closed (the batched writer then opens it afresh). */
export function onStoreClose(fn: () => void): void {
  closeListeners.push(fn);
}

/** Close and forget the process's store (tests, shutdown). */
export async function closeStore(): Promise<void> {
  const s = current;
  current = undefined;
  currentUrl = undefined;
  for (const fn of closeListeners) fn();
  if (s) await (await s.catch(() => undefined))?.close();
}

export type { RunStore } from "./types.ts";
