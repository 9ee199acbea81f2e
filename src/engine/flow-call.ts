/**
 * A flow call's arguments, checked before any run exists: what the function receives and the
 * run's `parameters` (names → values, SPEC §6).
 *
 * - With a `params` schema the flow takes one object; it is validated (every problem at once)
 *   and the function receives the schema's output.
 * - Without one, the function's own parameter list decides: positional names (`add(1, 2)` →
 *   `{ x: 1, y: 2 }`), or the keys of a single destructured object, which are then the only
 *   names accepted (unless the pattern has `...rest`).
 * `__proto__`, `constructor` and `prototype` are never parameter names.
 */
import { ParameterError, type ParameterProblem } from "../errors.ts";
import type { FlowDefinition } from "./flow-definition.ts";
import { bindArgs } from "./parameters.ts";
import { schemaFields, validateWithSchema, type SchemaField } from "./param-schema.ts";

export const FORBIDDEN_NAMES: readonly string[] = ["__proto__", "constructor", "prototype"];

export interface PreparedFlowCall {
  /** what the flow function is called with */
  args: unknown[];
  /** the run's recorded parameters */
  parameters: Record<string, unknown>;
}

/** How `flowctl run` binds `--param name=value` to a flow. */
export interface DeclaredParameters {
  /** `schema`/`object`: one object of named values; `positional`: one argument per name */
  style: "schema" | "object" | "positional";
  /** the names accepted; `undefined` when any name is (a `...rest` pattern, a schema without a JSON Schema) */
  names: string[] | undefined;
  /** the schema's fields, when it has a JSON Schema */
  fields?: SchemaField[] | undefined;
  /** a positional `...rest` parameter: its value is an array spread into the call */
  rest?: string | undefined;
  /** literal defaults read from the function's source */
  defaults: Map<string, unknown>;
}

export async function declaredParameters(def: FlowDefinition): Promise<DeclaredParameters> {
  const spec = def.params;
  if (def.paramsSchema) {
    const fields = await schemaFields(def.paramsSchema);
    return { style: "schema", names: fields?.map((f) => f.name), fields, defaults: new Map() };
  }
  if (spec.objectKeys !== undefined) {
    return { style: "object", names: spec.objectRest ? undefined : spec.objectKeys, defaults: spec.defaults };
  }
  return { style: "positional", names: [...spec.names, ...(spec.rest ? [spec.rest] : [])], rest: spec.rest, defaults: spec.defaults };
}

/** Named values (the command line's) → the call's arguments. */
export function argsFromNamed(declared: DeclaredParameters, named: Record<string, unknown>): unknown[] {
  if (declared.style !== "positional") return Object.keys(named).length > 0 || declared.style === "schema" ? [named] : [];
  const names = declared.names ?? [];
  const args: unknown[] = [];
  for (const n of names) {
    if (n === declared.rest) {
      const v = named[n];
      if (v !== undefined) args.push(...(Array.isArray(v) ? v : [v]));
    } else args.push(Object.prototype.hasOwnProperty.call(named, n) ? named[n] : undefined);
  }
  while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
  return args;
}

/** Check a call's arguments; throws a ParameterError listing every problem. Nothing has run yet. */
export async function prepareFlowCall(def: FlowDefinition, args: readonly unknown[]): Promise<PreparedFlowCall> {
  const problems: ParameterProblem[] = [];
  if (def.paramsSchema) {
    if (args.length > 1) problems.push({ field: "", message: `flow '${def.name}' takes one parameters object, got ${args.length} arguments` });
    const given = args[0] ?? {};
    if (!isPlainObject(given)) {
      problems.push({ field: "", message: "expected one object of named parameters", received: given });
      throw new ParameterError(def.name, problems);
    }
    problems.push(...forbiddenKeys(given));
    if (problems.length === 0) {
      const result = await validateWithSchema(def.paramsSchema, given);
      if (result.ok) return { args: [result.value], parameters: { ...result.value } };
      problems.push(...result.problems);
    }
    throw new ParameterError(def.name, problems);
  }
  const spec = def.params;
  if (spec.objectKeys !== undefined && args[0] !== undefined) {
    const given = args[0];
    if (!isPlainObject(given)) {
      problems.push({ field: "", message: `flow '${def.name}' takes one object of named parameters (${spec.objectKeys.join(", ")})`, received: given });
    } else {
      problems.push(...forbiddenKeys(given));
      if (!spec.objectRest) {
        for (const k of Object.keys(given)) {
          if (!FORBIDDEN_NAMES.includes(k) && !spec.objectKeys.includes(k)) problems.push(unknownName(def, k, spec.objectKeys));
        }
      }
    }
  }
  if (problems.length > 0) throw new ParameterError(def.name, problems);
  return { args: [...args], parameters: bindArgs(spec, args) };
}

export function unknownName(def: FlowDefinition, name: string, known: readonly string[] | undefined): ParameterProblem {
  return {
    field: name,
    message: `flow '${def.name}' has no parameter '${name}'; ${known?.length ? `its parameters: ${known.join(", ")}` : "it takes no parameters"}`,
  };
}

export function forbiddenKeys(o: object): ParameterProblem[] {
  return Reflect.ownKeys(o)
    .filter((k): k is string => typeof k === "string" && FORBIDDEN_NAMES.includes(k))
    .map((k) => ({ field: k, message: `'${k}' is not allowed as a parameter name` }));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
