/** Durations for the test harness: seconds as a number, or text like "5m", "1h30m", "250ms", "1.5s". */
import { FlowctlError } from "../errors.ts";

export type Duration = number | string;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The duration in milliseconds; throws INVALID_ARGUMENT for anything else. */
export function durationMs(d: Duration, what = "duration"): number {
  if (typeof d === "number") {
    if (!(d >= 0) || d === Infinity) throw bad(d, what);
    return d * 1000;
  }
  if (typeof d !== "string") throw bad(d, what);
  const text = d.trim();
  const parts = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(text) ? text.match(/\d+(?:\.\d+)?(?:ms|s|m|h|d)/g) : null;
  if (!parts) throw bad(d, what);
  let ms = 0;
  for (const p of parts) {
    const [, n, unit] = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(p)!;
    ms += Number(n) * UNIT_MS[unit!]!;
  }
  return ms;
}

function bad(d: unknown, what: string): FlowctlError {
  const shown = typeof d === "string" ? `'${d}'` : String(d);
  return new FlowctlError("INVALID_ARGUMENT", `Expected the ${what} to be seconds (a number ≥ 0) or text like "5m", "30s", "1h30m", "250ms"; got ${shown}`);
}
