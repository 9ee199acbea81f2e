/**
 * The default runner: task bodies run in this process, on the main thread. Async bodies
 * interleave on the event loop; `maxConcurrency` (or PREFECT_TASK_RUNNER_MAX_CONCURRENCY)
 * caps how many run at once, the rest wait in submission order.
 */
import { FlowctlError } from "../errors.ts";
import { getSettings } from "../settings/index.ts";
import type { TaskAttempt, TaskRunner } from "./types.ts";
import type { Settings } from "../settings/schema.ts";

export interface ConcurrentTaskRunnerOptions {
  /** Most task bodies running at once; 0 or unset = PREFECT_TASK_RUNNER_MAX_CONCURRENCY (0 = no limit). */
  maxConcurrency?: number;
}

export class ConcurrentTaskRunner implements TaskRunner {
  readonly name = "ConcurrentTaskRunner";
  readonly runsInProcess = true;
  private readonly explicitLimit: number | undefined;
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(options: ConcurrentTaskRunnerOptions = {}) {
    const m = options.maxConcurrency;
    if (m !== undefined && (!Number.isInteger(m) || m < 0)) {
      throw new FlowctlError("INVALID_OPTION", `ConcurrentTaskRunner: expected \`maxConcurrency\` to be a non-negative integer, got ${String(m)}`);
    }
    this.explicitLimit = m;
  }

  /** Bodies start as soon as they are handed over (no cap): the engine may run a plain body at once itself. */
  unlimited(settings: Settings): boolean {
    return !(this.explicitLimit || settings.PREFECT_TASK_RUNNER_MAX_CONCURRENCY);
  }

  run<T>(attempt: TaskAttempt<T>): Promise<T> {
    const limit = this.explicitLimit || (attempt.settings ?? getSettings()).PREFECT_TASK_RUNNER_MAX_CONCURRENCY;
    if (limit === 0) return attempt.invokeLocal();
    if (this.active < limit) {
      this.active++;
      return this.runHoldingSlot(attempt);
    }
    // the slot is handed over directly by the run that frees it
    return new Promise<void>((resolve) => this.queue.push(resolve)).then(() => this.runHoldingSlot(attempt));
  }

  private async runHoldingSlot<T>(attempt: TaskAttempt<T>): Promise<T> {
    try {
      return await attempt.invokeLocal();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export const defaultTaskRunner = new ConcurrentTaskRunner();
