/**
 * `flowctl cache ls [--json]` and `flowctl cache clear [--expired] [--task NAME]`: the persisted
 * task results under PREFECT_LOCAL_STORAGE_PATH (one file per cache key).
 */
import type { Command } from "commander";
import { sanitizeKeepingColors } from "../logging/sanitize.ts";
import { printJson } from "./json.ts";
import { FitTable, shortKey } from "./fit-table.ts";
import { getResultStorage, type EntryMeta } from "../results/storage.ts";
import { clock } from "../clock.ts";
import { UsageError } from "../errors.ts";
import { action, EXIT } from "./util.ts";

// user data (tags, task and run names) is printed escaped: no control character reaches the terminal raw
const out = (line: string) => process.stdout.write(`${sanitizeKeepingColors(line, true)}\n`);

export function registerCacheCommand(program: Command): void {
  const cache = program
    .command("cache")
    .description("List or clear cached task results (PREFECT_LOCAL_STORAGE_PATH)");
  cache
    .command("ls")
    .description("List cached results: key, task, size, expiry (oldest first)")
    .option("--json", "print a JSON array on stdout")
    .option("--wide", "full keys (shortened to 8 characters otherwise)")
    .action(action((opts: { json?: boolean; wide?: boolean }) => listCache(opts)));
  cache
    .command("clear")
    .description("Delete cached results (all of them unless narrowed)")
    .option("--expired", "only expired entries (and unreadable ones, which can never be hits)")
    .option("--task <name>", "only entries written by tasks of this name")
    .action(action((opts: { expired?: boolean; task?: string }) => clearCache(opts)));
}

async function listCache(opts: { json?: boolean; wide?: boolean }): Promise<number> {
  const storage = getResultStorage();
  const entries = await storage.list();
  const now = clock().now();
  if (opts.json) {
    printJson(entries.map((e) => toJson(e, now, storage.fileFor(e.key))));
    return EXIT.OK;
  }
  if (entries.length === 0) {
    process.stderr.write(`No cached results in ${storage.basePath}.\n`);
    return EXIT.OK;
  }
  const table = new FitTable(["Key", "Task", "Size", "Expires"]);
  for (const e of entries) table.push([shortKey(e.key, opts.wide), e.taskName, formatSize(e.size), formatExpiry(e.expires, now)]);
  out(table.toString());
  out(`${plural(entries.length, "cached result")} in ${storage.basePath}`);
  return EXIT.OK;
}

async function clearCache(opts: { expired?: boolean; task?: string }): Promise<number> {
  if (opts.task !== undefined && opts.task.trim() === "") throw new UsageError("--task expects a task name, got ''");
  const storage = getResultStorage();
  const removed = await storage.clear({ expiredOnly: opts.expired === true, taskName: opts.task });
  const which = [opts.expired ? "expired" : "", "cached"].filter(Boolean).join(" ");
  const ofTask = opts.task !== undefined ? ` of task '${opts.task}'` : "";
  out(`Removed ${plural(removed, `${which} result`)}${ofTask} from ${storage.basePath}.`);
  return EXIT.OK;
}

function toJson(e: EntryMeta, now: number, file: string) {
  return {
    key: e.key,
    taskName: e.taskName,
    taskKey: e.taskKey,
    size: e.size,
    created: new Date(e.created).toISOString(),
    expires: e.expires === null ? null : new Date(e.expires).toISOString(),
    expired: e.expires !== null && now >= e.expires,
    file,
  };
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** `never`, or the local time with how far off it is: `2025-11-24 14:03:10 (in 2h)`, `… (expired)`. */
export function formatExpiry(expires: number | null, now: number): string {
  if (expires === null) return "never";
  const d = new Date(expires);
  const pad = (n: number) => String(n).padStart(2, "0");
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${stamp} (${now >= expires ? "expired" : `in ${formatDuration(expires - now)}`})`;
}

function formatDuration(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}
