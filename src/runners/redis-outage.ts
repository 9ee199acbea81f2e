/**
 * RedisTaskRunner's sweep: what the flow's process does about attempts whose reply has not come
 * through the queue's event stream — an event missed, or Redis gone away (down, or back but
 * empty: Redis may keep nothing across a restart). Once a second, while attempts wait:
 *
 *   Redis answers ──▶ jobs waited on for long (SWEEP_AFTER_MS, then every SWEEP_REPEAT_MS; every
 *   │                 job at once after an outage) are looked up: finished ─▶ their reply is taken
 *   │                 gone from Redis ─▶ the run store's recorded outcome (a worker writes it before
 *   │                   replying) ─▶ taken; else an alive key (a worker still runs the body) ─▶ wait;
 *   │                   else, after VANISH_GRACE_MS of that ─▶ sent again (at most MAX_RESENDS times,
 *   │                   marked `resent` so a worker returns a reply recorded meanwhile instead of
 *   │                   running the body twice), then Crashed ("vanished")
 *   │                 jobs whose sending failed while Redis was away ─▶ sent now
 *   Redis away ──────▶ the outcomes the workers recorded are taken from the run store as they
 *                      come; past `outageMs` without Redis, the attempts with none end Crashed,
 *                      naming Redis (the flow never waits forever)
 *
 * A body is run at least once: it runs twice only when the worker running it lost both Redis
 * and its alive key for longer than the grace (its process stopped, or could not reach Redis)
 * and the run store had no outcome from it.
 */
import { FlowctlError } from "../errors.ts";
import { getStore } from "../store/index.ts";
import { storeWriter } from "../store/writer.ts";
import { aliveKey, showRedisUrl, type RedisJobData, type RedisJobResult } from "./redis-protocol.ts";
import type { Queue } from "bullmq";
import type { Redis } from "./redis-deps.ts";
import type { AttemptTaskRun } from "./types.ts";

/** The sweep's beat. */
export const SWEEP_TICK_MS = 1000;
/** A job waited on this long is looked up directly once, then every SWEEP_REPEAT_MS. */
const SWEEP_AFTER_MS = 5000;
const SWEEP_REPEAT_MS = 30_000;
/** A job gone from Redis, with no alive key and no recorded outcome this long, was lost before it ran. */
const VANISH_GRACE_MS = 5000;
const MAX_RESENDS = 3;

export interface Waiter {
  jobId: string;
  run: AttemptTaskRun;
  data: RedisJobData;
  resolve(reply: unknown): void;
  reject(err: unknown): void;
  nextCheck: number;
  /** its job is not in Redis (sending it failed while Redis was away): sent once Redis answers */
  unsent: boolean;
  /** since when it has had no job and no alive key in Redis, and no outcome in the store */
  missingSince: number | undefined;
  resends: number;
}

export function newWaiter(jobId: string, run: AttemptTaskRun, data: RedisJobData, resolve: (r: unknown) => void, reject: (e: unknown) => void): Waiter {
  return { jobId, run, data, resolve, reject, nextCheck: Date.now() + SWEEP_AFTER_MS, unsent: false, missingSince: undefined, resends: 0 };
}

export interface SweepTarget {
  url: string;
  client: Redis;
  queue: Queue;
}

export interface SweepHost {
  readonly queueName: string;
  readonly waiters: Map<string, Waiter>;
  /** how long Redis may stay away before waiting attempts with no recorded outcome end Crashed */
  readonly outageMs: number;
  take(jobId: string): Waiter | undefined;
  /** add these attempts' jobs to the queue (one round trip) */
  send(waiters: Waiter[]): Promise<void>;
  jobFailed(run: AttemptTaskRun, reason: string | undefined): Error;
}

export class RedisSweep {
  private downSince: number | undefined;
  private busy = false;

  constructor(private readonly host: SweepHost) {}

  /** Redis did not answer (a command failed, the connection dropped). */
  noteDown(now = Date.now()): void {
    this.downSince ??= now;
  }

  /** One sweep (the runner's timer calls it every SWEEP_TICK_MS; overlapping calls are skipped). */
  async tick(target: SweepTarget, now = Date.now()): Promise<void> {
    if (this.busy || this.host.waiters.size === 0) return;
    this.busy = true;
    try {
      await this.sweep(target, now);
    } finally {
      this.busy = false;
    }
  }

  private async sweep(target: SweepTarget, now: number): Promise<void> {
    const { waiters } = this.host;
    if (target.client.status !== "ready") this.noteDown(now);
    else if (this.downSince !== undefined) {
      // Redis answers again: replies sent meanwhile may have left no event; ask about every job now
      this.downSince = undefined;
      for (const w of waiters.values()) w.nextCheck = now;
    }
    if (this.downSince !== undefined) return this.whileDown(target, now);

    const unsent = [...waiters.values()].filter((w) => w.unsent);
    if (unsent.length > 0 && !(await this.resend(unsent, now))) return;

    const due = [...waiters.values()].filter((w) => w.nextCheck <= now);
    let missing: Waiter[];
    try {
      missing = (await Promise.all(due.map((w) => this.lookUp(target, w, now)))).filter((w): w is Waiter => w !== undefined);
    } catch {
      this.noteDown(now);
      return;
    }
    if (missing.length > 0) await this.reconcile(target, missing, now);
  }

  /** Ask Redis about one job: takes its reply when it finished; returns the waiter when Redis has no such job. */
  private async lookUp(target: SweepTarget, w: Waiter, now: number): Promise<Waiter | undefined> {
    w.nextCheck = now + SWEEP_REPEAT_MS;
    const job = await target.queue.getJob(w.jobId);
    if (!this.host.waiters.has(w.jobId)) return undefined;
    if (!job) return w;
    w.missingSince = undefined;
    const state = await job.getState();
    if (state === "completed") {
      // the job may have finished between reading it and asking its state: its reply is read again
      const reply = job.returnvalue ?? (await target.queue.getJob(w.jobId))?.returnvalue;
      if (reply != null) this.host.take(w.jobId)?.resolve(reply);
    } else if (state === "failed") this.host.take(w.jobId)?.reject(this.host.jobFailed(w.run, job.failedReason));
    return undefined;
  }

  /** Jobs Redis does not have: the store's outcome, else wait for a body still running, else send again or give up. */
  private async reconcile(target: SweepTarget, missing: Waiter[], now: number): Promise<void> {
    const { waiters, queueName } = this.host;
    const rest = this.takeRecorded(missing, await recordedOutcomes(missing.map((w) => w.jobId)));
    if (rest.length === 0) return;
    let alive: (string | null)[];
    try {
      alive = await target.client.mget(rest.map((w) => aliveKey(queueName, w.jobId)));
    } catch {
      this.noteDown(now);
      return;
    }
    const again: Waiter[] = [];
    rest.forEach((w, i) => {
      if (!waiters.has(w.jobId)) return;
      // followed closely from now on: the body's outcome (or its loss) shows within seconds
      w.nextCheck = now + SWEEP_TICK_MS;
      if (alive[i] !== null) {
        w.missingSince = undefined;
        return;
      }
      w.missingSince ??= now;
      if (now - w.missingSince < VANISH_GRACE_MS) return;
      if (w.resends < MAX_RESENDS) {
        w.resends++;
        w.missingSince = undefined;
        w.data = { ...w.data, resent: true };
        w.run.logger.warning(`Redis lost this task run's job ${w.jobId} before any worker recorded an outcome for it; sending it again.`);
        again.push(w);
        return;
      }
      this.host.take(w.jobId)?.reject(
        crashed(
          `Task run '${w.run.name}' crashed: its job ${w.jobId} vanished from Redis queue '${queueName}' ` +
            `(${MAX_RESENDS + 1} times), and no worker recorded an outcome for it in the run store`,
        ),
      );
    });
    if (again.length > 0) await this.resend(again, now);
  }

  /** Redis is away: take what the workers recorded; past the limit, the rest ends Crashed. */
  private async whileDown(target: SweepTarget, now: number): Promise<void> {
    const { waiters } = this.host;
    const rest = this.takeRecorded([...waiters.values()], await recordedOutcomes([...waiters.keys()]));
    const downMs = now - this.downSince!;
    if (downMs < this.host.outageMs) return;
    for (const w of rest) {
      this.host.take(w.jobId)?.reject(
        crashed(
          `Task run '${w.run.name}' crashed: Redis at ${showRedisUrl(target.url)} did not answer for ${Math.round(downMs / 1000)} s ` +
            "while it waited (RedisTaskRunner's `outageTimeout`), and no worker recorded an outcome for it in the run store",
        ),
      );
    }
  }

  /** Resolve the waiters that have a recorded outcome; returns the others. */
  private takeRecorded(ws: Waiter[], recorded: Map<string, RedisJobResult>): Waiter[] {
    return ws.filter((w) => {
      const reply = recorded.get(w.jobId);
      if (reply === undefined) return true;
      const taken = this.host.take(w.jobId);
      if (taken) {
        taken.run.logger.warning(`The reply of job ${w.jobId} did not come through Redis; taken from the run store, where its worker recorded it.`);
        taken.resolve(reply);
      }
      return false;
    });
  }

  /** Send these jobs (again); when Redis refuses, they stay unsent and Redis counts as away. */
  private async resend(ws: Waiter[], now: number): Promise<boolean> {
    for (const w of ws) w.unsent = false;
    try {
      await this.host.send(ws);
      return true;
    } catch {
      for (const w of ws) w.unsent = this.host.waiters.has(w.jobId);
      this.noteDown(now);
      return false;
    }
  }
}

/** The outcomes the workers recorded for these attempts (none when the store cannot tell). */
async function recordedOutcomes(jobIds: string[]): Promise<Map<string, RedisJobResult>> {
  const out = new Map<string, RedisJobResult>();
  if (jobIds.length === 0) return out;
  try {
    for (const row of await (await getStore()).getAttemptOutcomes(jobIds)) out.set(row.attemptId, JSON.parse(row.outcome) as RedisJobResult);
  } catch {
    // the store cannot be read now: the next sweep asks again
  }
  return out;
}

/**
 * The attempts whose reply the flow has taken: their recorded outcomes have served their purpose
 * once the flow's own record of the run is in the store (until then, a flow process that dies
 * leaves the outcome for `markCrashed`, which records the run Completed from it).
 */
export class SettledAttempts {
  private list: { jobId: string; at: number }[] = [];

  add(jobId: string): void {
    this.list.push({ jobId, at: Date.now() });
  }

  /** Delete the outcomes of attempts settled a sweep ago or more (`all`: every one), after writing the flow's pending rows. */
  async forget(all = false): Promise<void> {
    const cutoff = all ? Infinity : Date.now() - SWEEP_TICK_MS;
    let n = 0;
    while (n < this.list.length && this.list[n]!.at <= cutoff) n++;
    if (n === 0) return;
    const ripe = this.list.splice(0, n);
    try {
      await storeWriter.flush();
      await (await getStore()).deleteAttemptOutcomes(ripe.map((r) => r.jobId));
    } catch {
      // the store cannot be written now: the next sweep tries again
      this.list = ripe.concat(this.list);
    }
  }
}

export function crashed(message: string, cause?: unknown): FlowctlError {
  return new FlowctlError("CRASHED", message, cause === undefined ? undefined : { cause });
}
