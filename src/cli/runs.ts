/**
 * `flowctl runs ls | inspect RUN | logs RUN | prune --older-than DURATION`: the run history in
 * the store, for people (tables, colored states) and for scripts (`--json`).
 *
 * RUN is a run's id, any unique prefix of one, or its name (`findRun`, shared by every command
 * that names a run); a RUN that fits several runs lists them and exits 2.
 */
import { collectReport, reportMarkdown } from "./report.ts";
import { SUMMARY_LINE } from "../engine/progress.ts";
import type { Command } from "commander";
import { FitTable, shortId } from "./fit-table.ts";
import { promises as fsp } from "node:fs";
import type { ChalkInstance } from "chalk";
import { UsageError } from "../errors.ts";
import { colorLevel, formatColored, formatPlain, makeChalk } from "../logging/format.ts";
import { sanitize, sanitizeKeepingColors } from "../logging/sanitize.ts";
import { formatTraceback } from "../logging/traceback.ts";
import { flowRunDetailJson, flowRunJson, logJson, printJson, taskRunDetailJson } from "./json.ts";
import { getResultStorage } from "../results/storage.ts";
import { getReadableStore } from "../store/index.ts";
import { deleteKeptResults } from "../results/kept-results.ts";
import { getSettings } from "../settings/index.ts";
import { resolve } from "node:path";
import type { FlowRunRow, LogRow, PruneResult, RunStore } from "../store/types.ts";
import { AmbiguousRunError, lookupRun, type RunKind, type RunMatch } from "../store/run-lookup.ts";
import { errorTitle, isFlowctlError } from "../errors.ts";
import { BadRequest, parseLevel, parseStates } from "../server/api.ts";
import {
  flowRunDetail, listFlowRunViews, logView, taskRunDetail, FINAL_TYPES,
  type FlowRunView, type StateHistoryEntry, type StateView, type TaskRunView, type UpstreamLink,
} from "../server/run-views.ts";
import { action, EXIT, parseIntOption, sayJournalWaiting } from "./util.ts";

// user data (names, tags, messages) is printed escaped: no control character reaches the terminal raw
const out = (line: string) => process.stdout.write(`${sanitizeKeepingColors(line, true)}\n`);
/** JSON: exact (JSON.stringify escapes the control characters itself) */
const outJson = (text: string) => process.stdout.write(`${text}\n`);

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

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

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

function runDuration(r: { durationMs: number | null; state: StateView }): string {
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
interface InspectOpts { json?: boolean; color: boolean; wide?: boolean; format?: string }
interface LogsOpts { follow?: boolean; level?: string; json?: boolean; color: boolean }
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
    .option("--no-color", "no colors")
    .action(action((run: string, opts: InspectOpts) => inspectRun(run, opts)));

  runs
    .command("logs")
    .description("Print a run's logs (a flow run's include its task runs')")
    .argument("<run>", "a flow run's or task run's id, unique id prefix or name")
    .option("-f, --follow", "keep printing new lines until the run has finished")
    .option("--level <level>", "lowest level shown (DEBUG, INFO, WARNING, ERROR, CRITICAL)")
    .option("--json", "print one JSON object per line on stdout")
    .option("--no-color", "no colors")
    .action(action((run: string, opts: LogsOpts) => runLogs(run, opts)));

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

function historyLines(states: StateHistoryEntry[], chalk: ChalkInstance, indent = "  "): string[] {
  return states.map((s) => {
    const due = s.scheduledTime !== null ? ` (due ${formatClock(s.scheduledTime)})` : "";
    return `${indent}${formatStart(s.timestamp)}.${pad(new Date(s.timestamp).getMilliseconds(), 3)}  ${stateText(s, chalk, true)}${due}`;
  });
}

function field(label: string, value: string): string {
  return `  ${(label + ":").padEnd(12)} ${value}`;
}

function upstreamText(links: UpstreamLink[] | undefined): string {
  if (!links?.length) return "";
  return links.map((l) => `${l.parameter} ← ${l.taskRun?.name ?? l.taskRunId}`).join(", ");
}

function errorSummary(states: StateHistoryEntry[] | undefined): string | undefined {
  const last = states?.[states.length - 1];
  const e = last?.error as { name?: string; message?: string } | null | undefined;
  if (!e || typeof e !== "object") return undefined;
  return e.name ? errorTitle(e) : e.message;
}

async function inspectRun(run: string, opts: InspectOpts): Promise<number> {
  const format = opts.format ?? "text";
  if (format !== "text" && format !== "md") throw new UsageError(`--format must be text or md, got '${format}'`);
  if (format === "md" && opts.json) throw new UsageError("--format md and --json do not go together; pick one");
  const store = await openStore();
  const chalk = colorsFor(process.stdout, opts.color);
  const match = await findRun(store, run);
  if (format === "md") {
    if (match.kind !== "flow") throw new UsageError(`--format md summarises a flow run; '${run}' is a task run`);
    process.stdout.write(reportMarkdown(await collectReport(store, match.row as FlowRunRow)));
    return EXIT.OK;
  }
  const flow = match.kind === "flow" ? await flowRunDetail(store, match.row.id, { withTaskHistory: true }) : undefined;
  if (flow) {
    if (opts.json) {
      printJson(flowRunDetailJson(flow));
      return EXIT.OK;
    }
    const f = flow.flowRun;
    out(`Flow run '${f.name}'`);
    out(field("ID", f.id));
    out(field("Flow", f.flowName + (f.flowVersion ? ` (version ${f.flowVersion})` : "")));
    out(field("State", stateText(f.state, chalk, true)));
    out(field("Start", formatStart(f.startTime)));
    out(field("End", formatStart(f.endTime)));
    out(field("Duration", runDuration(f)));
    out(field("Run count", String(f.runCount)));
    out(field("Tags", f.tags.join(", ") || "-"));
    out(field("Parameters", JSON.stringify(f.parameters)));
    if (flow.parentFlowRun) out(field("Parent", `flow run '${flow.parentFlowRun.name}' (${flow.parentFlowRun.id})`));
    out("");
    out("State history:");
    for (const line of historyLines(flow.states, chalk)) out(line);
    out("");
    printTaskRuns(flow.taskRuns, chalk, opts.wide);
    if (flow.subflowRuns.length) {
      out("");
      out(`Subflow runs (${flow.subflowRuns.length}):`);
      const t = table(["Name", "Flow", "State", "Start", "Duration", "ID"]);
      for (const s of flow.subflowRuns) t.push([s.name, s.flowName, stateText(s.state, chalk), tableTime(s.startTime), runDuration(s), shortId(s.id, opts.wide)]);
      out(t.toString());
    }
    return EXIT.OK;
  }
  const task = await taskRunDetail(store, match.row.id);
  if (!task) throw new UsageError(`The run '${run}' was deleted meanwhile.`);
  if (opts.json) {
    printJson(taskRunDetailJson(task));
    return EXIT.OK;
  }
  const t = task.taskRun;
  out(`Task run '${t.name}'`);
  out(field("ID", t.id));
  out(field("Task", `${t.taskName} (key ${t.taskKey})`));
  out(field("Flow run", task.flowRun ? `'${task.flowRun.name}' (${task.flowRun.id})` : "- (standalone)"));
  if (task.parentTaskRun) out(field("Parent", `task run '${task.parentTaskRun.name}' (${task.parentTaskRun.id})`));
  out(field("State", stateText(t.state, chalk, true)));
  out(field("Start", formatStart(t.startTime)));
  out(field("End", formatStart(t.endTime)));
  out(field("Duration", runDuration(t)));
  out(field("Run count", String(t.runCount)));
  out(field("Tags", t.tags.join(", ") || "-"));
  out(field("Cache key", t.cacheKey ?? "-"));
  out(field("Parameters", JSON.stringify(t.parameters)));
  out(field("Upstream", upstreamText(task.upstream) || "-"));
  const err = errorSummary(task.states);
  if (err) {
    out(field("Error", err.split("\n")[0]!));
    // the stored stack and cause chain (flowctl/node frames folded unless --debug)
    const trace = formatTraceback(task.states[task.states.length - 1]?.error);
    if (trace) out(trace.split("\n").map((l) => `  ${l}`).join("\n"));
  }
  out("");
  out("State history:");
  for (const line of historyLines(task.states, chalk)) out(line);
  return EXIT.OK;
}

function printTaskRuns(runs: (TaskRunView & { states?: StateHistoryEntry[]; upstream?: UpstreamLink[] })[], chalk: ChalkInstance, wide?: boolean): void {
  out(`Task runs (${runs.length}):`);
  if (runs.length === 0) return;
  // the upstream column only when some run took another's result
  const links = runs.some((r) => r.upstream?.length);
  const t = table(["Name", "Task", "State", "Start", "Duration", "Runs", ...(links ? ["Upstream"] : []), "ID"]);
  for (const r of runs) {
    const cells = [r.name, r.taskName, stateText(r.state, chalk), tableTime(r.startTime), runDuration(r), String(r.runCount)];
    t.push([...cells, ...(links ? [upstreamText(r.upstream)] : []), shortId(r.id, wide)]);
  }
  out(t.toString());
  const failed = runs.filter((r) => !["COMPLETED", "RUNNING", "PENDING", "SCHEDULED"].includes(r.state.type) || r.state.name === "NotReady");
  if (failed.length === 0) return;
  out("");
  out("Not completed:");
  for (const r of failed) {
    out(`  ${r.name}: ${stateText(r.state, chalk, true)}`);
    const err = errorSummary(r.states);
    if (err) out(`    error: ${err.split("\n")[0]}`);
    if (r.states && r.states.length > 0) out(`    states: ${r.states.map((s) => s.name).join(" → ")}`);
  }
}

// ---------------------------------------------------------------- logs

const FOLLOW_INTERVAL_MS = 300;
/** After the run is final, how long to wait for its last lines (the writer batches every 200 ms). */
const FOLLOW_GRACE_MS = 2000;

async function runLogs(run: string, opts: LogsOpts): Promise<number> {
  let minLevel: number | undefined;
  try {
    minLevel = parseLevel(opts.level, "--level");
  } catch (err) {
    throw err instanceof BadRequest ? new UsageError(err.message) : err;
  }
  const store = await openStore();
  const match = await findRun(store, run);
  const flow = match.kind === "flow" ? match.row : undefined;
  const task = match.kind === "task" ? match.row : undefined;
  const where = flow ? { flowRunId: flow.id, includeTasks: true } : { taskRunId: task!.id };
  const runId = flow ? flow.id : task!.id;
  // a run's last line: a top-level flow run's summary line, else its own "Finished in state" line
  const topLevel = flow !== undefined && flow.parentFlowRunId === null;
  const isLastLine = (l: LogRow) =>
    topLevel
      ? l.flowRunId === runId && l.taskRunId === null && SUMMARY_LINE.test(l.message)
      : l.message.startsWith("Finished in state") && (flow ? l.flowRunId === runId && l.taskRunId === null : l.taskRunId === runId);
  const chalk = colorsFor(process.stdout, opts.color);
  let afterId: number | undefined;
  let sawLast = false;
  const printNew = async () => {
    const rows = await store.getLogs({ ...where, minLevel, afterId });
    for (const l of rows) {
      if (opts.json) outJson(JSON.stringify(logJson(logView(l))));
      else {
        const rec = { level: l.level, source: l.source, message: l.message, timestamp: l.timestamp };
        out(chalk.level > 0 ? formatColored(rec, chalk) : formatPlain(rec));
      }
      if (isLastLine(l)) sawLast = true;
    }
    if (rows.length) afterId = rows[rows.length - 1]!.id;
  };
  await printNew();
  if (!opts.follow) return EXIT.OK;

  const isFinal = async () => {
    const row = flow ? await store.getFlowRun(runId) : await store.getTaskRun(runId);
    return row !== undefined && FINAL_TYPES.has(row.stateType);
  };
  let stopped = false;
  const stop = () => { stopped = true; };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    let finalSince: number | undefined;
    while (!stopped) {
      if (finalSince === undefined && (await isFinal())) finalSince = Date.now();
      await printNew();
      // the last line may come in a later batch than the final state: wait for it, for a while
      if (finalSince !== undefined && (sawLast || Date.now() - finalSince >= FOLLOW_GRACE_MS)) break;
      await new Promise((r) => setTimeout(r, FOLLOW_INTERVAL_MS));
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  return EXIT.OK;
}

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
