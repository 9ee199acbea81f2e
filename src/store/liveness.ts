/**
 * Liveness: telling a flow run whose process is gone from one that is still going.
 *
 * A flow run's row records the process running it (`pid`, `host`) and a `heartbeat` (ms since
 * the epoch) that the process refreshes every HEARTBEAT_INTERVAL_MS while the run is live (the
 * batched writer's heartbeat, `writer.ts`). A run that is not final is judged
 *
 *   alive    ── same host and the pid is a live process, or another host and a recent heartbeat
 *   gone     ── same host and no process has that pid          → Crashed('process gone …')
 *   silent   ── another host (or no pid recorded) and no heartbeat for STALE_AFTER_MS
 *                                                             → Crashed('no heartbeat since T …')
 *
 * `crashDeadRuns` marks the dead ones in the store (a Crashed state appended to the flow run and
 * to each of its task runs still not final). Every flowctl command that opens the store runs it
 * (`index.ts`), and the API does before answering, so no run is shown `Running` whose process is
 * gone. The mark's `updated` is just past the run's last sign of life: a row of the run written
 * later (a journal replayed, a process judged dead wrongly that beats again) still wins.
 */
import { hostname } from "node:os";
import type { FlowRunRow, RunStore, StateType } from "./types.ts";

/** How often a live run's heartbeat is refreshed (and its row read back). */
export const HEARTBEAT_INTERVAL_MS = 500;
/** A run on another host without a heartbeat for this long is judged dead (60 intervals). */
export const STALE_AFTER_MS = 60 * HEARTBEAT_INTERVAL_MS;

/**
 * How the messages of the Crashed states `crashDeadRuns` adds begin. A journal replayed later
 * (`journal.ts`) replaces such a state when it holds the run's own state at that place in its
 * history (the stores' replay SQL matches these texts: keep them in step).
 */
export const GONE_PREFIXES = ["Flow run crashed: process gone", "Flow run crashed: no heartbeat since"] as const;

export const FINAL_TYPES: readonly StateType[] = ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"];
const LIVE_TYPES: readonly StateType[] = ["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"];

let host: string | undefined;
/** This machine's name, as recorded with the runs it starts. */
export function thisHost(): string {
  return (host ??= hostname());
}

/** Whether a process with this pid exists on this machine. */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by someone else
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface Judge {
  now: number;
  host: string;
  alive(pid: number): boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Why the run is dead (the Crashed state's message), or undefined while it may be alive. */
export function deathOf(run: FlowRunRow, j: Judge = { now: Date.now(), host: thisHost(), alive: pidAlive }): string | undefined {
  if (FINAL_TYPES.includes(run.stateType)) return undefined;
  const lastSeen = lastSignOfLife(run);
  const where = run.pid != null ? `pid ${run.pid} on ${run.host ?? "an unknown host"}` : "no process recorded";
  if (run.pid != null && run.host === j.host) {
    return j.alive(run.pid) ? undefined : `${GONE_PREFIXES[0]} (${where}; last heartbeat ${iso(lastSeen)})`;
  }
  return j.now - lastSeen > STALE_AFTER_MS ? `${GONE_PREFIXES[1]} ${iso(lastSeen)} (${where})` : undefined;
}

export function lastSignOfLife(run: FlowRunRow): number {
  return Math.max(run.heartbeat ?? 0, run.updated);
}

/**
 * Mark every dead flow run in the store Crashed (with its task runs still not final); returns
 * how many were marked. Never throws: a store that cannot be read now is left as it is.
 */
export async function crashDeadRuns(store: RunStore, judge?: Judge): Promise<number> {
  let marked = 0;
  try {
    const live = await store.listFlowRuns({ state: [...LIVE_TYPES], limit: 10_000 });
    for (const run of live) {
      const message = deathOf(run, judge);
      if (message === undefined) continue;
      const lastSeen = lastSignOfLife(run);
      if (await store.markCrashed(run.id, { message, timestamp: judge?.now ?? Date.now(), lastSeen })) marked++;
    }
  } catch {
    // the store is unreachable or busy: the next command tries again
  }
  return marked;
}

const lastSweep = new WeakMap<RunStore, Promise<number>>();
const sweptAt = new WeakMap<RunStore, number>();

/** `crashDeadRuns`, at most once per `everyMs` per store (the API calls it on every request). */
export function crashDeadRunsThrottled(store: RunStore, everyMs = 1000): Promise<number> {
  const now = Date.now();
  const prev = lastSweep.get(store);
  if (prev && now - (sweptAt.get(store) ?? 0) < everyMs) return prev;
  const sweep = crashDeadRuns(store);
  lastSweep.set(store, sweep);
  sweptAt.set(store, now);
  return sweep;
}
