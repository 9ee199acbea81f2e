/**
 * `--param name=value` and `--params JSON` → the flow call's arguments.
 *
 * Without a schema a `--param` value is JSON when it parses as JSON, else the string itself.
 * With a `params` schema it is coerced by the field's declared type (read from the schema's
 * JSON Schema, see engine/param-schema.ts): a string field keeps the text as given (`1.10`
 * stays "1.10"); number, integer, boolean and null fields parse it; array and object fields
 * take JSON. A field whose type the JSON Schema cannot say (a Date), or a schema without a
 * JSON Schema at all, gets candidates tried against the schema in turn: the text, its JSON
 * value, a Date. Unknown and forbidden names, coercion and schema problems are reported
 * together in one ParameterError (exit 2) before anything runs or is written.
 */
import { ParameterError, UsageError, type ParameterProblem } from "../errors.ts";
import {
  argsFromNamed, declaredParameters, FORBIDDEN_NAMES, prepareFlowCall, unknownName,
  type PreparedFlowCall,
} from "../engine/flow-call.ts";
import type { FlowDefinition } from "../engine/flow-definition.ts";
import { validateWithSchema, type ParamsSchema, type SchemaField } from "../engine/param-schema.ts";

/** A value from the command line: `--param` text (still to be typed) or a `--params` JSON value. */
type Given = { text: string } | { json: unknown };

export interface ParamOptions {
  param: string[];
  params?: string | undefined;
}

/** Deepest nesting of a `--params`/`--param` JSON value accepted (deeper is refused before anything runs). */
export const MAX_PARAMS_DEPTH = 100;

function checkDepth(what: string, value: unknown): void {
  if (nestingDepth(value, MAX_PARAMS_DEPTH) > MAX_PARAMS_DEPTH) {
    throw new UsageError(`${what} is nested more than ${MAX_PARAMS_DEPTH} levels deep; flatten it`);
  }
}

/** Levels of arrays/objects in a parsed JSON value, counted without recursion, stopping past `limit`. */
function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    const level = d + 1;
    if (level > deepest) deepest = level;
    if (deepest > limit) return deepest;
    for (const x of Object.values(v)) stack.push([x, level]);
  }
  return deepest;
}

/** Read `--params` then `--param`s (later ones win). Syntax errors are usage errors. */
export function readParamOptions(opts: ParamOptions): Map<string, Given> {
  const out = new Map<string, Given>();
  if (opts.params !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(opts.params);
    } catch (err) {
      throw new UsageError(`--params is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new UsageError(`--params must be a JSON object like '{"key": 1}', got ${Array.isArray(parsed) ? "an array" : parsed === null ? "null" : typeof parsed}`);
    }
    checkDepth("--params", parsed);
    // JSON.parse makes `__proto__` an own key: read keys without ever assigning through it
    for (const key of Object.keys(parsed)) out.set(key, { json: (parsed as Record<string, unknown>)[key] });
  }
  for (const p of opts.param) {
    const i = p.indexOf("=");
    if (i <= 0) throw new UsageError(`--param expects key=value, got '${p}'`);
    const text = p.slice(i + 1);
    if (/^\s*[[{]/.test(text)) {
      try {
        checkDepth(`--param ${p.slice(0, i).trim()}`, JSON.parse(text));
      } catch (err) {
        if (err instanceof UsageError) throw err;
        // not JSON: typed later
      }
    }
    out.set(p.slice(0, i).trim(), { text });
  }
  return out;
}

/** The command line's parameters, bound and checked for this flow. */
export function bindCliParameters(def: FlowDefinition, opts: ParamOptions): Promise<PreparedFlowCall> {
  return bindGiven(def, readParamOptions(opts));
}

/** Named values given as data (as `--params` would give them), bound and checked for this flow. */
export function bindObjectParameters(def: FlowDefinition, values: Record<string, unknown>): Promise<PreparedFlowCall> {
  const given = new Map<string, Given>();
  for (const key of Object.keys(values)) given.set(key, { json: values[key] });
  return bindGiven(def, given);
}

async function bindGiven(def: FlowDefinition, given: Map<string, Given>): Promise<PreparedFlowCall> {
  const declared = await declaredParameters(def);
  const problems: ParameterProblem[] = [];
  const accepted = new Map<string, Given>();
  for (const [name, g] of given) {
    if (FORBIDDEN_NAMES.includes(name)) problems.push({ field: name, message: `'${name}' is not allowed as a parameter name` });
    else if (declared.names !== undefined && !declared.names.includes(name)) problems.push(unknownName(def, name, declared.names));
    else accepted.set(name, g);
  }
  for (const [name, g] of accepted) {
    if ("json" in g && hasProtoKey(g.json)) problems.push({ field: name, message: "'__proto__' is not allowed as a key" });
  }

  if (def.paramsSchema) {
    const values = await coerceForSchema(def.paramsSchema, declared.fields, accepted);
    const result = await validateWithSchema(def.paramsSchema, values);
    if (!result.ok) problems.push(...result.problems.map((p) => withText(p, accepted)));
    if (!result.ok || problems.length > 0) throw new ParameterError(def.name, problems);
    return { args: [result.value], parameters: { ...result.value } };
  }

  if (problems.length > 0) throw new ParameterError(def.name, problems);
  const named: Record<string, unknown> = {};
  for (const [name, g] of accepted) named[name] = "json" in g ? g.json : jsonOrString(g.text);
  return prepareFlowCall(def, argsFromNamed(declared, named));
}

/** `--param` text as received, in a problem about it (clearer than its coerced value). */
function withText(p: ParameterProblem, accepted: Map<string, Given>): ParameterProblem {
  const g = accepted.get(p.field);
  return g && "text" in g ? { ...p, received: g.text } : p;
}

function hasProtoKey(v: unknown, depth = 0): boolean {
  if (typeof v !== "object" || v === null || depth > 50) return false;
  if (!Array.isArray(v) && Object.prototype.hasOwnProperty.call(v, "__proto__")) return true;
  return Object.values(v).some((x) => hasProtoKey(x, depth + 1));
}

export function jsonOrString(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Type `--param` text by a field's JSON Schema types; `undefined` types → no opinion. */
export function coerceText(text: string, types: readonly string[]): unknown {
  if (types.includes("string")) return text;
  const t = text.trim();
  for (const type of types) {
    if ((type === "number" || type === "integer") && NUMBER.test(t)) return Number(t);
    if (type === "boolean" && /^(true|false)$/i.test(t)) return t.toLowerCase() === "true";
    if (type === "null" && t === "null") return null;
    if (type === "array" || type === "object") {
      const v = jsonOrString(t);
      if (type === "array" ? Array.isArray(v) : typeof v === "object" && v !== null && !Array.isArray(v)) return v;
    }
  }
  return jsonOrString(text);
}

/** Candidate values for text whose type is not known, most literal first. */
function candidates(text: string): unknown[] {
  const out: unknown[] = [text];
  const json = jsonOrString(text);
  if (json !== text) out.push(json);
  if (/^\d{4}-\d\d-\d\d/.test(text.trim()) && !Number.isNaN(Date.parse(text))) out.push(new Date(text));
  return out;
}

async function coerceForSchema(
  schema: ParamsSchema, fields: SchemaField[] | undefined, given: Map<string, Given>,
): Promise<Record<string, unknown>> {
  const values: Record<string, unknown> = {};
  const untyped: string[] = [];
  for (const [name, g] of given) {
    if ("json" in g) {
      values[name] = g.json;
      continue;
    }
    const types = fields?.find((f) => f.name === name)?.types ?? [];
    if (types.length > 0) values[name] = coerceText(g.text, types);
    else {
      values[name] = g.text;
      untyped.push(name);
    }
  }
  // try each untyped field's candidates until the schema has nothing to say about that field
  for (const name of untyped) {
    const text = (given.get(name) as { text: string }).text;
    let chosen: unknown = jsonOrString(text);
    for (const c of candidates(text)) {
      values[name] = c;
      const r = await validateWithSchema(schema, values);
      if (r.ok || !r.problems.some((p) => p.field === name || p.field.startsWith(`${name}.`))) {
        chosen = c;
        break;
      }
    }
    values[name] = chosen;
  }
  return values;
}
