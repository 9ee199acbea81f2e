/**
 * JSON text of any value, whole (`flowctl run --json` prints a flow's result with it): what JSON
 * cannot hold is shown instead of dropped — non-finite numbers and bigints as text, functions and
 * symbols by name, dates as ISO text, typed arrays by length, cycles as "<circular>". The run
 * store's bounded, redacted form of a value is `storedJson`: the same walk, other rules.
 */
import { jsonSafe, WHOLE_VALUE } from "../logging/redact.ts";

/** JSON text of `value`, whole; values that JSON cannot hold are shown, not dropped silently. */
export function toJsonText(value: unknown): string {
  if (isFlatJson(value)) return JSON.stringify(value);
  try {
    return JSON.stringify(jsonSafe(value, WHOLE_VALUE, [])) ?? "null";
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
