/**
 * Loading a workflow file and finding its flows. Every way a file can fail to load becomes a
 * one-line UsageError (LOAD_ERROR) naming the file, and the line where one is known.
 */
import { accessSync, constants, statSync } from "node:fs";
import { relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describeThrown, UsageError } from "../errors.ts";
import { registerLoaderHooks } from "../loader/hooks.ts";
import { isFlow, type Flow } from "../sdk/flow.ts";
import type { FlowDefinition } from "../engine/flow-definition.ts";

export interface FoundFlow {
  exportName: string;
  flow: Flow;
  def: FlowDefinition;
}

/** `file.ts:flowName` → ["file.ts", "flowName"]; a path that exists as given wins. */
export function splitTarget(target: string): { file: string; flowName: string | undefined } {
  const i = target.lastIndexOf(":");
  if (i > 1 && !target.slice(i + 1).includes("/") && !exists(target)) {
    return { file: target.slice(0, i), flowName: target.slice(i + 1) || undefined };
  }
  return { file: target, flowName: undefined };
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

export async function loadWorkflowModule(file: string): Promise<Record<string, unknown>> {
  const abs = resolve(file);
  const shown = relative(process.cwd(), abs) || abs;
  let st;
  try {
    st = statSync(abs);
  } catch {
    throw new UsageError(`No such file: ${shown}`, "LOAD_ERROR");
  }
  if (st.isDirectory()) throw new UsageError(`${shown} is a directory, not a workflow file`, "LOAD_ERROR");
  if (!/\.(m?ts|m?js|cts|cjs|tsx|jsx)$/.test(abs)) {
    throw new UsageError(`${shown} is not a workflow file: expected .ts, .mts, .js or .mjs`, "LOAD_ERROR");
  }
  try {
    accessSync(abs, constants.R_OK);
  } catch {
    throw new UsageError(`Cannot read ${shown}: permission denied`, "LOAD_ERROR");
  }
  // flowctl's own modules load first, straight from disk: once the hooks are in, every import
  // takes a round trip to the hooks thread, and the workflow's `import "flowctl"` finds them loaded
  await import("../index.ts");
  await registerLoaderHooks();
  try {
    return (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(describeLoadError(err, abs, shown), "LOAD_ERROR", { cause: err });
  }
}

function describeLoadError(err: unknown, abs: string, shown: string): string {
  const e = err as Error & { code?: string; errors?: { text: string; location?: { file: string; line: number; column: number } }[] };
  // esbuild (through tsx) reports syntax and type-stripping errors with their locations
  const first = e?.errors?.[0];
  if (first?.location) {
    return `Syntax error in ${shown}:${first.location.line}:${first.location.column + 1}: ${first.text}`;
  }
  const msg = String(e?.message ?? e);
  const loc = /(\S+\.(?:m?ts|m?js|tsx|jsx)):(\d+):(\d+):\s*ERROR:\s*(.*)/.exec(msg);
  if (loc) return `Syntax error in ${relative(process.cwd(), loc[1]!) || loc[1]}:${loc[2]}:${Number(loc[3]) + 1}: ${loc[4]}`;
  if (e instanceof SyntaxError) {
    const line = stackLine(e, abs);
    return `Syntax error in ${shown}${line ? `:${line}` : ""}: ${msg}`;
  }
  if (e?.code === "ERR_MODULE_NOT_FOUND" || e?.code === "MODULE_NOT_FOUND") {
    return `Cannot load ${shown}: ${msg.split("\n")[0]}`;
  }
  if (!(err instanceof Error)) return `Loading ${shown} failed: it threw ${describeThrown(err)}`;
  const line = stackLine(e, abs);
  return `Loading ${shown}${line ? `:${line}` : ""} failed: ${e?.name ?? "Error"}: ${msg.split("\n")[0]}`;
}

function stackLine(e: Error, abs: string): string | undefined {
  const href = pathToFileURL(abs).href;
  for (const l of String(e?.stack ?? "").split("\n")) {
    const i = l.indexOf(href);
    const j = i >= 0 ? i + href.length : l.indexOf(abs) >= 0 ? l.indexOf(abs) + abs.length : -1;
    if (j >= 0) {
      const m = /^:(\d+)/.exec(l.slice(j));
      if (m) return m[1];
    }
  }
  return undefined;
}

export function findFlows(mod: Record<string, unknown>): FoundFlow[] {
  const seen = new Set<unknown>();
  const out: FoundFlow[] = [];
  for (const [exportName, value] of Object.entries(mod)) {
    if (!isFlow(value) || seen.has(value)) continue;
    seen.add(value);
    out.push({ exportName, flow: value, def: (value as unknown as { definition: FlowDefinition }).definition });
  }
  return out;
}

export function pickFlow(flows: FoundFlow[], wanted: string | undefined, shown: string): FoundFlow {
  const list = () => flows.map((f) => (f.exportName === f.def.name ? f.def.name : `${f.def.name} (export ${f.exportName})`)).join(", ");
  if (flows.length === 0) throw new UsageError(`No flow exported from ${shown}: export a flow, e.g. export const myFlow = flow(...)`, "LOAD_ERROR");
  if (wanted === undefined) {
    if (flows.length > 1) {
      throw new UsageError(`${shown} exports several flows (${list()}); name one: flowctl run ${shown}:FLOW`, "USAGE");
    }
    return flows[0]!;
  }
  const hit = flows.find((f) => f.def.name === wanted || f.exportName === wanted);
  if (!hit) throw new UsageError(`No flow named '${wanted}' in ${shown}; its flows: ${list()}`, "USAGE");
  return hit;
}
