/**
 * `flowctl runs retry RUN [--from TASK] [--dry-run] [--param k=v]...` and the bulk form
 * `flowctl runs retry --state Failed --since 1h`: re-run a finished flow run in place (same id,
 * run count + 1), from the entrypoint recorded with it and with its parameters, reusing every
 * task call whose earlier run completed (see `engine/retry-plan.ts`). `run FILE --retry-of RUN`
 * shares `prepareRetry`.
 */
import type { Command } from "commander";
import { sanitizeKeepingColors } from "../logging/sanitize.ts";
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { isFlowctlError, UsageError } from "../errors.ts";
import { buildRetryPlan, type RetryPlan } from "../engine/retry-plan.ts";
import type { ResumedRun } from "../engine/run-records.ts";
import { installPrintCapture } from "../logging/prints.ts";
import { LOG_LEVELS } from "../settings/schema.ts";
import { getSettings } from "../settings/index.ts";
import { getStore } from "../store/index.ts";
import { REDACTED } from "../logging/redact.ts";
import type { FlowRunRow } from "../store/types.ts";
import { action, applyLoggingOptions, EXIT, openStoreOrUsageError, settingsOrUsageError } from "./util.ts";
import { executeFlow, loadRunTarget } from "./run.ts";
import { bindCliParameters, readParamOptions } from "./params.ts";
import { findFlowRun, formatStart, openStore, parseDuration, stateOption } from "./runs.ts";

// user data (tags, task and run names) is printed escaped: no control character reaches the terminal raw
const out = (line: string) => process.stdout.write(`${sanitizeKeepingColors(line, true)}\n`);
const RETRIABLE = new Set(["FAILED", "CRASHED", "CANCELLED"]);

interface RetryOpts {
  from?: string;
  dryRun?: boolean;
  param: string[];
  state?: string;
  since?: string;
  logLevel?: string;
  color: boolean;
  json?: boolean;
}

export function registerRetryCommand(runs: Command): void {
  runs
    .command("retry")
    .description("Re-run a finished flow run in place (run count + 1), reusing the results of the task calls that completed")
    .argument("[run]", "a flow run's id, unique id prefix or name")
    .option("--from <task>", "re-run this task's calls and every call started after the first of them")
    .option("--dry-run", "list the earlier calls a retry would reuse and those it would run; run nothing")
    .option("-p, --param <key=value>", "override a parameter (calls whose inputs change are not reused; repeatable)", (v: string, prev: string[]) => [...prev, v], [])
    .option("--state <states>", "without RUN: retry every top-level flow run in these states (Failed, Crashed, Cancelled, TimedOut…)")
    .option("--since <duration>", "without RUN: only runs created within this time (30m, 1h, 2d…)")
    .option("--log-level <level>", `lowest level shown (${LOG_LEVELS.join(", ")})`)
    .option("--no-color", "plain log lines, no colors")
    .option("--json", "print the flow run's result as JSON on stdout")
    .addHelpText(
      "after",
      "\nA call is reused when an earlier run of the same task (task key) with the same inputs, and the same\noccurrence (the n-th call with those inputs), completed and its result was kept (PREFECT_RESULTS_KEEP_FOR_RETRY).\nExit codes: 0 completed (or --dry-run), 1 failed/crashed/cancelled, 2 bad input or a run that cannot be retried.",
    )
    .action(action((run: string | undefined, opts: RetryOpts) => (run === undefined ? retryMany(opts) : retryOne(run, opts))));
}

export interface PreparedRetry {
  row: FlowRunRow;
  resume: ResumedRun;
  plan: RetryPlan;
  /** the run's parameters, then `--params` over them, as one `--params` JSON text (`--param`s go over that) */
  paramsWith(params: string | undefined): string;
}

/** Look the run up and work out what its retry reuses. The store must be open. */
/**
 * Secret parameters are stored as '********': a retry cannot know them, so each must be given
 * again (`--param` or `--params`) rather than run with the mask.
 */
export function checkRedactedParams(row: FlowRunRow, given: { param: string[]; params?: string | undefined }): void {
  let stored: Record<string, unknown>;
  try {
    stored = JSON.parse(row.parameters) as Record<string, unknown>;
  } catch {
    return;
  }
  const names = new Set(given.param.map((p) => p.slice(0, p.indexOf("=")).trim()));
  if (given.params !== undefined) {
    try {
      for (const k of Object.keys(JSON.parse(given.params) as object)) names.add(k);
    } catch {
      // reported by the parameter binding
    }
  }
  const missing = Object.keys(stored).filter((k) => stored[k] === REDACTED && !names.has(k));
  if (missing.length > 0) {
    throw new UsageError(
      `Flow run '${row.name}' has secret parameter${missing.length > 1 ? "s" : ""} ${missing.map((k) => `'${k}'`).join(", ")}, stored only as '${REDACTED}': give ${missing.length > 1 ? "them" : "it"} again with --param ${missing[0]}=…`,
    );
  }
}

export async function prepareRetry(
  ref: string,
  opts: { bySource?: boolean; from?: string | undefined; anyFinalState?: boolean },
): Promise<PreparedRetry> {
  const store = await getStore();
  const row = await findFlowRun(store, ref);
  if (row.parentFlowRunId !== null) {
    const parent = await store.getFlowRun(row.parentFlowRunId);
    throw new UsageError(`Flow run '${row.name}' is a subflow run; retry its top-level flow run${parent ? ` '${parent.name}' (${parent.id})` : ""}.`);
  }
  const final = RETRIABLE.has(row.stateType) || (opts.anyFinalState && row.stateType === "COMPLETED");
  if (!final) {
    const why = row.stateType === "COMPLETED" ? "it completed; there is nothing to retry" : `it is ${row.stateName}, not finished`;
    throw new UsageError(`Flow run '${row.name}' cannot be retried: ${why}.`);
  }
  let plan: RetryPlan;
  try {
    plan = await buildRetryPlan(store, row, { bySource: opts.bySource, from: opts.from, storagePath: resolve(getSettings().PREFECT_LOCAL_STORAGE_PATH) });
  } catch (err) {
    if (isFlowctlError(err, "INVALID_ARGUMENT")) throw new UsageError(err.message);
    throw err;
  }
  const counters = new Map<string, number>();
  for (const t of await store.listTaskRuns({ flowRunId: row.id, limit: 10_000_000 })) counters.set(t.taskKey, (counters.get(t.taskKey) ?? 0) + 1);
  return {
    row,
    plan,
    paramsWith: (params) => {
      if (params === undefined) return row.parameters;
      let extra: unknown;
      try {
        extra = JSON.parse(params);
      } catch (err) {
        throw new UsageError(`--params is not valid JSON: ${(err as Error).message}`);
      }
      return JSON.stringify({ ...(JSON.parse(row.parameters) as object), ...(extra as object) });
    },
    resume: {
      id: row.id,
      name: row.name,
      created: row.created,
      startTime: row.startTime,
      runCount: row.runCount,
      stateCount: (await store.getStates(row.id)).length,
      taskCounters: counters,
    },
  };
}

async function retryOne(ref: string, opts: RetryOpts): Promise<number> {
  if (opts.state !== undefined || opts.since !== undefined) throw new UsageError("--state and --since select runs to retry; give them without RUN");
  readParamOptions({ param: opts.param }); // syntax errors first
  applyLoggingOptions(opts);
  settingsOrUsageError();
  await openStoreOrUsageError();
  const prepared = await prepareRetry(ref, { from: opts.from });
  const { row } = prepared;
  if (!row.entrypoint) {
    throw new UsageError(`Flow run '${row.name}' was not started by 'flowctl run', so its file is unknown; retry it with 'flowctl run FILE --retry-of ${row.id}'.`);
  }
  if (opts.dryRun) return dryRun(prepared);
  checkRedactedParams(row, { param: opts.param });
  installPrintCapture();
  const { def } = await loadRunTarget(row.entrypoint);
  const call = await bindCliParameters(def, { param: opts.param, params: row.parameters });
  return executeFlow(def, call, { entrypoint: row.entrypoint, resume: prepared.resume, reuse: prepared.plan }, opts);
}

function dryRun({ row, plan }: PreparedRetry): number {
  const calls = plan.preview();
  const reused = calls.filter((c) => c.reuse).length;
  out(`Retry of flow run '${row.name}' (${row.id}), run count ${row.runCount} → ${row.runCount + 1}:`);
  for (const c of calls) out(`  ${c.reuse ? "reuse" : "run  "}  ${c.taskRunName.padEnd(24)} ${c.detail}`);
  out(`${reused} of ${calls.length} earlier task calls would be reused; the others, and calls the earlier run never made, would run.`);
  return EXIT.OK;
}

/** `--state`/`--since` without RUN: each matching top-level run in turn, oldest first, each in a process of its own. */
async function retryMany(opts: RetryOpts): Promise<number> {
  if (opts.state === undefined && opts.since === undefined) throw new UsageError("Give a flow run to retry, or --state/--since to pick several.");
  const states = stateOption(opts.state ?? "FAILED,CRASHED,CANCELLED");
  const since = opts.since === undefined ? undefined : Date.now() - parseDuration(opts.since, "--since");
  const store = await openStore();
  const runs = (await store.listFlowRuns({ state: states, since, parentFlowRunId: null, limit: 10_000 })).reverse();
  if (runs.length === 0) {
    out("No flow runs to retry.");
    return EXIT.OK;
  }
  const pass: string[] = [];
  if (opts.from !== undefined) pass.push("--from", opts.from);
  if (opts.dryRun) pass.push("--dry-run");
  for (const p of opts.param) pass.push("--param", p);
  if (opts.logLevel !== undefined) pass.push("--log-level", opts.logLevel);
  if (!opts.color) pass.push("--no-color");
  let failed = 0;
  for (const r of runs) {
    process.stderr.write(`flowctl: retrying flow run '${r.name}' (${r.id}, ${r.stateName}, created ${formatStart(r.created)})\n`);
    const code = await new Promise<number>((done) => {
      const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, "runs", "retry", r.id, ...pass], { stdio: "inherit" });
      child.on("error", () => done(EXIT.FAILED));
      child.on("close", (c) => done(c ?? EXIT.FAILED));
    });
    if (code !== EXIT.OK) failed++;
  }
  out(`Retried ${runs.length} flow run${runs.length === 1 ? "" : "s"}: ${runs.length - failed} completed, ${failed} did not.`);
  return failed === 0 ? EXIT.OK : EXIT.FAILED;
}
