/**
 * Tag concurrency limits, engine side: a task run whose tags have limits takes a slot of each
 * (all at once) before its body runs, and gives them back when it finishes. Limits and slots
 * live in the run store, so they hold across every process that shares it.
 *
 *   no tag of the run has a limit (per a per-process cache, refreshed every second) ─▶ run
 *   try to take the slots ─▶ taken ─▶ run, holding them; this process renews their lease
 *                                     on a timer until they are released
 *                          ─▶ a tag's limit is 0 ─▶ the run fails at once, saying so
 *                          ─▶ a tag is full and the run's own ancestors hold its slots ─▶ fail
 *                             at once (it would wait forever)
 *                          ─▶ a tag is full ─▶ wait (the run stays Pending; logged once per
 *                             tag), then try again ─▶ …
 *                          ─▶ the flow run is cancelled or times out while waiting ─▶ stop
 *
 * Waiting is polling with backoff (the other holders may be other processes; the store is all
 * they share). Within this process, runs blocked on the same tag queue up: only the first one
 * polls, and a slot freed here wakes it at once. A process that dies stops renewing its
 * leases; its slots count as free once the lease runs out (PREFECT_TASK_RUN_TAG_CONCURRENCY_
 * LEASE_SECONDS) and the next acquirer reclaims them.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { FlowctlError, coerceError } from "../errors.ts";
import { engineLogger } from "../logging/logger.ts";
import { getSettings } from "../settings/index.ts";
import { getStore, type RunStore } from "../store/index.ts";
import type { FlowRunRecord, TaskRunRecord } from "./run-records.ts";

export type ReleaseSlots = () => void;

export type SlotResult =
  /** `release` is undefined when no tag of the run has a limit */
  | { kind: "acquired"; release: ReleaseSlots | undefined }
  /** a tag's limit is 0: the run can never start */
  | { kind: "refused"; error: FlowctlError }
  /** the flow run was cancelled or timed out while this run waited */
  | { kind: "interrupted"; reason: Error };

/** This process, as the owner of the slots it holds. */
export const SLOT_OWNER = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

const LIMITS_TTL_MS = 1000;
const FIRST_BACKOFF_MS = 50;

let limitsCache: { store: RunStore; at: number; tags: ReadonlySet<string> } | undefined;

/** Forget the cached set of limited tags (after creating or deleting a limit in this process). */
export function invalidateConcurrencyLimitCache(): void {
  limitsCache = undefined;
}

async function limitedTags(store: RunStore): Promise<ReadonlySet<string>> {
  const now = Date.now();
  if (limitsCache && limitsCache.store === store && now - limitsCache.at < LIMITS_TTL_MS) return limitsCache.tags;
  const tags = new Set((await store.listConcurrencyLimits()).map((l) => l.tag));
  limitsCache = { store, at: now, tags };
  return tags;
}

/** Take a slot for every limited tag of the run, waiting while one is full. */
export async function acquireConcurrencySlots(run: TaskRunRecord, flowRun?: FlowRunRecord): Promise<SlotResult> {
  const store = await getStore();
  const limited = await limitedTags(store);
  if (!run.tags.some((t) => limited.has(t))) return { kind: "acquired", release: undefined };
  const settings = flowRun?.settings ?? getSettings();
  const leaseMs = settings.PREFECT_TASK_RUN_TAG_CONCURRENCY_LEASE_SECONDS * 1000;
  const maxWaitMs = settings.PREFECT_TASK_RUN_TAG_CONCURRENCY_SLOT_WAIT_SECONDS * 1000;
  const signal = flowRun?.signal;
  const logged = new Set<string>();
  const waiter: Waiter = { wake: undefined };
  let queuedOn: string | undefined;
  let backoff = FIRST_BACKOFF_MS;
  try {
    for (;;) {
      if (signal?.aborted) return { kind: "interrupted", reason: coerceError(signal.reason) };
      const res = await store.tryAcquireSlots({ tags: run.tags, holderId: run.id, owner: SLOT_OWNER, leaseMs });
      if (res.acquired) {
        if (res.tags.length === 0) return { kind: "acquired", release: undefined };
        hold(store, run, res.tags, leaseMs);
        return { kind: "acquired", release: () => release(store, run.id, res.tags) };
      }
      if (res.limit0 !== undefined) {
        const tag = res.limit0;
        const message =
          `Task run '${run.name}' cannot start: tag '${tag}' has a concurrency limit of 0. ` +
          `Raise it with 'flowctl concurrency-limit create ${tag} N' or remove it with 'flowctl concurrency-limit delete ${tag}'.`;
        return { kind: "refused", error: new FlowctlError("CONCURRENCY_LIMIT", message) };
      }
      const full = res.full!;
      const byAncestors = slotsHeldByAncestors(run, full.tag);
      if (byAncestors >= full.limit) {
        const message =
          `Task run '${run.name}' cannot start: tag '${full.tag}' has a concurrency limit of ${full.limit} and ` +
          `${byAncestors === 1 ? "its parent task run holds that slot" : `its parent task runs hold ${byAncestors} slots`}, ` +
          `so it would wait forever. Raise the limit, or keep the tag off the nested task.`;
        return { kind: "refused", error: new FlowctlError("CONCURRENCY_LIMIT", message) };
      }
      if (!logged.has(full.tag)) {
        logged.add(full.tag);
        run.logger.info(`Waiting for a concurrency slot for tag '${full.tag}' (limit ${full.limit})`);
      }
      if (queuedOn !== full.tag) {
        if (queuedOn !== undefined) leaveQueue(queuedOn, waiter);
        queuedOn = full.tag;
        backoff = FIRST_BACKOFF_MS;
        joinQueue(full.tag, waiter);
      }
      // only the first waiter of a tag in this process polls; the others wait for their turn
      const polls = queueOf(full.tag)[0] === waiter;
      await pause(waiter, polls ? jitter(backoff) : undefined, signal);
      if (polls) backoff = Math.min(maxWaitMs, backoff * 1.5);
    }
  } finally {
    if (queuedOn !== undefined) leaveQueue(queuedOn, waiter);
  }
}

/* ── runs of this process waiting on a tag, first come first served ───────────────────────── */

interface Waiter {
  wake: (() => void) | undefined;
}

const queues = new Map<string, Waiter[]>();

function queueOf(tag: string): Waiter[] {
  return queues.get(tag) ?? [];
}

function joinQueue(tag: string, w: Waiter): void {
  const q = queues.get(tag);
  if (q) q.push(w);
  else queues.set(tag, [w]);
}

function leaveQueue(tag: string, w: Waiter): void {
  const q = queues.get(tag);
  if (!q) return;
  const i = q.indexOf(w);
  if (i < 0) return;
  q.splice(i, 1);
  if (q.length === 0) queues.delete(tag);
  // the new first waiter takes over polling (or takes the slot the leaver did not need)
  else if (i === 0) q[0]!.wake?.();
}

function wakeFirst(tag: string): void {
  queues.get(tag)?.[0]?.wake?.();
}

/** Resolve after `ms` (never, when undefined), when woken, or when the flow run is closed. */
function pause(w: Waiter, ms: number | undefined, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      w.wake = undefined;
      resolve();
    };
    w.wake = done;
    // real time, not the engine's clock: the other side of this wait is another process
    if (ms !== undefined) timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

const jitter = (ms: number) => Math.round(ms * (0.8 + Math.random() * 0.4));

/* ── slots held by this process, and their leases ─────────────────────────────────────────── */

const held = new Map<string, { tags: readonly string[]; leaseMs: number; parentId: string | undefined }>();
let renewTimer: NodeJS.Timeout | undefined;
let reportedLostLease = false;

function hold(store: RunStore, run: TaskRunRecord, tags: readonly string[], leaseMs: number): void {
  held.set(run.id, { tags, leaseMs, parentId: run.parentTaskRunId });
  if (renewTimer) return;
  // renew well before expiry; an unref'd timer never keeps the process alive
  renewTimer = setInterval(() => void renew(store), Math.max(50, Math.floor(leaseMs / 3)));
  renewTimer.unref();
}

/**
 * Slots of `tag` held by the run's parent, its parent, … (as far as the chain of slot holders
 * goes): a nested run cannot get a slot its own ancestors hold until it has finished.
 */
function slotsHeldByAncestors(run: TaskRunRecord, tag: string): number {
  let n = 0;
  for (let id = run.parentTaskRunId; id !== undefined; ) {
    const h = held.get(id);
    if (!h) break;
    if (h.tags.includes(tag)) n++;
    id = h.parentId;
  }
  return n;
}

async function renew(store: RunStore): Promise<void> {
  if (held.size === 0) return;
  let leaseMs = 0;
  let expected = 0;
  for (const h of held.values()) {
    leaseMs = Math.max(leaseMs, h.leaseMs);
    expected += h.tags.length;
  }
  try {
    const n = await store.renewLeases(SLOT_OWNER, leaseMs);
    if (n < expected && !reportedLostLease) {
      reportedLostLease = true;
      engineLogger.warning(
        `${expected - n} tag concurrency slot(s) held by this process were reclaimed by another (their lease ran out, or 'flowctl concurrency-limit reset' freed them); limits may be exceeded until those task runs finish.`,
      );
    }
  } catch (err) {
    engineLogger.warning(`Could not renew tag concurrency slot leases: ${coerceError(err).message}`);
  }
}

function release(store: RunStore, holderId: string, tags: readonly string[]): void {
  if (!held.delete(holderId)) return;
  if (held.size === 0 && renewTimer) {
    clearInterval(renewTimer);
    renewTimer = undefined;
  }
  store.releaseSlots(holderId).then(
    () => {
      for (const tag of tags) wakeFirst(tag);
    },
    (err) => engineLogger.warning(`Could not release the tag concurrency slots of task run ${holderId}: ${coerceError(err).message}`),
  );
}
