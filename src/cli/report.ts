/**
 * Reports of a finished flow run for CI: the data (`collectReport`, read from the store) and
 * its Markdown (`reportMarkdown`: the GitHub step summary, `runs inspect RUN --format md`).
 * The JUnit XML of the same data is in junit.ts.
 */
import { errorTitle } from "../errors.ts";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { FlowRunRow, RunStore } from "../store/types.ts";
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
  taskRuns: ReportTaskRun[];
  /** final state name → task runs in it */
  counts: [string, number][];
  notCompleted: ReportTaskRun[];
}

export const isOk = (t: { stateType: string }) => t.stateType === "COMPLETED";

export async function collectReport(store: RunStore, flowRun: FlowRunRow): Promise<RunReport> {
  const rows = await store.listTaskRuns({ flowRunId: flowRun.id, limit: Number.MAX_SAFE_INTEGER });
  rows.sort((a, b) => a.created - b.created);
  const taskRuns: ReportTaskRun[] = rows.map((r) => ({
    id: r.id, name: r.name, taskName: r.taskName, stateType: r.stateType, stateName: r.stateName, message: r.stateMessage,
    durationMs: r.startTime !== null && r.endTime !== null ? r.endTime - r.startTime : null,
  }));
  const counts = new Map<string, number>();
  for (const t of taskRuns) counts.set(t.stateName, (counts.get(t.stateName) ?? 0) + 1);
  const notCompleted = taskRuns.filter((t) => !isOk(t));
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
  const order = ["Completed", "Cached", "Failed", "TimedOut", "Crashed", "Cancelled", "NotReady"];
  const rank = (n: string) => (order.includes(n) ? order.indexOf(n) : order.length);
  return {
    flowRun,
    durationMs: flowRun.startTime !== null && flowRun.endTime !== null ? flowRun.endTime - flowRun.startTime : null,
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
  const total = r.taskRuns.length;
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
