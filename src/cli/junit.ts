/**
 * A flow run as JUnit XML, the shape CI systems read (Jenkins, GitLab, GitHub actions that
 * publish test results): one <testsuite> for the flow run, one <testcase> per task run
 * (classname = flow name + task name, name = the task run's name, time in seconds).
 * Failed and TimedOut runs carry <failure>, Crashed ones <error>, Cancelled and NotReady ones
 * <skipped> (they never ran to an outcome of their own).
 */
import { errorTitle } from "../errors.ts";
import type { ReportTaskRun, RunReport } from "./report.ts";

// XML 1.0 allows neither most control characters nor lone surrogates, even escaped
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function xmlEscape(text: string): string {
  return text
    .replace(INVALID_XML, "\uFFFD")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

const secs = (ms: number | null) => ((ms ?? 0) / 1000).toFixed(3);
const attrs = (a: Record<string, string | number>) =>
  Object.entries(a).map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`).join("");

type Outcome = "ok" | "failure" | "error" | "skipped";

function outcomeOf(t: ReportTaskRun): Outcome {
  if (t.stateType === "COMPLETED") return "ok";
  if (t.stateType === "CRASHED") return "error";
  if (t.stateType === "FAILED") return "failure";
  return "skipped";
}

export function reportJUnit(r: RunReport): string {
  const f = r.flowRun;
  const outcomes = r.taskRuns.map(outcomeOf);
  const n = (o: Outcome) => outcomes.filter((x) => x === o).length;
  const totals = { tests: r.taskRuns.length, failures: n("failure"), errors: n("error"), skipped: n("skipped"), time: secs(r.durationMs) };
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: "flowctl", ...totals })}>`,
    `  <testsuite${attrs({ name: `${f.flowName} (${f.name})`, ...totals, timestamp: new Date(f.startTime ?? f.created).toISOString(), id: f.id })}>`,
    `    <properties>`,
    `      <property${attrs({ name: "flowRunId", value: f.id })}/>`,
    `      <property${attrs({ name: "state", value: f.stateName })}/>`,
    `    </properties>`,
  ];
  r.taskRuns.forEach((t, i) => {
    const head = `    <testcase${attrs({ classname: `${f.flowName}.${t.taskName}`, name: t.name, time: secs(t.durationMs) })}`;
    const o = outcomes[i]!;
    if (o === "ok") {
      out.push(`${head}/>`);
      return;
    }
    const message = t.error ? errorTitle(t.error) : `${t.stateName}${t.message ? `: ${t.message}` : ""}`;
    out.push(`${head}>`);
    if (o === "skipped") out.push(`      <skipped${attrs({ message })}/>`);
    else {
      const body = t.error?.stack ?? message;
      out.push(`      <${o}${attrs({ message, type: t.error?.name ?? t.stateName })}>${xmlEscape(body)}</${o}>`);
    }
    out.push("    </testcase>");
  });
  out.push("  </testsuite>", "</testsuites>", "");
  return out.join("\n");
}
