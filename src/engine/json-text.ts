/**
 * JSON text of any value, whole (`flowctl run --json` prints a flow's result with it): what JSON
 * cannot hold is shown instead of dropped — non-finite numbers and bigints as text, functions and
 * symbols by name, dates as ISO text, typed arrays by length, cycles as "<circular>". The run
 * store's bounded, redacted form of a value is `storedJson` (logging/redact.ts).
 */

/** JSON text of `value`, whole; values that JSON cannot hold are shown, not dropped silently. */
export function toJsonText(value: unknown): string {
  if (isFlatJson(value)) return JSON.stringify(value);
  try {
    return JSON.stringify(toJsonSafe(value, [])) ?? "null";
  } catch (err) {
    return JSON.stringify(`<unserialisable: ${(err as Error).message}>`);
  }
}

/** A plain object of strings, booleans, finite numbers and nulls: JSON holds it as it is. */
function isFlatJson(v: unknown): boolean {
  if (typeof v !== "object" || v === null || Object.getPrototypeOf(v) !== Object.prototype) return false;
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    const t = typeof x;
    if (t === "string" || t === "boolean" || x === null) continue;
    if (t !== "number" || !Number.isFinite(x)) return false;
  }
  return true;
}

function toJsonSafe(v: unknown, ancestors: object[]): unknown {
  switch (typeof v) {
    case "string":
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
  if (ancestors.includes(o) || ancestors.length > 32) return "<circular>";
  if (o instanceof Date) return Number.isNaN(o.getTime()) ? "Invalid Date" : o.toISOString();
  if (ArrayBuffer.isView(o) && !(o instanceof DataView)) return `<${o.constructor.name} length=${(o as Uint8Array).length}>`;
  if (o instanceof Error) return { name: o.name, message: o.message };
  ancestors.push(o);
  try {
    if (Array.isArray(o)) return o.map((x) => toJsonSafe(x, ancestors));
    if (o instanceof Map) return Object.fromEntries(Array.from(o, ([k, x]) => [String(k), toJsonSafe(x, ancestors)]));
    if (o instanceof Set) return Array.from(o, (x) => toJsonSafe(x, ancestors));
    if (typeof (o as { toJSON?: unknown }).toJSON === "function") return toJsonSafe((o as { toJSON(): unknown }).toJSON(), ancestors);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o)) out[k] = toJsonSafe((o as Record<string, unknown>)[k], ancestors);
    return out;
  } finally {
    ancestors.pop();
  }
}
