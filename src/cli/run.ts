/** `flowctl run FILE[:FLOW]`: load a workflow file and run one of its flows. */
import { checkJunitPath, writeCiReports } from "./ci-reports.ts";
import type { Command } from "commander";
import { relative, resolve } from "node:path";
import { runFlow, interruptActiveFlowRuns, endActiveRunsNow, activeFlowRuns, type RunFlowOptions } from "../engine/flow-engine.ts";
import type { PreparedFlowCall } from "../engine/flow-call.ts";
import { nestingError } from "../engine/nesting.ts";
import { engineLogger } from "../logging/logger.ts";
import { installPrintCapture } from "../logging/prints.ts";
import { LOG_LEVELS } from "../settings/schema.ts";
import { storeWriter } from "../store/writer.ts";
import { describeError, errorToData } from "../errors.ts";
import type { FlowRunRecord } from "../engine/run-records.ts";
import { toJsonText } from "../engine/json-text.ts";
import type { State } from "../engine/states.ts";
import { getStore } from "../store/index.ts";
import { flowRunView, taskCountsOf } from "../server/run-views.ts";
import { flowRunJson, printJson, type FlowRunJson } from "./json.ts";
import { action, applyLoggingOptions, EXIT, openStoreOrUsageError, settingsOrUsageError } from "./util.ts";
import { exitAfterDraining, exitNow } from "./exit.ts";
import { UsageError } from "../errors.ts";
import { inspectFile } from "./inspect.ts";
import { bindCliParameters, readParamOptions } from "./params.ts";
import { findFlows, loadWorkflowModule, pickFlow, splitTarget } from "./loader.ts";
import type { FlowDefinition } from "../engine/flow-definition.ts";

interface RunOpts {
  param: string[];
  params?: string;
  logLevel?: string;
  color: boolean;
  json?: boolean;
  help?: boolean;
  retryOf?: string;
  junit?: string;
}

export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("Run a flow from a workflow file (TypeScript or JavaScript)")
    .argument("[target]", "FILE or FILE:FLOW (a flow name or export name)")
    .helpOption(false)
    .option("-h, --help", "show this help; with FILE, list the file's flows and their parameters")
    .option("-p, --param <key=value>", "a flow parameter; the value is parsed as JSON when it is valid JSON (repeatable)", collect, [])
    .option("--params <json>", "all flow parameters as one JSON object")
    .option("--log-level <level>", `lowest level shown (${LOG_LEVELS.join(", ")})`)
    .option("--no-color", "plain log lines, no colors")
    .option("--json", "print the flow run's result as JSON on stdout")
    .option("--junit <file>", "write a JUnit XML report of the run to FILE (one test case per task run)")
    .option("--retry-of <run>", "retry this earlier flow run with the flow from FILE: the same run, run count + 1, its parameters (--param overrides); completed task calls whose task source and inputs are unchanged are reused")
    .addHelpText("after", "\nExit codes: 0 completed, 1 failed/crashed/cancelled, 2 bad input, 129 hung up (SIGHUP), 130 interrupted (SIGINT), 143 terminated (SIGTERM).")
    .action(action((target: string | undefined, opts: RunOpts, cmd: Command) => {
      if (opts.help && target !== undefined) return inspectFile(target, { json: opts.json });
      if (opts.help) {
        cmd.outputHelp();
        return EXIT.OK;
      }
      if (target === undefined) throw new UsageError("missing required argument 'target'");
      return runCommand(target, opts);
    }));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * `FILE[:FLOW]` → the flow to run. Usage errors (no such file, no flow) throw a UsageError.
 * The test harness's `runFile` goes through here too.
 */
export async function loadRunTarget(target: string): Promise<{ def: FlowDefinition; entrypoint: string }> {
  const { file, flowName } = splitTarget(target);
  const shown = relative(process.cwd(), resolve(file)) || file;
  const mod = await loadWorkflowModule(file);
  const found = pickFlow(findFlows(mod), flowName, shown);
  // recorded with the run: what `flowctl runs retry` loads
  return { def: found.def, entrypoint: `${resolve(file)}:${found.def.name}` };
}

async function runCommand(target: string, opts: RunOpts): Promise<number> {
  const paramOpts = { param: opts.param, params: opts.params };
  readParamOptions(paramOpts); // syntax errors first, before loading anything
  checkJunitPath(opts.junit);
  applyLoggingOptions(opts);
  settingsOrUsageError();
  installPrintCapture();
  const { def, entrypoint } = await loadRunTarget(target);
  if (opts.retryOf !== undefined) {
    await openStoreOrUsageError();
    const { checkRedactedParams, prepareRetry } = await import("./retry.ts");
    const retry = await prepareRetry(opts.retryOf, { bySource: true, anyFinalState: true });
    checkRedactedParams(retry.row, { param: opts.param, params: opts.params });
    const call = await bindCliParameters(def, { param: opts.param, params: retry.paramsWith(opts.params) });
    return executeFlow(def, call, { entrypoint, resume: retry.resume, reuse: retry.plan }, opts);
  }
  const call = await bindCliParameters(def, paramOpts);

  // only now, with every usage, loading and parameter error behind us: an exit 2 writes nothing
  await openStoreOrUsageError();
  return executeFlow(def, call, { entrypoint }, opts);
}

/**
 * Run a loaded flow as the process's one top-level flow run: signals, stray errors, the final
 * flush and `--json` output; the exit code.
 */
export async function executeFlow(def: FlowDefinition, call: PreparedFlowCall, flowOpts: RunFlowOptions, opts: { json?: boolean | undefined; junit?: string | undefined }): Promise<number> {
  let interruptedBy: "SIGINT" | "SIGTERM" | "SIGHUP" | undefined;
  const onSignal = (signal: "SIGINT" | "SIGTERM" | "SIGHUP") => {
    if (interruptedBy === "SIGINT" && signal === "SIGINT") {
      // a second Ctrl-C: leave now, keeping what was recorded (the runs end Cancelled)
      endActiveRunsNow("CANCELLED", "Flow run was cancelled by a second SIGINT (interrupt): the process did not wait for it to wind down.");
      exitNow(EXIT.SIGINT);
      return;
    }
    if (interruptedBy) return;
    interruptedBy = signal;
    process.stderr.write(`\nflowctl: received ${signal}; ${signal === "SIGINT" ? "cancelling" : "stopping"} the flow run...\n`);
    // SIGHUP (the terminal went away) ends the runs as SIGTERM does, naming the signal
    void interruptActiveFlowRuns(signal);
  };
  const onInt = () => onSignal("SIGINT");
  const onTerm = () => onSignal("SIGTERM");
  const onHup = () => onSignal("SIGHUP");
  // `process.exit()` from workflow code would end the process with the runs still Running and
  // (for exit(0)) a success code: the runs end Crashed naming the call, what was recorded is
  // written, and the process exits non-zero.
  const userExit = process.exit;
  const exitFromWorkflow = ((code?: number | string | null) => {
    const n = code === undefined || code === null || code === "" ? 0 : Number(code);
    engineLogger.critical(`Workflow code called process.exit(${code ?? ""}): the flow run did not finish`);
    endActiveRunsNow("CRASHED", `Flow run crashed: workflow code called process.exit(${code ?? ""}).`);
    storeWriter.finishSync();
    process.exitCode = n === 0 || !Number.isFinite(n) ? EXIT.FAILED : n;
    return userExit.call(process, process.exitCode);
  }) as typeof process.exit;
  // the process ends some other way while runs are active (the loop emptied, reallyExit): same
  const onExit = () => {
    if (activeFlowRuns.size === 0) return;
    endActiveRunsNow("CRASHED", "Flow run crashed: the process exited before the flow run finished.");
    storeWriter.finishSync();
    if (!process.exitCode) process.exitCode = EXIT.FAILED;
  };
  // Stray errors from user code (a callback that throws, a promise nobody awaits) must not
  // take the run history with them: rejections are logged; an uncaught exception ends the
  // active runs Crashed, flushes the store and exits 1.
  const onRejection = (reason: unknown) => {
    engineLogger.error(`Unhandled promise rejection in workflow code: ${describeError(reason)}`);
  };
  const onException = (err: unknown) => {
    engineLogger.critical(`Uncaught exception in workflow code: ${(err as Error)?.stack ?? describeError(err)}`);
    const timer = setTimeout(() => exitNow(EXIT.FAILED), 5000);
    timer.unref();
    void interruptActiveFlowRuns("CRASH", err).then(() => exitAfterDraining(EXIT.FAILED));
  };
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  process.on("SIGHUP", onHup);
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  process.on("exit", onExit);
  process.exit = exitFromWorkflow;
  try {
    const { run, state } = await runFlow(def, undefined, call.args, { ...flowOpts, prepared: call });
    // a store that does not answer (PostgreSQL restarting) is retried a few seconds; what it
    // still cannot take waits in the journal (one line says so): the exit code is the flow's
    await storeWriter.settle();
    // GITHUB_STEP_SUMMARY and --junit: reports for CI, read back from the store
    await writeCiReports(run.id, opts);
    if (opts.json) printJson(await runJson(run, state));
    // runs nested too deep: said once, as the error it is (each level ended logging it at DEBUG)
    const tooDeep = state.type === "COMPLETED" ? undefined : nestingError(state.error);
    if (tooDeep) process.stderr.write(`flowctl: error: ${tooDeep.message}\n`);
    if (interruptedBy) return EXIT[interruptedBy];
    // rows that could be written neither to the store nor to the journal (a full disk): said as an error
    if (storeWriter.unrecorded) return EXIT.FAILED;
    return state.type === "COMPLETED" ? EXIT.OK : EXIT.FAILED;
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    process.off("SIGHUP", onHup);
    process.off("unhandledRejection", onRejection);
    process.off("uncaughtException", onException);
    process.off("exit", onExit);
    if (process.exit === exitFromWorkflow) process.exit = userExit;
    // The run is over; reports and output are left (stdout may drain slowly into a pipe). A
    // signal now — a second Ctrl-C after the run wound down, say — ends the process at once
    // with that signal's exit code, what was recorded written, not by the signal's default
    // action (no exit code at all).
    process.on("SIGINT", () => exitNow(EXIT.SIGINT));
    process.on("SIGTERM", () => exitNow(EXIT.SIGTERM));
    process.on("SIGHUP", () => exitNow(EXIT.SIGHUP));
  }
}

/**
 * `run --json`: the flow run as `runs ls --json` and `runs inspect --json` give it (read back
 * from the store, so the three agree), with its `result` or its `error`.
 */
async function runJson(run: FlowRunRecord, state: State): Promise<FlowRunJson & { result?: unknown; error?: unknown }> {
  let shape: FlowRunJson;
  try {
    const store = await getStore();
    const row = await store.getFlowRun(run.id);
    if (!row || row.id !== run.id) throw new Error("not in the store");
    // counts of every task run, however many (one indexed query), not of the first 10,000 read whole
    shape = flowRunJson(flowRunView(row), await taskCountsOf(store, row.id));
  } catch {
    // the store could not be read back (its rows are journalled): the record in memory
    shape = flowRunJson(flowRunView(run.toRow()));
  }
  if (state.type === "COMPLETED") return { ...shape, result: JSON.parse(toJsonText(state.data)) as unknown };
  return state.error ? { ...shape, error: errorToData(state.error) } : shape;
}
