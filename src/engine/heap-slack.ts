/**
 * How far V8 lets the heap grow past what is live before a full collection, while flows run.
 *
 * A run's rows wait a few milliseconds for the write thread, long enough for V8 to promote many
 * of them to the old generation, where they die. With a small live heap (a flow of no-op tasks
 * keeps 12–40 MB alive) V8's own growing factor is its largest (up to 4×): a 100,000-task flow
 * peaked with ≈ 85 MB of heap of which two thirds were dead rows. While the live heap is small,
 * flowctl asks for 20 % of slack (`--heap-growing-percent=20`: the next full collection comes
 * after max(20 % of the live heap, 8 MB) of growth); full collections of a small heap take a few
 * milliseconds. Once the live heap is large (user data), V8's own factor applies again, so a flow
 * that keeps a big heap alive does not pay for frequent full collections. Nothing changes when
 * the process was given a growing factor of its own (`--heap-growing-percent` in its flags).
 */
import { PerformanceObserver, constants } from "node:perf_hooks";
import v8 from "node:v8";

/** slack while the live heap is small */
const SMALL_HEAP_PERCENT = 20;
/** above this live heap (bytes), V8's own growing factor; below SMALL_BELOW, the small-heap slack again */
const LARGE_ABOVE = 512 * 2 ** 20;
const SMALL_BELOW = 256 * 2 ** 20;

let state: "off" | "small" | "large" = "off";
let observer: PerformanceObserver | undefined;

function userSet(): boolean {
  const flags = `${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`;
  return /--heap[-_]growing[-_]percent/.test(flags);
}

function apply(next: "small" | "large"): void {
  if (state === next) return;
  state = next;
  v8.setFlagsFromString(`--heap-growing-percent=${next === "small" ? SMALL_HEAP_PERCENT : 0}`);
}

/** Which growing factor a live heap of `used` bytes gets, given the current one (a gap between the two bounds keeps it from flapping). */
export function slackFor(used: number, current: "off" | "small" | "large"): "small" | "large" {
  if (used > LARGE_ABOVE) return "large";
  if (used < SMALL_BELOW) return "small";
  return current === "large" ? "large" : "small";
}

function fit(): void {
  apply(slackFor(v8.getHeapStatistics().used_heap_size, state));
}

/** Bound the heap's slack for the rest of the process (idempotent; a top-level flow run calls it). */
export function boundHeapSlack(): void {
  if (observer || userSet()) return;
  fit();
  // after each full collection, the live heap decides which factor the next limit uses
  observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (((e as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) return fit();
    }
  });
  observer.observe({ entryTypes: ["gc"] });
}

/** The growing factor in force ("off": flowctl has not set one). */
export function currentSlack(): "off" | "small" | "large" {
  return state;
}
