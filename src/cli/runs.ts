/**
 * `flowctl runs ls | inspect RUN | logs RUN | prune --older-than DURATION`: the run history in
 * the store, for people (tables, colored states) and for scripts (`--json`); `inspect` and `logs`
 * live in runs-inspect.ts and runs-logs.ts.
 *
 * RUN is a run's id, any unique prefix of one, or its name (`findRun`, shared by every command
 * that names a run); a RUN that fits several runs lists them and exits 2.
 */
import type { Command } from "commander";
import { FitTable } from "./fit-table.ts";
import { promises as fsp } from "node:fs";
import type { ChalkInstance } from "chalk";
import { UsageError } from "../errors.ts";
import { colorLevel, makeChalk } from "../logging/format.ts";
import { sanitize, sanitizeKeepingColors } from "../logging/sanitize.ts";
import { flowRunJson, printJson } from "./json.ts";
import { getResultStorage } from "../results/storage.ts";
import { getReadableStore } from "../store/index.ts";
import { deleteKeptResults } from "../results/kept-results.ts";
import { getSettings } from "../settings/index.ts";
import { resolve } from "node:path";
import type { FlowRunRow, PruneResult, RunStore } from "../store/types.ts";
import { AmbiguousRunError, lookupRun, type RunKind, type RunMatch } from "../store/run-lookup.ts";
import { isFlowctlError } from "../errors.ts";
import { BadRequest, parseStates } from "../server/api.ts";
import {
  listFlowRunViews, FINAL_TYPES, type FlowRunView, type StateView,
} from "../server/run-views.ts";
import { action, EXIT, parseIntOption, sayJournalWaiting } from "./util.ts";

// user data (names, tags, messages) is printed escaped: no control character reaches the terminal raw
export const out = (line: string) => process.stdout.write(`${sanitizeKeepingColors(line, true)}\n`);
/** JSON: exact (JSON.stringify escapes the control characters itself) */
export const outJson = (text: string) => process.stdout.write(`${text}\n`);

// ---------------------------------------------------------------- shared formatting

/** Colors for a command's output: chalk's detection (FORCE_COLOR, CI providers, the terminal), NO_COLOR, `--no-color`. */
export function colorsFor(stream: NodeJS.WriteStream, flag: boolean): ChalkInstance {
  return makeChalk(flag ? colorLevel(stream) : 0);
}

const STATE_COLOR: Record<string, (c: ChalkInstance) => ChalkInstance> = {
  COMPLETED: (c) => c.green, FAILED: (c) => c.red, CRASHED: (c) => c.hex("#ff8700"), CANCELLED: (c) => c.gray,
  CANCELLING: (c) => c.gray, RUNNING: (c) => c.blue, PENDING: (c) => c.yellow, SCHEDULED: (c) => c.yellow, PAUSED: (c) => c.gray,
};

export function stateText(s: StateView, chalk: ChalkInstance, withMessage = false): string {
  const color = STATE_COLOR[s.type]?.(chalk) ?? chalk;
  const name = color(sanitize(s.name));
  if (!withMessage) return name;
  const parts: string[] = [];
  if (s.message) parts.push(`'${sanitize(s.message)}'`);
  if (s.name.toUpperCase() !== s.type) parts.push(`type=${s.type}`);
  return `${name}(${parts.join(", ")})`;
}

export const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** `2026-01-31 14:05:09` in local time; `-` for none. */
export function formatStart(ms: number | null): string {
  if (ms === null) return "-";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** For table cells: `14:05:09` today, `01-31 14:05` this year, `2025-01-31` before; `-` for none. */
export function tableTime(ms: number | null, now = Date.now()): string {
  if (ms === null) return "-";
  const d = new Date(ms);
  const n = new Date(now);
  if (d.toDateString() === n.toDateString()) return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.getFullYear() === n.getFullYear()) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** `HH:MM:SS.mmm` local time. */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** `850ms`, `1.25s`, `3m 04s`, `2h 05m`, `1d 02h`; `-` for none. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d ${pad(Math.floor((s % 86_400) / 3600))}h`;
}

export function runDuration(r: { durationMs: number | null; state: StateView }): string {
  const d = formatDuration(r.durationMs);
  return r.durationMs !== null && !FINAL_TYPES.has(r.state.type) ? `${d}…` : d;
}

/** A table that fits the terminal's width, one line per cell, control characters escaped (see fit-table.ts). */
export function table(head: string[]): FitTable {
  return new FitTable(head);
}

/** The `--state` option: comma-separated state types or names. */
export function stateOption(raw: string | undefined): string[] | undefined {
  try {
    return parseStates(raw, "--state");
  } catch (err) {
    throw err instanceof BadRequest ? new UsageError(err.message) : err;
  }
}

/** The store for reading: a missing SQLite file reads as empty (not created unless `createMissing`); a read-only one opens read-only. */
export async function openStore(opts: { createMissing?: boolean } = {}): Promise<RunStore> {
  try {
    return await getReadableStore(opts);
  } catch (err) {
    sayJournalWaiting();
    throw new UsageError((err as Error).message, "CONFIG_ERROR");
  }
}

/**
 * The run RUN names (id, unique id prefix or name), for every command that takes one. Several
 * candidates: they are listed on stderr and the command fails with exit 2; none: exit 2.
 */
export async function findRun(store: RunStore, ref: string, kinds: readonly RunKind[] = ["flow", "task"]): Promise<RunMatch> {
  try {
    return await lookupRun(store, ref, kinds);
  } catch (err) {
    if (err instanceof AmbiguousRunError) {
      process.stderr.write(`flowctl: '${ref}' could be any of:\n`);
      for (const m of err.matches) process.stderr.write(`  ${matchLine(m)}\n`);
      if (err.more) process.stderr.write("  …and more\n");
      throw new UsageError(err.message);
    }
    if (isFlowctlError(err, "RUN_NOT_FOUND")) throw new UsageError(err.message);
    throw err;
  }
}

export async function findFlowRun(store: RunStore, ref: string): Promise<FlowRunRow> {
  return (await findRun(store, ref, ["flow"])).row as FlowRunRow;
}

function matchLine(m: RunMatch): string {
  const r = m.row;
  const owner = m.kind === "flow" ? `flow '${m.row.flowName}'` : `task '${m.row.taskName}'`;
  return `${r.id}  ${m.kind} run '${r.name}' (${owner}, ${r.stateName}, created ${formatStart(r.created)})`;
}

function taskCountsText(counts: FlowRunView["taskCounts"], chalk: ChalkInstance): string {
  const entries = Object.entries(counts ?? {}).filter(([, n]) => n && n > 0);
  if (entries.length === 0) return "0";
  const total = entries.reduce((n, [, c]) => n + (c ?? 0), 0);
  const parts = entries.map(([type, n]) => (STATE_COLOR[type]?.(chalk) ?? chalk)(`${n} ${type.toLowerCase()}`));
  return `${total} (${parts.join(", ")})`;
}

// ---------------------------------------------------------------- commands

interface LsOpts { state?: string; flow?: string; tag?: string; limit: number; json?: boolean; color: boolean }
export interface InspectOpts { json?: boolean; color: boolean; wide?: boolean; format?: string; limit: number; offset: number }
export interface LogsOpts { follow?: boolean; level?: string; json?: boolean; color: boolean; limit?: number; offset: number }
interface PruneOpts { olderThan: string; json?: boolean }

/** The `runs` command and its read-only subcommands (retry, cancel and delete add theirs to it). */
export function registerRunsCommand(program: Command): Command {
  const runs = program.command("runs").description("List, inspect, read the logs of and prune recorded flow runs");

  runs
    .command("ls")
    .description("List flow runs, newest first")
    .option("--state <states>", "only runs in these states (types or names, comma-separated: Failed,CRASHED)")
    .option("--flow <name>", "only runs of this flow")
    .option("--tag <tag>", "only runs with this tag")
    .option("--limit <n>", "most runs listed", parseIntOption("--limit", 1), 20)
    .option("--json", "print a JSON array on stdout")
    .option("--no-color", "no colors")
    .action(action((opts: LsOpts) => listRuns(opts)));

  runs
    .command("inspect")
    .description("Show a run: parameters, tags, state history and its task runs (with their states, durations, upstream runs)")
    .argument("<run>", "a flow run's or task run's id, unique id prefix or name")
    .option("--json", "print a JSON object on stdout")
    .option("--wide", "full IDs in tables (shortened to 8 characters otherwise)")
    .option("--format <format>", "text (default) or md: the Markdown summary `flowctl run` writes to GITHUB_STEP_SUMMARY")
    .option("--limit <n>", "most task runs listed (a flow run's, oldest first)", parseIntOption("--limit", 1), 200)
    .option("--offset <n>", "task runs skipped before the listed ones", parseIntOption("--offset", 0), 0)
    .option("--no-color", "no colors")
    .action(action(async (run: string, opts: InspectOpts) => (await import("./runs-inspect.ts")).inspectRun(run, opts)));

  runs
    .command("logs")
    .description("Print a run's logs (a flow run's include its task runs')")
    .argument("<run>", "a flow run's or task run's id, unique id prefix or name")
    .option("-f, --follow", "keep printing new lines until the run has finished")
    .option("--level <level>", "lowest level shown (DEBUG, INFO, WARNING, ERROR, CRITICAL)")
    .option("--limit <n>", "most lines printed (all of them by default)", parseIntOption("--limit", 1))
    .option("--offset <n>", "lines skipped before the printed ones", parseIntOption("--offset", 0), 0)
    .option("--json", "print one JSON object per line on stdout")
    .option("--no-color", "no colors")
    .action(action(async (run: string, opts: LogsOpts) => (await import("./runs-logs.ts")).runLogs(run, opts)));

  runs
    .command("prune")
    .description("Delete runs last active before a time, with their states, logs, stored results and results kept for retries")
    .requiredOption("--older-than <duration>", "age such as 30d, 12h, 90m, 1w or 1d12h")
    .option("--json", "print what was deleted as JSON on stdout")
    .addHelpText("after", "\nRuns that are still active (a task run or subflow run changed since the cutoff) are kept.\nA stored result is deleted only when no remaining task run uses its cache key.")
    .action(action((opts: PruneOpts) => pruneRuns(opts)));
  return runs;
}

async function listRuns(opts: LsOpts): Promise<number> {
  const state = stateOption(opts.state);
  const store = await openStore();
  const runs = await listFlowRunViews(store, { state, flowName: opts.flow, tag: opts.tag, limit: opts.limit });
  if (opts.json) {
    printJson(runs.map((r) => flowRunJson(r)));
    return EXIT.OK;
  }
  if (runs.length === 0) {
    out("No flow runs found.");
    return EXIT.OK;
  }
  const chalk = colorsFor(process.stdout, opts.color);
  const t = table(["Name", "Flow", "State", "Start", "Duration", "Task runs", "Tags"]);
  for (const r of runs) {
    t.push([r.name, r.flowName, stateText(r.state, chalk), tableTime(r.startTime ?? r.created), runDuration(r), taskCountsText(r.taskCounts, chalk), r.tags.join(", ")]);
  }
  out(t.toString());
  return EXIT.OK;
}

// ---------------------------------------------------------------- logs

// ---------------------------------------------------------------- prune

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30d`, `12h`, `90m`, `45s`, `1w`, `1d12h` → milliseconds. */
export function parseDuration(text: string, option = "--older-than"): number {
  const s = text.trim().toLowerCase();
  const re = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/gy;
  let total = 0;
  let end = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  if (s === "" || end !== s.length) {
    throw new UsageError(`${option} expects a duration like 30d, 12h, 90m, 45s, 1w or 1d12h (units ms, s, m, h, d, w), got '${text}'`);
  }
  return total;
}

/**
 * After runs were removed from the store: delete the cached results no remaining run uses and
 * the results kept for retries of the removed runs. How many cached results were deleted.
 */
export async function deleteResultsOf(res: PruneResult): Promise<number> {
  const storage = getResultStorage();
  let results = 0;
  for (const key of res.cacheKeys) {
    const file = storage.fileFor(key);
    try {
      await fsp.unlink(file);
      results++;
    } catch (err) {
      if ((err as { code?: string }).code !== "ENOENT") {
        process.stderr.write(`flowctl: warning: could not delete the stored result ${file}: ${(err as Error).message}\n`);
      }
    }
  }
  deleteKeptResults(resolve(getSettings().PREFECT_LOCAL_STORAGE_PATH), res.flowRunIds ?? []);
  return results;
}

async function pruneRuns(opts: PruneOpts): Promise<number> {
  const age = parseDuration(opts.olderThan);
  const store = await openStore();
  const cutoff = Date.now() - age;
  const res = await store.pruneOlderThan(cutoff);
  const results = await deleteResultsOf(res);
  const summary = { cutoff, flowRuns: res.flowRuns, taskRuns: res.taskRuns, states: res.states, logs: res.logs, results };
  if (opts.json) {
    printJson({ ...summary, cutoff: new Date(cutoff).toISOString() });
    return EXIT.OK;
  }
  const n = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
  out(
    `Pruned ${n(res.flowRuns, "flow run")}, ${n(res.taskRuns, "task run")}, ${n(res.states, "state")}, ` +
      `${n(res.logs, "log line")} and ${n(results, "stored result")} last active before ${formatStart(cutoff)}.`,
  );
  return EXIT.OK;
}
