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
import { FlowctlError, coerceError, isFlowctlError } from "../errors.ts";
import { engineLogger } from "../logging/logger.ts";
import type { RunStore } from "../store/index.ts";
import { clock } from "../clock.ts";
import type { RunEnv } from "./env.ts";
import type { FlowRunRecord, TaskRunRecord } from "./run-records.ts";
import { onAbort } from "../abort-fanout.ts";

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

/** Longest wait between tries while the store does not answer. */
const MAX_STORE_WAIT_MS = 2000;
let reportedStoreDown = false;

/** A store error (the store does not answer): said once, as a warning, until it answers again. */
function storeDown(err: unknown): boolean {
  if (!isFlowctlError(err, "STORE_ERROR")) return false;
  if (!reportedStoreDown) {
    reportedStoreDown = true;
    engineLogger.warning(`Task runs with tag concurrency limits wait for the run store, which holds the limits: ${coerceError(err).message}`);
  }
  return true;
}

function storeAnswers(): void {
  reportedStoreDown = false;
}

async function limitedTags(store: RunStore): Promise<ReadonlySet<string>> {
  // an in-memory store answers at once: no need to risk a stale answer
  if (store.kind === "memory") return new Set((await store.listConcurrencyLimits()).map((l) => l.tag));
  const now = Date.now();
  if (limitsCache && limitsCache.store === store && now - limitsCache.at < LIMITS_TTL_MS) return limitsCache.tags;
  let tags: Set<string>;
  try {
    tags = new Set((await store.listConcurrencyLimits()).map((l) => l.tag));
  } catch (err) {
    // the store does not answer: the limits last read hold meanwhile (a limited tag still waits for a slot)
    if (limitsCache?.store === store && isFlowctlError(err, "STORE_ERROR")) return limitsCache.tags;
    throw err;
  }
  limitsCache = { store, at: now, tags };
  return tags;
}

/** Take a slot for every limited tag of the run, waiting while one is full. */
export async function acquireConcurrencySlots(run: TaskRunRecord, flowRun: FlowRunRecord | undefined, env: RunEnv): Promise<SlotResult> {
  const store = await env.runStore();
  const signal = flowRun?.signal;
  const waiter: Waiter = { wake: undefined };
  let limited: ReadonlySet<string>;
  // a store that does not answer (PostgreSQL restarting): the run waits for it, it does not crash
  for (let wait = FIRST_BACKOFF_MS; ; wait = Math.min(wait * 2, MAX_STORE_WAIT_MS)) {
    try {
      limited = await limitedTags(store);
      break;
    } catch (err) {
      if (!storeDown(err)) throw err;
      if (signal?.aborted) return { kind: "interrupted", reason: coerceError(signal.reason) };
      await pause(waiter, wait, signal);
    }
  }
  if (!run.tags.some((t) => limited.has(t))) return { kind: "acquired", release: undefined };
  const settings = flowRun?.settings ?? env.settings();
  const leaseMs = settings.PREFECT_TASK_RUN_TAG_CONCURRENCY_LEASE_SECONDS * 1000;
  const maxWaitMs = settings.PREFECT_TASK_RUN_TAG_CONCURRENCY_SLOT_WAIT_SECONDS * 1000;
  const logged = new Set<string>();
  let queuedOn: string | undefined;
  let backoff = FIRST_BACKOFF_MS;
  let storeWait = FIRST_BACKOFF_MS;
  try {
    for (;;) {
      if (signal?.aborted) return { kind: "interrupted", reason: coerceError(signal.reason) };
      let res;
      try {
        res = await store.tryAcquireSlots({ tags: run.tags, holderId: run.id, owner: SLOT_OWNER, leaseMs });
        storeAnswers();
      } catch (err) {
        if (!storeDown(err)) throw err;
        await pause(waiter, storeWait, signal);
        storeWait = Math.min(storeWait * 2, MAX_STORE_WAIT_MS);
        continue;
      }
      if (res.acquired) {
        if (res.tags.length === 0) return { kind: "acquired", release: undefined };
        hold(store, run, res.tags, leaseMs, env);
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
      const byAncestors = slotsHeldByAncestors(store, run, full.tag);
      if (byAncestors >= full.limit) {
        const message =
          `Task run '${run.name}' cannot start: tag '${full.tag}' has a concurrency limit of ${full.limit} and ` +
          `${byAncestors === 1 ? "its parent task run holds that slot" : `its parent task runs hold ${byAncestors} slots`}, ` +
          `so it would wait forever. Raise the limit, or keep the tag off the nested task.`;
        return { kind: "refused", error: new FlowctlError("CONCURRENCY_LIMIT", message) };
      }
      if (!logged.has(full.tag)) {
        logged.add(full.tag);
        // the runs of one .map call: the first wait at INFO, the others at DEBUG
        const group = run.mapGroup;
        const first = group === undefined || !group.waitLogged.has(full.tag);
        group?.waitLogged.add(full.tag);
        run.logger.log(
          first ? 20 : 10,
          `Waiting for a concurrency slot for tag '${full.tag}' (limit ${full.limit})` +
            (group && first ? `; other runs of this ${group.taskName}.map() that wait are logged at DEBUG` : ""),
        );
      }
      if (queuedOn !== full.tag) {
        if (queuedOn !== undefined) leaveQueue(store, queuedOn, waiter);
        queuedOn = full.tag;
        backoff = FIRST_BACKOFF_MS;
        joinQueue(store, full.tag, waiter);
      }
      // only the first waiter of a tag in this process polls; the others wait for their turn
      const polls = queueOf(store, full.tag)[0] === waiter;
      await pause(waiter, polls ? jitter(backoff) : undefined, signal);
      if (polls) backoff = Math.min(maxWaitMs, backoff * 1.5);
    }
  } finally {
    if (queuedOn !== undefined) leaveQueue(store, queuedOn, waiter);
  }
}

/* ── runs of this process waiting on a tag, first come first served ───────────────────────── */

interface Waiter {
  wake: (() => void) | undefined;
}

/** per store (a test harness has its own), per tag */
const allQueues = new Map<RunStore, Map<string, Waiter[]>>();

function queuesOf(store: RunStore): Map<string, Waiter[]> {
  let q = allQueues.get(store);
  if (!q) allQueues.set(store, (q = new Map()));
  return q;
}

function queueOf(store: RunStore, tag: string): Waiter[] {
  return allQueues.get(store)?.get(tag) ?? [];
}

function joinQueue(store: RunStore, tag: string, w: Waiter): void {
  const queues = queuesOf(store);
  const q = queues.get(tag);
  if (q) q.push(w);
  else queues.set(tag, [w]);
}

function leaveQueue(store: RunStore, tag: string, w: Waiter): void {
  const queues = queuesOf(store);
  const q = queues.get(tag);
  if (!q) return;
  const i = q.indexOf(w);
  if (i < 0) return;
  q.splice(i, 1);
  if (q.length === 0) {
    queues.delete(tag);
    if (queues.size === 0) allQueues.delete(store);
  }
  // the new first waiter takes over polling (or takes the slot the leaver did not need)
  else if (i === 0) q[0]!.wake?.();
}

function wakeFirst(store: RunStore, tag: string): void {
  queueOf(store, tag)[0]?.wake?.();
}

/** Resolve after `ms` (never, when undefined), when woken, or when the flow run is closed. */
function pause(w: Waiter, ms: number | undefined, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    let cancel: (() => void) | undefined;
    let off: (() => void) | undefined;
    const done = () => {
      cancel?.();
      off?.();
      w.wake = undefined;
      resolve();
    };
    w.wake = done;
    if (ms !== undefined) cancel = clock().timeout(done, ms);
    // one abort listener per flow run, not one per waiting task run
    if (signal) off = onAbort(signal, done);
  });
}

const jitter = (ms: number) => Math.round(ms * (0.8 + Math.random() * 0.4));

/* ── slots held by this process, and their leases ─────────────────────────────────────────── */

interface Holding {
  readonly held: Map<string, { tags: readonly string[]; leaseMs: number; parentId: string | undefined }>;
  stopRenewing: (() => void) | undefined;
}

/** the slots this process holds, per store */
const holdings = new Map<RunStore, Holding>();
let reportedLostLease = false;

function hold(store: RunStore, run: TaskRunRecord, tags: readonly string[], leaseMs: number, env: RunEnv): void {
  let h = holdings.get(store);
  if (!h) holdings.set(store, (h = { held: new Map(), stopRenewing: undefined }));
  h.held.set(run.id, { tags, leaseMs, parentId: run.parentTaskRunId });
  if (h.stopRenewing) return;
  // renew well before expiry
  const every = Math.max(50, Math.floor(leaseMs / 3));
  if (env.clock) {
    // an environment with a clock of its own (a test harness) renews on that clock's time
    const c = env.clock;
    let cancel = () => {};
    const tick = () => {
      void renew(store);
      cancel = c.timeout(tick, every);
    };
    cancel = c.timeout(tick, every);
    h.stopRenewing = () => cancel();
  } else {
    // an unref'd timer never keeps the process alive
    const timer = setInterval(() => void renew(store), every);
    timer.unref();
    h.stopRenewing = () => clearInterval(timer);
  }
}

/**
 * Slots of `tag` held by the run's parent, its parent, … (as far as the chain of slot holders
 * goes): a nested run cannot get a slot its own ancestors hold until it has finished.
 */
function slotsHeldByAncestors(store: RunStore, run: TaskRunRecord, tag: string): number {
  const held = holdings.get(store)?.held;
  if (!held) return 0;
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
  const held = holdings.get(store)?.held;
  if (!held || held.size === 0) return;
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
  const h = holdings.get(store);
  if (!h?.held.delete(holderId)) return;
  if (h.held.size === 0) {
    h.stopRenewing?.();
    holdings.delete(store);
  }
  // a store that does not answer: tried again (a slot left held would block the tag until its lease ran out)
  const started = Date.now();
  let settle!: () => void;
  const released = new Promise<void>((resolve) => (settle = resolve));
  pendingReleases.add(released);
  void released.then(() => pendingReleases.delete(released));
  const attempt = (wait: number): void => {
    store.releaseSlots(holderId).then(
      () => {
        settle();
        for (const tag of tags) wakeFirst(store, tag);
      },
      (err) => {
        if (isFlowctlError(err, "STORE_ERROR") && Date.now() - started < RELEASE_RETRY_MS) {
          setTimeout(() => attempt(Math.min(wait * 2, MAX_STORE_WAIT_MS)), wait).unref();
          return;
        }
        settle();
        engineLogger.warning(`Could not release the tag concurrency slots of task run ${holderId}: ${coerceError(err).message}`);
      },
    );
  };
  attempt(FIRST_BACKOFF_MS);
}

/** Slot releases on their way to the store (fire and forget while the flow goes on). */
const pendingReleases = new Set<Promise<void>>();

/**
 * Wait (at most `maxWaitMs`) for the slot releases still on their way to the store: a top-level
 * flow run ends only after them, or the process could exit with its last task runs' slots still
 * held in the store — blocking the tag for every other process until their leases ran out.
 */
export async function slotReleasesSettled(maxWaitMs = RELEASE_WAIT_AT_END_MS): Promise<void> {
  if (pendingReleases.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, maxWaitMs)));
  await Promise.race([Promise.all(pendingReleases), bound]);
  clearTimeout(timer);
}

/** How long the end of a flow run waits for its slot releases (a store that is down: their leases free them). */
const RELEASE_WAIT_AT_END_MS = 5_000;

/** How long a release that the store refuses is tried again (then the slot's lease frees it). */
const RELEASE_RETRY_MS = 60_000;
