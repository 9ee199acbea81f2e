/**
 * What a Redis worker keeps outside the queue about the bodies it runs, so that a flow whose
 * Redis went away does not lose them:
 *
 * - an alive key per running body (`aliveKey`), refreshed every ALIVE_EVERY_MS while Redis
 *   answers and set again as soon as it answers after an outage: a flow that finds a job gone
 *   from a Redis that restarted empty knows the body is still running here and waits for it;
 * - the body's reply, recorded in the shared run store before the worker replies through Redis
 *   (`putAttemptOutcome`): a flow that never gets the Redis reply reads it from there.
 *
 * The store write is awaited but never fails a job: a store that cannot be written costs only the
 * safety net (one warning per distinct problem), the reply still goes through Redis.
 */
import { coerceError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import type { Redis } from "../runners/redis-deps.ts";
import { ALIVE_EVERY_MS, ALIVE_TTL_MS, aliveKey, replyStateType, type RedisJobResult } from "../runners/redis-protocol.ts";
import { getStore } from "../store/index.ts";
import { thisHost } from "../store/liveness.ts";

export class AttemptKeeper {
  private readonly running = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private readonly me = `${process.pid}@${thisHost()}`;
  private lastProblem: string | undefined;

  constructor(
    private readonly queue: string,
    private readonly redis: Redis,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => this.refresh(), ALIVE_EVERY_MS);
    this.timer.unref();
    // keys set before an outage are gone when Redis comes back empty: set them again at once
    redis.on("ready", () => this.refresh());
  }

  /** A body starts: its alive key is set now and kept fresh until `finished`. */
  started(jobId: string): void {
    this.running.add(jobId);
    this.refresh([jobId]);
  }

  /** The body's reply is recorded (or could not be): its alive key goes. */
  finished(jobId: string): void {
    this.running.delete(jobId);
    if (this.redis.status === "ready") void this.redis.del(aliveKey(this.queue, jobId)).catch(() => undefined);
  }

  private refresh(ids: Iterable<string> = this.running): void {
    // while Redis is away, nothing is queued up behind it: the next refresh after it answers sets them all
    if (this.redis.status !== "ready") return;
    const batch = this.redis.pipeline();
    let n = 0;
    for (const id of ids) {
      batch.set(aliveKey(this.queue, id), this.me, "PX", ALIVE_TTL_MS);
      n++;
    }
    if (n > 0) void batch.exec().catch(() => undefined);
  }

  /** Record the reply in the run store, where the flow finds it if Redis loses it. */
  async record(jobId: string, taskRunId: string, reply: RedisJobResult): Promise<void> {
    try {
      const store = await getStore();
      await store.putAttemptOutcome({
        attemptId: jobId, taskRunId, stateType: replyStateType(reply), outcome: JSON.stringify(reply), created: Date.now(),
      });
      this.lastProblem = undefined;
    } catch (err) {
      const msg = coerceError(err).message;
      if (msg !== this.lastProblem) {
        this.logger.warning(
          `Cannot record the outcome of job ${jobId} in the run store (${msg}): the flow hears of it through Redis only, ` +
            "and records the task run Crashed if Redis loses the reply.",
        );
      }
      this.lastProblem = msg;
    }
  }

  /** The reply recorded for this attempt by an earlier run of the same job, if any. */
  async recorded(jobId: string): Promise<RedisJobResult | undefined> {
    try {
      const [row] = await (await getStore()).getAttemptOutcomes([jobId]);
      return row ? (JSON.parse(row.outcome) as RedisJobResult) : undefined;
    } catch {
      // the store cannot tell: run the body
      return undefined;
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
