/**
 * `flowctl tasks ls`: recorded task runs, newest first (or a flow run's, in the order they were
 * created), so a failing task can be found from CI output: `flowctl tasks ls --state Failed`.
 */
import { shortId } from "./fit-table.ts";
import type { Command } from "commander";
import { taskRunView } from "../server/run-views.ts";
import { action, EXIT, parseIntOption } from "./util.ts";
import { sanitizeKeepingColors } from "../logging/sanitize.ts";
import { printJson, taskRunJson } from "./json.ts";
import { colorsFor, findFlowRun, formatDuration, openStore, stateOption, stateText, table, tableTime } from "./runs.ts";

interface LsOpts { flowRun?: string; state?: string; task?: string; tag?: string; limit: number; json?: boolean; color: boolean; wide?: boolean }

const out = (line: string) => process.stdout.write(`${sanitizeKeepingColors(line, true)}\n`);

export function registerTasksCommand(program: Command): void {
  const tasks = program.command("tasks").description("List recorded task runs");
  tasks
    .command("ls")
    .description("List task runs, newest first (a flow run's in creation order)")
    .option("--flow-run <run>", "only the task runs of this flow run (id or name)")
    .option("--state <states>", "only runs in these states (types or names, comma-separated: Failed,TimedOut)")
    .option("--task <name>", "only runs of this task")
    .option("--tag <tag>", "only runs with this tag")
    .option("--limit <n>", "most runs listed", parseIntOption("--limit", 1), 50)
    .option("--json", "print a JSON array on stdout")
    .option("--wide", "full IDs (shortened to 8 characters otherwise)")
    .option("--no-color", "no colors")
    .action(action((opts: LsOpts) => listTasks(opts)));
}

async function listTasks(opts: LsOpts): Promise<number> {
  const state = stateOption(opts.state);
  const store = await openStore();
  let flowRunId: string | undefined;
  if (opts.flowRun !== undefined) {
    flowRunId = (await findFlowRun(store, opts.flowRun)).id;
  }
  const now = Date.now();
  const runs = (await store.listTaskRuns({ flowRunId, state, taskName: opts.task, tag: opts.tag, limit: opts.limit })).map((r) => taskRunView(r, now));
  // the flow run names, for people reading the table
  const flowNames = new Map<string, string>();
  for (const id of new Set(runs.map((r) => r.flowRunId).filter((x): x is string => x !== null))) {
    const f = await store.getFlowRun(id);
    if (f) flowNames.set(id, f.name);
  }
  if (opts.json) {
    printJson(runs.map((r) => taskRunJson(r, r.flowRunId ? flowNames.get(r.flowRunId) ?? null : null)));
    return EXIT.OK;
  }
  if (runs.length === 0) {
    out("No task runs found.");
    return EXIT.OK;
  }
  const chalk = colorsFor(process.stdout, opts.color);
  const t = table(["Name", "Task", "Flow run", "State", "Start", "Duration", "Runs", "ID"]);
  for (const r of runs) {
    const flowName = r.flowRunId ? flowNames.get(r.flowRunId) ?? r.flowRunId : "-";
    t.push([r.name, r.taskName, flowName, stateText(r.state, chalk, !!r.state.message && r.state.type !== "COMPLETED"), tableTime(r.startTime), formatDuration(r.durationMs), String(r.runCount), shortId(r.id, opts.wide)]);
  }
  out(t.toString());
  return EXIT.OK;
}
