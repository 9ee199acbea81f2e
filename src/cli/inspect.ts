/**
 * `flowctl inspect FILE[:FLOW]` (also `flowctl run FILE --help`): a workflow file's flows and
 * each one's parameters — name, type, default, description — from the `params` schema when
 * there is one, else from the function's own parameter list (types are not known at run time
 * there; a literal default's type is shown).
 */
import type { Command } from "commander";
import { relative, resolve } from "node:path";
import { declaredParameters } from "../engine/flow-call.ts";
import { acceptsDate } from "../engine/param-schema.ts";
import { sanitize } from "../logging/sanitize.ts";
import { findFlows, loadWorkflowModule, pickFlow, splitTarget, type FoundFlow } from "./loader.ts";
import { table } from "./runs.ts";
import { action, EXIT } from "./util.ts";
import { printJson } from "./json.ts";

export interface ParameterDescription {
  name: string;
  type: string;
  required: boolean;
  /** absent when there is none */
  default?: unknown;
  description: string | null;
}

export interface FlowDescription {
  name: string;
  exportName: string;
  description: string | null;
  /** how `--param`s are bound: one object (schema, destructured) or one argument each */
  style: "schema" | "object" | "positional";
  /** false when the flow accepts any name (`...rest`) */
  closed: boolean;
  parameters: ParameterDescription[];
}

export function registerInspectCommand(program: Command): void {
  program
    .command("inspect")
    .description("List a workflow file's flows and their parameters (name, type, default, description)")
    .argument("<target>", "FILE or FILE:FLOW")
    .option("--json", "print a JSON object on stdout")
    .action(action((target: string, opts: { json?: boolean }) => inspectFile(target, opts)));
}

export async function inspectFile(target: string, opts: { json?: boolean }): Promise<number> {
  const { file, flowName } = splitTarget(target);
  const shown = relative(process.cwd(), resolve(file)) || file;
  const mod = await loadWorkflowModule(file);
  const all = findFlows(mod);
  const flows = flowName === undefined ? (pickFlowsOrAll(all, shown)) : [pickFlow(all, flowName, shown)];
  const described = await Promise.all(flows.map(describeFlow));
  if (opts.json) {
    printJson({ file: shown, flows: described });
    return EXIT.OK;
  }
  const out: string[] = [`Flows in ${sanitize(shown)}:`];
  for (const f of described) {
    out.push("");
    out.push(`${sanitize(f.name)}${f.exportName !== f.name ? ` (export ${sanitize(f.exportName)})` : ""}${f.description ? ` — ${sanitize(f.description)}` : ""}`);
    out.push(`  flowctl run ${sanitize(shown)}${described.length > 1 || flowName ? `:${sanitize(f.name)}` : ""}${f.parameters.length ? " --param NAME=VALUE ..." : ""}`);
    if (f.parameters.length === 0) {
      out.push(f.closed ? "  No parameters." : "  Any parameter names (the function takes ...rest).");
      continue;
    }
    const t = table(["Parameter", "Type", "Default", "Description"]);
    for (const p of f.parameters) {
      const dflt = "default" in p ? JSON.stringify(p.default) ?? String(p.default) : p.required ? "(required)" : "-";
      t.push([sanitize(p.name), sanitize(p.type), sanitize(dflt), sanitize(p.description ?? "")]);
    }
    out.push(...t.toString().split("\n").map((l) => `  ${l}`));
    if (!f.closed) out.push("  Other names are accepted too.");
  }
  process.stdout.write(out.join("\n") + "\n");
  return EXIT.OK;
}

function pickFlowsOrAll(all: FoundFlow[], shown: string): FoundFlow[] {
  return all.length === 0 ? [pickFlow(all, undefined, shown)] : all;
}

export async function describeFlow(found: FoundFlow): Promise<FlowDescription> {
  const def = found.def;
  const declared = await declaredParameters(def);
  const base = { name: def.name, exportName: found.exportName, description: def.description ?? null, style: declared.style };
  if (declared.style === "schema") {
    const fields = declared.fields ?? [];
    const parameters = await Promise.all(fields.map(async (f): Promise<ParameterDescription> => {
      let type = f.enum ? f.enum.map((v) => JSON.stringify(v)).join(" | ") : f.types.join(" | ");
      if (type === "") type = def.paramsSchema && (await acceptsDate(def.paramsSchema, f.name)) ? "date" : "any";
      const p: ParameterDescription = { name: f.name, type, required: f.required, description: f.description ?? null };
      if (f.hasDefault) p.default = f.default;
      return p;
    }));
    return { ...base, closed: declared.fields !== undefined, parameters };
  }
  const names = declared.names ?? def.params.objectKeys ?? [];
  const parameters = names.map((name): ParameterDescription => {
    const has = declared.defaults.has(name);
    const v = declared.defaults.get(name);
    const type = name === declared.rest ? "array" : has ? (v === null ? "null" : Array.isArray(v) ? "array" : typeof v) : "any";
    const p: ParameterDescription = { name, type, required: false, description: null };
    if (has) p.default = v;
    return p;
  });
  return { ...base, closed: declared.names !== undefined, parameters };
}
