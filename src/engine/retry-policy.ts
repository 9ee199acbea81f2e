/**
 * Retry delays: a number, one per retry (the last repeating), or a function of the retry
 * count; optionally jittered so that many runs failing together do not retry together.
 */
import { FlowctlError } from "../errors.ts";
import type { RetryDelay } from "./options.ts";

/** `factor × 2^i` for each retry: `exponentialBackoff(10)` with 3 retries → `[10, 20, 40]`. */
export function exponentialBackoff(backoffFactor: number): (retries: number) => number[] {
  if (typeof backoffFactor !== "number" || !Number.isFinite(backoffFactor) || backoffFactor < 0) {
    throw new FlowctlError("INVALID_OPTION", `exponentialBackoff: expected \`backoffFactor\` to be a non-negative number, got ${String(backoffFactor)}`);
  }
  return (retries: number) => Array.from({ length: retries }, (_, i) => backoffFactor * 2 ** i);
}

/** The base delay, in seconds, before retry number `retry` (1-based) of `retries`. */
export function baseDelaySeconds(spec: RetryDelay, retries: number, retry: number): number {
  let list: number | number[];
  if (typeof spec === "function") {
    list = spec(retries);
    if (!Array.isArray(list) && typeof list !== "number") {
      throw new FlowctlError("INVALID_OPTION", `retryDelaySeconds function must return an array of numbers, got ${JSON.stringify(list)}`);
    }
  } else {
    list = spec;
  }
  const value = Array.isArray(list) ? (list.length === 0 ? 0 : list[Math.min(retry - 1, list.length - 1)]) : list;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new FlowctlError("INVALID_OPTION", `retryDelaySeconds: expected a non-negative number for retry ${retry}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * A jittered delay: drawn from an exponential-shaped distribution truncated to
 * [0, delay × (1 + factor)] whose rate is chosen so that its mean is exactly `delay`.
 * (For factor < 1 the density rises towards the upper bound, for factor > 1 it falls,
 * at factor = 1 it is uniform on [0, 2 × delay].)
 */
export function jitteredDelay(delay: number, factor: number, random: () => number = Math.random): number {
  if (delay <= 0 || factor <= 0) return delay;
  const upper = delay * (1 + factor);
  const k = rateFor(1 / (1 + factor));
  const u = random();
  // inverse CDF of density ∝ e^(-k x / upper) on [0, upper]
  const x = Math.abs(k) < 1e-9 ? u : -Math.log(1 - u * (1 - Math.exp(-k))) / k;
  return Math.min(upper, Math.max(0, x * upper));
}

const rateCache = new Map<number, number>();

/** Solve m(k) = 1/k − 1/(e^k − 1) = target (mean on [0, 1]) for k by bisection; m falls from 1 to 0. */
function rateFor(target: number): number {
  const hit = rateCache.get(target);
  if (hit !== undefined) return hit;
  const mean = (k: number) => (Math.abs(k) < 1e-9 ? 0.5 : 1 / k - 1 / Math.expm1(k));
  let lo = -700;
  let hi = 700;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (mean(mid) > target) lo = mid;
    else hi = mid;
  }
  const k = (lo + hi) / 2;
  if (rateCache.size < 1000) rateCache.set(target, k);
  return k;
}
