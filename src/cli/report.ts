/**
 * Reports of a finished flow run for CI: the data (`collectReport`, read from the store) and
 * its Markdown (`reportMarkdown`: the GitHub step summary, `runs inspect RUN --format md`).
 * The JUnit XML of the same data is in junit.ts.
 */
import { errorTitle } from "../errors.ts";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { FlowRunRow, RunStore, TaskRunRow } from "../store/types.ts";
import { firstUserFrame } from "../logging/traceback.ts";

/** Failed task runs whose error and stack are read (the others keep their state message). */
const DETAILED_FAILURES = 200;

export interface ReportTaskRun {
  id: string;
  name: string;
  taskName: string;
  stateType: string;
  stateName: string;
  message: string | null;
  durationMs: number | null;
  /** for runs that did not complete: the stored error, when read */
  error?: { name: string; message: string; stack: string | undefined; frame: string | undefined };
}

export interface RunReport {
  flowRun: FlowRunRow;
  durationMs: number | null;
  /** how many task runs the flow run has */
  total: number;
  /** every task run, oldest first — read only when asked for (`allTaskRuns`: the JUnit report) */
  taskRuns: ReportTaskRun[];
  /** final state name → task runs in it */
  counts: [string, number][];
  notCompleted: ReportTaskRun[];
}

export const isOk = (t: { stateType: string }) => t.stateType === "COMPLETED";

const reportTaskRun = (r: TaskRunRow): ReportTaskRun => ({
  id: r.id, name: r.name, taskName: r.taskName, stateType: r.stateType, stateName: r.stateName, message: r.stateMessage,
  durationMs: r.startTime !== null && r.endTime !== null ? r.endTime - r.startTime : null,
});

/**
 * The report of a flow run. Without `allTaskRuns` it reads counts and the task runs that did not
 * complete, never every task run: a Markdown summary of 100,000 task runs reads a few rows.
 */
export async function collectReport(store: RunStore, flowRun: FlowRunRow, opts: { allTaskRuns?: boolean } = {}): Promise<RunReport> {
  const groups = await store.taskRunGroups(flowRun.id);
  const byType = new Map<string, number>();
  for (const g of groups) for (const [type, n] of Object.entries(g.counts)) byType.set(type, (byType.get(type) ?? 0) + (n ?? 0));
  const total = [...byType.values()].reduce((a, b) => a + b, 0);
  const completed = byType.get("COMPLETED") ?? 0;
  const otherTypes = [...byType.keys()].filter((t) => t !== "COMPLETED");
  const page = (state: string[]) => store.pageTaskRuns({ flowRunId: flowRun.id, state, limit: Number.MAX_SAFE_INTEGER });
  const cached = completed > 0 ? (await store.pageTaskRuns({ flowRunId: flowRun.id, state: ["Cached"], limit: 1 })).total : 0;
  const notCompleted = otherTypes.length ? (await page(otherTypes)).taskRuns.map(reportTaskRun) : [];
  const taskRuns = opts.allTaskRuns ? (await page([])).taskRuns.map(reportTaskRun) : [];
  const counts = new Map<string, number>();
  if (completed - cached > 0) counts.set("Completed", completed - cached);
  if (cached > 0) counts.set("Cached", cached);
  for (const t of notCompleted) counts.set(t.stateName, (counts.get(t.stateName) ?? 0) + 1);
  for (const t of notCompleted.slice(0, DETAILED_FAILURES)) {
    const states = await store.getStates(t.id);
    const withError = [...states].reverse().find((s) => s.error !== null);
    if (!withError?.error) continue;
    try {
      const e = JSON.parse(withError.error) as { name?: string; message?: string; stack?: string };
      const stack = typeof e.stack === "string" ? e.stack : undefined;
      t.error = { name: e.name ?? "Error", message: e.message ?? "", stack, frame: stack ? shortFrame(firstUserFrame(stack)) : undefined };
    } catch {
      // an unreadable stored error: the state message stands in
    }
  }
  if (opts.allTaskRuns) {
    const detailed = new Map(notCompleted.map((t) => [t.id, t]));
    for (let i = 0; i < taskRuns.length; i++) taskRuns[i] = detailed.get(taskRuns[i]!.id) ?? taskRuns[i]!;
  }
  const order = ["Completed", "Cached", "Failed", "TimedOut", "Crashed", "Cancelled", "NotReady"];
  const rank = (n: string) => (order.includes(n) ? order.indexOf(n) : order.length);
  return {
    flowRun,
    durationMs: flowRun.startTime !== null && flowRun.endTime !== null ? flowRun.endTime - flowRun.startTime : null,
    total,
    taskRuns,
    counts: [...counts.entries()].sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0])),
    notCompleted,
  };
}

/** `file:///work/x.ts:4:28` or `/work/x.ts:4:28` → `x.ts:4:28` (relative to the working directory). */
function shortFrame(loc: string | undefined): string | undefined {
  if (loc === undefined) return undefined;
  const m = /^(.*?)(:\d+(?::\d+)?)$/.exec(loc);
  let path = m ? m[1]! : loc;
  const pos = m ? m[2]! : "";
  try {
    if (path.startsWith("file://")) path = fileURLToPath(path);
  } catch {
    // not a file URL after all
  }
  if (path.startsWith("/")) path = relative(process.cwd(), path) || path;
  return path + pos;
}

export function seconds(ms: number | null): string {
  if (ms === null) return "-";
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** A Markdown table cell: one line, pipes escaped, at most `max` characters. */
function cell(text: string, max = 200): string {
  const one = text.replace(/\s*\n\s*/g, " ").replace(/\|/g, "\\|");
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
const code = (text: string) => `\`${text.replace(/`/g, "ˋ")}\``;

const MD_FAILURES = 50;

export function reportMarkdown(r: RunReport): string {
  const f = r.flowRun;
  const ok = f.stateType === "COMPLETED";
  const icon = ok ? "✅" : f.stateType === "CANCELLED" ? "⏹️" : "❌";
  const total = r.total;
  const countText = `${total}${r.counts.length ? `: ${r.counts.map(([n, c]) => `${c} ${n}`).join(", ")}` : ""}`;
  const state = `${f.stateName}${f.stateMessage ? `: ${f.stateMessage}` : ""}`;
  const lines = [
    `### ${icon} Flow run ${code(f.name)} of ${code(f.flowName)}: ${f.stateName}`,
    "",
    "| State | Duration | Task runs |",
    "| --- | --- | --- |",
    `| ${cell(state)} | ${seconds(r.durationMs)} | ${cell(countText)} |`,
  ];
  const bad = r.notCompleted;
  if (bad.length > 0) {
    lines.push("", `#### Task runs that did not complete (${bad.length})`, "", "| Task run | State | Error | Where |", "| --- | --- | --- | --- |");
    for (const t of bad.slice(0, MD_FAILURES)) {
      const err = t.error ? errorTitle(t.error) : t.message ?? "";
      lines.push(`| ${code(t.name)} | ${t.stateName} | ${cell(err)} | ${t.error?.frame ? code(t.error.frame) : "-"} |`);
    }
    if (bad.length > MD_FAILURES) lines.push("", `…and ${bad.length - MD_FAILURES} more: \`flowctl tasks ls --flow-run ${f.id} --state ${[...new Set(bad.map((t) => t.stateName))].join(",")}\``);
  }
  lines.push("", `<sub>flow run id ${code(f.id)} · \`flowctl runs inspect ${f.id}\`</sub>`, "");
  return lines.join("\n");
}
