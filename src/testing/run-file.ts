/**
 * `h.runFile("workflows/etl.ts", { params })`: what `flowctl run` does with a workflow file —
 * load it, pick the flow, check the parameters, run it, map the end to an exit code — inside a
 * harness, returning what the command would have printed instead of printing it.
 */
import { loadRunTarget } from "../cli/run.ts";
import { bindObjectParameters } from "../cli/params.ts";
import { UsageError, coerceError } from "../errors.ts";
import { runFlow } from "../engine/flow-engine.ts";
import type { State } from "../engine/states.ts";
import { formatPlain } from "../logging/format.ts";
import type { LogHub, LogSink } from "../logging/logger.ts";

export interface RunFileOptions {
  /** the flow's parameters, as `--params '{…}'` would give them */
  params?: Record<string, unknown>;
  /** which flow of the file (like `FILE:FLOW`), when it exports several */
  flow?: string;
}

export interface RunFileResult {
  /** what `flowctl run` exits with: 0 Completed, 1 Failed/Crashed/Cancelled, 2 usage or loading errors */
  exitCode: number;
  /** the flow run's final state (undefined when it never started: exit code 2) */
  state: State | undefined;
  /** the flow run's id */
  flowRunId: string | undefined;
  /** the lines `flowctl run` prints (plain, without colors), joined with newlines */
  output: string;
  /** the usage error, for exit code 2 */
  error: Error | undefined;
}

const USAGE = ["USAGE", "LOAD_ERROR", "CONFIG_ERROR", "INVALID_OPTION", "INVALID_ARGUMENT", "INVALID_PARAMETERS"];

/** Run inside the harness's context (the caller enters it). */
export async function runFileHere(hub: LogHub, file: string, opts: RunFileOptions = {}): Promise<RunFileResult> {
  const lines: string[] = [];
  const sink: LogSink = { write: (rec) => lines.push(formatPlain(rec)) };
  hub.extraSinks.push(sink);
  try {
    const params = opts.params ?? {};
    if (typeof params !== "object" || params === null || Array.isArray(params)) {
      throw new UsageError(`runFile: params must be an object like { key: value }, got ${Array.isArray(params) ? "an array" : typeof params}`);
    }
    const target = opts.flow === undefined ? file : `${file}:${opts.flow}`;
    const { def, entrypoint } = await loadRunTarget(target);
    const call = await bindObjectParameters(def, params);
    const { run, state } = await runFlow(def, undefined, call.args, { prepared: call, entrypoint });
    return { exitCode: state.type === "COMPLETED" ? 0 : 1, state, flowRunId: run.id, output: lines.join("\n"), error: undefined };
  } catch (err) {
    const e = coerceError(err);
    const usage = USAGE.includes((e as { code?: string }).code ?? "");
    lines.push(`flowctl: error: ${e.message.split("\n")[0]}`);
    return { exitCode: usage ? 2 : 1, state: undefined, flowRunId: undefined, output: lines.join("\n"), error: e };
  } finally {
    hub.extraSinks.splice(hub.extraSinks.indexOf(sink), 1);
  }
}
