/**
 * Flow parameter schemas: any Standard Schema (zod, valibot, arktype, …). flowctl depends only
 * on the spec's types; it validates through `schema["~standard"].validate`.
 *
 * Standard Schema has no introspection, so the declared fields (names, JSON types, defaults,
 * descriptions — for `--param` coercion and `flowctl run FILE --help`) come from the schema's
 * JSON Schema when one can be had:
 *   1. the Standard JSON Schema side, `schema["~standard"].jsonSchema.input(...)` (zod ≥ 4.2,
 *      arktype): library-neutral;
 *   2. for valibot, `@valibot/to-json-schema` when it is installed (an optional peer);
 *   3. otherwise none: callers fall back to trying candidate values against the schema.
 * A field the JSON Schema cannot describe (a Date in zod gives `{}`) has no types: callers try
 * candidates for it too.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { ParameterProblem } from "../errors.ts";

export type ParamsSchema = StandardSchemaV1<any, any>;

export interface SchemaField {
  name: string;
  /** JSON Schema types (`string`, `number`, `integer`, `boolean`, `array`, `object`, `null`); empty when unknown */
  types: string[];
  required: boolean;
  hasDefault: boolean;
  default?: unknown;
  description?: string | undefined;
  /** allowed values, when the schema lists them */
  enum?: unknown[] | undefined;
}

export function isStandardSchema(v: unknown): v is ParamsSchema {
  if ((typeof v !== "object" && typeof v !== "function") || v === null) return false;
  const std = (v as { "~standard"?: { validate?: unknown; version?: unknown } })["~standard"];
  return typeof std === "object" && std !== null && typeof std.validate === "function" && std.version === 1;
}

export type Validation = { ok: true; value: Record<string, unknown> } | { ok: false; problems: ParameterProblem[] };

/** Validate `value` against the schema; every issue becomes a problem naming its field. */
export async function validateWithSchema(schema: ParamsSchema, value: Record<string, unknown>): Promise<Validation> {
  let result = schema["~standard"].validate(value);
  if (result instanceof Promise) result = await result;
  if (!result.issues) {
    const out = result.value as unknown;
    if (typeof out !== "object" || out === null || Array.isArray(out)) {
      return { ok: false, problems: [{ field: "", message: "the parameters schema must describe an object (one field per parameter)" }] };
    }
    return { ok: true, value: out as Record<string, unknown> };
  }
  return { ok: false, problems: result.issues.map((issue) => toProblem(issue, value)) };
}

function toProblem(issue: StandardSchemaV1.Issue, input: unknown): ParameterProblem {
  const keys = (issue.path ?? []).map((p) => (typeof p === "object" && p !== null ? p.key : p));
  const problem: ParameterProblem = { field: keys.map(String).join("."), message: issue.message };
  let v: unknown = input;
  for (const k of keys) {
    if (typeof v !== "object" || v === null || !Object.prototype.hasOwnProperty.call(v, k as PropertyKey)) {
      v = undefined;
      break;
    }
    v = (v as Record<PropertyKey, unknown>)[k as PropertyKey];
  }
  if (v !== undefined) problem.received = v;
  return problem;
}

const described = new WeakMap<object, Promise<SchemaField[] | undefined>>();

/** The schema's fields, from its JSON Schema; `undefined` when none can be had. Cached per schema. */
export function schemaFields(schema: ParamsSchema): Promise<SchemaField[] | undefined> {
  let p = described.get(schema);
  if (!p) {
    p = jsonSchemaOf(schema).then((js) => (js ? fieldsOf(js) : undefined));
    described.set(schema, p);
  }
  return p;
}

type JsonSchema = Record<string, unknown>;

async function jsonSchemaOf(schema: ParamsSchema): Promise<JsonSchema | undefined> {
  const std = schema["~standard"] as StandardSchemaV1.Props & {
    jsonSchema?: { input?: (o: { target: string; libraryOptions?: Record<string, unknown> }) => unknown };
  };
  if (typeof std.jsonSchema?.input === "function") {
    try {
      // zod refuses types JSON Schema cannot express (Date) unless told to leave them open
      const js = std.jsonSchema.input({ target: "draft-2020-12", libraryOptions: { unrepresentable: "any" } });
      if (isObject(js)) return js;
    } catch {
      // fall through: no JSON Schema
    }
  }
  if (std.vendor === "valibot") {
    try {
      const mod = (await import("@valibot/to-json-schema")) as { toJsonSchema: (s: unknown, o: unknown) => unknown };
      const js = mod.toJsonSchema(schema, { errorMode: "ignore" });
      if (isObject(js)) return js;
    } catch {
      // the converter is not installed: no JSON Schema
    }
  }
  return undefined;
}

function isObject(v: unknown): v is JsonSchema {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function fieldsOf(js: JsonSchema): SchemaField[] | undefined {
  const root = deref(js, js);
  const props = root.properties;
  if (!isObject(props)) return undefined;
  const required = new Set(Array.isArray(root.required) ? (root.required as string[]) : []);
  return Object.entries(props).map(([name, raw]) => {
    const p = isObject(raw) ? deref(raw, js) : {};
    const field: SchemaField = {
      name,
      types: typesOf(p, js),
      required: required.has(name) && !("default" in p),
      hasDefault: "default" in p,
      description: typeof p.description === "string" ? p.description : undefined,
    };
    if ("default" in p) field.default = p.default;
    const values = Array.isArray(p.enum) ? p.enum : "const" in p ? [p.const] : undefined;
    if (values) field.enum = values;
    return field;
  });
}

/** Follow a local `$ref` (`#/$defs/x`, `#/definitions/x`). */
function deref(s: JsonSchema, root: JsonSchema): JsonSchema {
  const ref = s.$ref;
  if (typeof ref !== "string" || !ref.startsWith("#/")) return s;
  let v: unknown = root;
  for (const part of ref.slice(2).split("/")) v = isObject(v) ? v[part] : undefined;
  return isObject(v) ? v : s;
}

function typesOf(s: JsonSchema, root: JsonSchema, depth = 0): string[] {
  if (depth > 5) return [];
  const out = new Set<string>();
  const t = s.type;
  if (typeof t === "string") out.add(t);
  else if (Array.isArray(t)) for (const x of t) if (typeof x === "string") out.add(x);
  for (const key of ["anyOf", "oneOf", "allOf"]) {
    const list = s[key];
    if (Array.isArray(list)) for (const sub of list) if (isObject(sub)) for (const x of typesOf(deref(sub, root), root, depth + 1)) out.add(x);
  }
  const values = Array.isArray(s.enum) ? s.enum : "const" in s ? [s.const] : [];
  for (const v of values) out.add(v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "number" ? "number" : typeof v);
  return [...out];
}

/** For a field the JSON Schema leaves open: does the schema take a Date there (and not text)? */
export async function acceptsDate(schema: ParamsSchema, field: string): Promise<boolean> {
  const about = (r: Validation) => !r.ok && r.problems.some((p) => p.field === field || p.field.startsWith(`${field}.`));
  const withDate = await validateWithSchema(schema, { [field]: new Date(0) });
  if (about(withDate)) return false;
  return about(await validateWithSchema(schema, { [field]: "not a date" }));
}
