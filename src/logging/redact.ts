/**
 * What run history may hold: secrets are replaced by `********` and long values are cut, before
 * anything is stored, logged or served; the running code keeps the real values.
 *
 * - A parameter is secret when its name matches PREFECT_LOGGING_REDACT_PATTERNS, when the flow's
 *   parameter schema marks it with `secret()`, or when its value was wrapped in `secret()`.
 *   Its value is also registered here, so it is scrubbed from log lines and messages that
 *   quote it (a task that prints it, an error that includes it).
 * - Values of secret settings (PREFECT_API_AUTH_STRING, passwords in store and Redis URLs) are
 *   registered the same way and never appear in log lines.
 * - A string longer than PREFECT_STORE_MAX_VALUE_BYTES is cut there, with a marker saying how
 *   much was cut; arrays and objects are cut after MAX_ITEMS entries and MAX_DEPTH levels.
 */

export const REDACTED = "********";
/** Entries kept of one array or object. */
const MAX_ITEMS = 1000;
/** Levels of nesting kept. */
const MAX_DEPTH = 32;
/** Secret values shorter than this are not scrubbed from free text (they would match too much). */
const MIN_SCRUBBED_LENGTH = 4;

export interface RecordLimits {
  /** longest string kept, in bytes */
  maxValueBytes: number;
  /** parameter names that are secret (PREFECT_LOGGING_REDACT_PATTERNS) */
  redactKey: RegExp | undefined;
}

const secretValues = new Set<string>();
let scrubber: RegExp | undefined;

/** Scrub `value` from every log line and stored text from now on (this process). */
export function registerSecretValue(value: unknown): void {
  if (typeof value !== "string" && typeof value !== "number") return;
  const text = String(value);
  if (text.length < MIN_SCRUBBED_LENGTH || secretValues.has(text)) return;
  secretValues.add(text);
  const sorted = [...secretValues].sort((a, b) => b.length - a.length);
  scrubber = new RegExp(sorted.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
}

/** `text` with every registered secret value replaced by `********`. */
export function scrubSecrets(text: string): string {
  if (!scrubber || text.length < MIN_SCRUBBED_LENGTH) return text;
  scrubber.lastIndex = 0;
  return scrubber.test(text) ? text.replace(scrubber, REDACTED) : text;
}

/** The secret part of a URL (its password), for registering. */
export function urlPassword(url: string): string | undefined {
  try {
    const p = new URL(url).password;
    return p ? decodeURIComponent(p) : undefined;
  } catch {
    return undefined;
  }
}

export function redactKeyPattern(source: string): RegExp | undefined {
  if (source.trim() === "") return undefined;
  return new RegExp(source, "i");
}

function sizeText(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GiB`;
}

/**
 * `text` cut to at most `maxBytes` bytes of UTF-8 (on a character boundary), followed by
 * `… [truncated: 99.9 MiB of 100.0 MiB cut]`. Texts that fit are returned as they are.
 */
export function boundText(text: string, maxBytes: number): string {
  // a UTF-16 unit is at most 3 UTF-8 bytes: short strings need no measuring
  if (text.length * 3 <= maxBytes) return text;
  const total = Buffer.byteLength(text, "utf8");
  if (total <= maxBytes) return text;
  let kept = Buffer.from(text.slice(0, maxBytes), "utf8").subarray(0, maxBytes).toString("utf8");
  if (kept.endsWith("\uFFFD")) kept = kept.slice(0, -1);
  const cut = total - Buffer.byteLength(kept, "utf8");
  return `${kept}… [truncated: ${sizeText(cut)} of ${sizeText(total)} cut]`;
}

/** A free text (state message, error text, log line) as stored: secrets scrubbed, bounded. */
export function storedText(text: string, limits: RecordLimits): string {
  return boundText(scrubSecrets(text), limits.maxValueBytes);
}

/**
 * How `jsonSafe` turns a value into one JSON can hold: what a string becomes, how many entries of
 * an array or object are kept, how deep it goes (and what stands for what is deeper), and — with
 * `limits` — which secrets are shown as `********`.
 */
export interface JsonRules {
  text(s: string): string;
  maxItems: number;
  maxDepth: number;
  tooDeep: string;
  limits: RecordLimits | undefined;
}

/** The whole value (`flowctl run --json` prints a result whole): nothing cut or redacted. */
export const WHOLE_VALUE: JsonRules = { text: (s) => s, maxItems: Infinity, maxDepth: 33, tooDeep: "<circular>", limits: undefined };

const storeRules = new WeakMap<RecordLimits, JsonRules>();
/** The run store's rules for these limits (made once per run's limits). */
function rulesFor(limits: RecordLimits): JsonRules {
  let r = storeRules.get(limits);
  if (!r) {
    r = { text: (s) => storedText(s, limits), maxItems: MAX_ITEMS, maxDepth: MAX_DEPTH, tooDeep: `<nested deeper than ${MAX_DEPTH} levels: cut>`, limits };
    storeRules.set(limits, r);
  }
  return r;
}

/**
 * A value as JSON text for the store: secret keys (at any depth) shown as `********`, strings
 * scrubbed and bounded, large arrays and objects and deep nesting cut with a marker, values
 * JSON cannot hold described rather than dropped.
 */
export function storedJson(value: unknown, limits: RecordLimits, secretKeys?: ReadonlySet<string>): string {
  try {
    return JSON.stringify(jsonSafe(value, rulesFor(limits), [], secretKeys)) ?? "null";
  } catch (err) {
    return JSON.stringify(`<unserialisable: ${(err as Error).message}>`);
  }
}

function isSecretKey(key: string, limits: RecordLimits, secretKeys: ReadonlySet<string> | undefined): boolean {
  return secretKeys?.has(key) === true || limits.redactKey?.test(key) === true;
}

/**
 * `v` as a value JSON holds: non-finite numbers and bigints as text, functions and symbols by
 * name, dates as ISO text, typed arrays by length, errors as name and message, Maps as objects,
 * Sets as arrays, cycles as "<circular>" — under `rules` (see `JsonRules`).
 */
export function jsonSafe(v: unknown, rules: JsonRules, ancestors: object[], topSecret?: ReadonlySet<string>): unknown {
  switch (typeof v) {
    case "string":
      return rules.text(v);
    case "boolean":
      return v;
    case "number":
      return Number.isFinite(v) ? v : String(v);
    case "bigint":
      return `${v}n`;
    case "undefined":
      return null;
    case "function":
      return `<function ${(v as Function).name || "anonymous"}>`;
    case "symbol":
      return v.toString();
  }
  if (v === null) return null;
  const o = v as object;
  const limits = rules.limits;
  if (limits && isSecretWrapper(o)) return REDACTED;
  if (ancestors.includes(o)) return "<circular>";
  if (ancestors.length >= rules.maxDepth) return rules.tooDeep;
  if (o instanceof Date) return Number.isNaN(o.getTime()) ? "Invalid Date" : o.toISOString();
  if (ArrayBuffer.isView(o) && !(o instanceof DataView)) return `<${o.constructor.name} length=${(o as Uint8Array).length}>`;
  if (o instanceof Error) return { name: o.name, message: rules.text(o.message) };
  const max = rules.maxItems;
  ancestors.push(o);
  try {
    if (Array.isArray(o) || o instanceof Set) {
      const items = Array.isArray(o) ? o : Array.from(o);
      const out = (items.length > max ? items.slice(0, max) : items).map((x) => jsonSafe(x, rules, ancestors));
      if (items.length > max) out.push(`<truncated: ${items.length - max} more of ${items.length} items cut>`);
      return out;
    }
    if (typeof (o as { toJSON?: unknown }).toJSON === "function" && !(o instanceof Map)) {
      return jsonSafe((o as { toJSON(): unknown }).toJSON(), rules, ancestors);
    }
    const entries: [string, unknown][] = o instanceof Map ? Array.from(o, ([k, x]) => [String(k), x]) : Object.keys(o).map((k) => [k, (o as Record<string, unknown>)[k]]);
    const out: Record<string, unknown> = {};
    for (const [k, x] of entries.length > max ? entries.slice(0, max) : entries) {
      out[k] = limits && isSecretKey(k, limits, ancestors.length === 1 ? topSecret : undefined) ? REDACTED : jsonSafe(x, rules, ancestors);
    }
    if (entries.length > max) out["<truncated>"] = `${entries.length - max} more of ${entries.length} keys cut`;
    return out;
  } finally {
    ancestors.pop();
  }
}

// ---------------------------------------------------------------- secret() values and schemas

/** The brand `secret()` puts on a value wrapper or a schema (Symbol.for: two copies of flowctl agree). */
export const SECRET_BRAND: unique symbol = Symbol.for("flowctl.secret") as never;

export function isSecretWrapper(v: unknown): v is { readonly value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[SECRET_BRAND] === "value";
}

/** True for a schema marked by `secret()` (or an optional/nullable/default wrapper around one). */
export function isSecretSchema(schema: unknown, depth = 0): boolean {
  if ((typeof schema !== "object" && typeof schema !== "function") || schema === null || depth > 4) return false;
  const s = schema as Record<string | symbol, unknown>;
  if (s[SECRET_BRAND] === "schema") return true;
  // zod (`_def.innerType`, `def.innerType`) and valibot (`wrapped`) wrappers
  const def = (s._def ?? s.def) as Record<string, unknown> | undefined;
  return isSecretSchema(def?.innerType, depth + 1) || isSecretSchema(s.wrapped, depth + 1);
}

/** Names of the object schema's fields marked secret (zod `shape`, valibot `entries`); all of `keys` when the whole schema is. */
export function secretFieldsOf(schema: unknown, keys: readonly string[] = []): Set<string> {
  const out = new Set<string>();
  if (typeof schema !== "object" || schema === null) return out;
  if (isSecretSchema(schema)) {
    for (const k of keys) out.add(k);
    return out;
  }
  const s = schema as Record<string, unknown>;
  let fields: unknown;
  try {
    fields = s.shape ?? s.entries ?? (s._def as { shape?: () => unknown } | undefined)?.shape?.();
  } catch {
    fields = undefined;
  }
  if (typeof fields === "object" && fields !== null) {
    for (const [k, f] of Object.entries(fields)) if (isSecretSchema(f)) out.add(k);
  }
  return out;
}
