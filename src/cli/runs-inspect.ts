/**
 * `flowctl runs inspect RUN`: a run's parameters, tags and state history; a flow run's task
 * runs a page at a time (`--limit`, default 200, and `--offset`, oldest first) with how many
 * there are, so a flow run of 100,000 task runs is read from the store a page at a time and
 * says on stderr when the list is partial; the runs that did not complete are listed apart
 * (the first NOT_COMPLETED_SHOWN of them, with how many). `--json` carries the same page and
 * its totals (`taskRunPage`, docs/json-output.md).
 */
import type { ChalkInstance } from "chalk";
import { errorTitle, UsageError } from "../errors.ts";
import { formatTraceback } from "../logging/traceback.ts";
import type { FlowRunRow, RunStore, StateType, TaskRunRow } from "../store/types.ts";
import {
  flowRunView, stateHistoryView, taskCountsOf, taskRunDetail, taskRunView, upstreamOf,
  type FlowRunDetail, type StateHistoryEntry, type UpstreamLink,
} from "../server/run-views.ts";
import { collectReport, reportMarkdown } from "./report.ts";
import { shortId } from "./fit-table.ts";
import { flowRunDetailJson, printJson, taskRunDetailJson, type TaskRunPageJson } from "./json.ts";
import {
  colorsFor, findRun, formatClock, formatStart, openStore, out, pad, runDuration, stateText, table, tableTime, type InspectOpts,
} from "./runs.ts";
import { EXIT } from "./util.ts";

/** Task runs that did not complete listed by name under the table (the rest are counted). */
export const NOT_COMPLETED_SHOWN = 20;
/** States a task run did not complete in: every final or paused one but Completed, and NotReady (its upstream failed). */
const NOT_COMPLETED = ["FAILED", "CRASHED", "CANCELLED", "CANCELLING", "PAUSED", "NotReady"];
const SUBFLOWS_SHOWN = 10_000;

const count = (n: number) => n.toLocaleString("en-US");

type TaskRunWithHistory = FlowRunDetail["taskRuns"][number];

export interface FlowRunPage {
  detail: FlowRunDetail;
  page: TaskRunPageJson;
  /** every task run of the flow run by state type */
  taskCounts: Partial<Record<StateType, number>>;
  notCompleted: { taskRuns: TaskRunWithHistory[]; total: number };
}

async function withHistory(store: RunStore, rows: TaskRunRow[], now: number): Promise<TaskRunWithHistory[]> {
  const out: TaskRunWithHistory[] = [];
  for (const t of rows) {
    out.push({ ...taskRunView(t, now), states: stateHistoryView(await store.getStates(t.id)), upstream: await upstreamOf(store, t.id, now) });
  }
  return out;
}

/** A flow run with one page of its task runs (each with its history and upstream links) and the counts of all of them. */
export async function flowRunPage(store: RunStore, row: FlowRunRow, limit: number, offset: number): Promise<FlowRunPage> {
  const now = Date.now();
  const [states, page, taskCounts, notCompleted, subflows, parent] = await Promise.all([
    store.getStates(row.id),
    store.pageTaskRuns({ flowRunId: row.id, limit, offset }),
    taskCountsOf(store, row.id),
    store.pageTaskRuns({ flowRunId: row.id, state: NOT_COMPLETED, limit: NOT_COMPLETED_SHOWN }),
    store.listFlowRunsWithTaskCounts({ parentFlowRunId: row.id, limit: SUBFLOWS_SHOWN }),
    row.parentFlowRunId ? store.getFlowRun(row.parentFlowRunId) : Promise.resolve(undefined),
  ]);
  const detail: FlowRunDetail = {
    flowRun: flowRunView(row, now),
    states: stateHistoryView(states),
    taskRuns: await withHistory(store, page.taskRuns, now),
    subflowRuns: subflows.reverse().map((s) => flowRunView(s, now)),
    parentFlowRun: parent && parent.id === row.parentFlowRunId ? flowRunView(parent, now) : null,
  };
  const next = offset + page.taskRuns.length;
  return {
    detail,
    page: { offset, limit, total: page.total, nextOffset: next < page.total && page.taskRuns.length > 0 ? next : null },
    taskCounts,
    notCompleted: { taskRuns: await withHistory(store, notCompleted.taskRuns, now), total: notCompleted.total },
  };
}

/** The stderr line saying a flow run's task-run list is partial; undefined when it is whole. */
export function partialNotice(p: TaskRunPageJson, shown: number): string | undefined {
  if (p.offset === 0 && shown >= p.total) return undefined;
  const where =
    shown === 0 ? `no task runs at offset ${count(p.offset)} (there are ${count(p.total)})`
    : shown === 1 ? `task run ${count(p.offset + 1)} of ${count(p.total)}`
    : `task runs ${count(p.offset + 1)}–${count(p.offset + shown)} of ${count(p.total)}`;
  const more = p.nextOffset !== null ? `; --offset ${p.nextOffset} for the next ${count(Math.min(p.limit, p.total - p.nextOffset))}` : "";
  return `flowctl: showing ${where}${more} (--limit N for more at once)`;
}

export async function inspectRun(run: string, opts: InspectOpts): Promise<number> {
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
  if (match.kind === "flow") return printFlowRun(await flowRunPage(store, match.row as FlowRunRow, opts.limit, opts.offset), opts, chalk);
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

function printFlowRun(p: FlowRunPage, opts: InspectOpts, chalk: ChalkInstance): number {
  const flow = p.detail;
  const notice = partialNotice(p.page, flow.taskRuns.length);
  if (opts.json) {
    printJson(flowRunDetailJson(flow, { taskCounts: p.taskCounts, taskRunPage: p.page }));
    if (notice) process.stderr.write(`${notice}\n`);
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
  printTaskRuns(p, chalk, opts.wide);
  if (flow.subflowRuns.length) {
    out("");
    out(`Subflow runs (${flow.subflowRuns.length}):`);
    const t = table(["Name", "Flow", "State", "Start", "Duration", "ID"]);
    for (const s of flow.subflowRuns) t.push([s.name, s.flowName, stateText(s.state, chalk), tableTime(s.startTime), runDuration(s), shortId(s.id, opts.wide)]);
    out(t.toString());
  }
  // after the output, so it is the last thing a reader sees
  if (notice) process.stderr.write(`${notice}\n`);
  return EXIT.OK;
}

function printTaskRuns(p: FlowRunPage, chalk: ChalkInstance, wide?: boolean): void {
  const runs = p.detail.taskRuns;
  const { offset, total } = p.page;
  const whole = offset === 0 && runs.length >= total;
  out(whole ? `Task runs (${count(total)}):` : runs.length ? `Task runs (${count(offset + 1)}–${count(offset + runs.length)} of ${count(total)}):` : `Task runs (none at offset ${count(offset)} of ${count(total)}):`);
  if (runs.length > 0) {
    // the upstream column only when some run took another's result
    const links = runs.some((r) => r.upstream?.length);
    const t = table(["Name", "Task", "State", "Start", "Duration", "Runs", ...(links ? ["Upstream"] : []), "ID"]);
    for (const r of runs) {
      const cells = [r.name, r.taskName, stateText(r.state, chalk), tableTime(r.startTime), runDuration(r), String(r.runCount)];
      t.push([...cells, ...(links ? [upstreamText(r.upstream)] : []), shortId(r.id, wide)]);
    }
    out(t.toString());
  }
  const failed = p.notCompleted;
  if (failed.total === 0) return;
  out("");
  out(failed.total > failed.taskRuns.length ? `Not completed (${count(failed.total)}; the first ${failed.taskRuns.length}):` : "Not completed:");
  for (const r of failed.taskRuns) {
    out(`  ${r.name}: ${stateText(r.state, chalk, true)}`);
    const err = errorSummary(r.states);
    if (err) out(`    error: ${err.split("\n")[0]}`);
    if (r.states && r.states.length > 0) out(`    states: ${r.states.map((s) => s.name).join(" → ")}`);
  }
  if (failed.total > failed.taskRuns.length) {
    const states = [...new Set(failed.taskRuns.map((r) => r.state.name))].join(",");
    out(`  …and ${count(failed.total - failed.taskRuns.length)} more: flowctl tasks ls --flow-run ${p.detail.flowRun.id} --state ${states}`);
  }
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
