/**
 * What a retried flow run may reuse: built from the store before the retry starts, asked once
 * per task call while it runs (`ReuseSource.take`).
 *
 * A call's *slot* is (task, inputs, occurrence): the task is its key (`runs retry`) or its name
 * and source hash (`run --retry-of`, where the file may have moved: reuse only where
 * TASK_SOURCE is unchanged); the inputs are the identity `keep-result.ts` recorded; the
 * occurrence counts earlier calls with the same task and inputs, in call order. Each attempt of
 * the earlier run (a run count) has its own slots, since every attempt calls the flow body
 * from the start. A new call takes the slot from the latest attempt where that slot completed
 * with a kept result (a reused call points at the run it reused), so a retry of a retry still
 * reuses what the first attempt completed.
 *
 *   --from TASK   in every attempt, nothing from the first call of TASK on is reused
 */
import { FlowctlError } from "../errors.ts";
import { decodeKept, keptFile, readKeptFile } from "../results/kept-results.ts";
import type { FlowRunRow, KeptResultRow, RunStore, TaskRunRow } from "../store/types.ts";
import type { Reused, ReuseSource, TaskRunRecord } from "./run-records.ts";

export interface RetryPlanOptions {
  /** match tasks by name and source hash instead of by task key (`run --retry-of`) */
  bySource?: boolean;
  /** re-run this task's calls and everything started after the first of them */
  from?: string | undefined;
  /** where result files live (PREFECT_LOCAL_STORAGE_PATH, resolved) */
  storagePath: string;
}

interface Entry {
  task: TaskRunRow;
  kept: KeptResultRow;
  /** excluded by --from */
  excluded: boolean;
}

/** One line of a dry run: an earlier call and what a retry does with it. */
export interface PlannedCall {
  taskRunName: string;
  taskName: string;
  reuse: boolean;
  /** the run reused, or why it runs again */
  detail: string;
}

export class RetryPlan implements ReuseSource {
  /** per attempt (oldest first): slot key → entries in call order */
  private readonly attempts: Map<string, Entry[]>[];
  private readonly taskRuns: Map<string, TaskRunRow>;
  private readonly keptById: Map<string, KeptResultRow>;
  private readonly seen = new Map<string, number>();
  /** how many calls were reused (for the summary) */
  reused = 0;

  constructor(
    attempts: Map<string, Entry[]>[],
    taskRuns: Map<string, TaskRunRow>,
    keptById: Map<string, KeptResultRow>,
    private readonly opts: RetryPlanOptions,
    readonly rootId: string,
  ) {
    this.attempts = attempts;
    this.taskRuns = taskRuns;
    this.keptById = keptById;
  }

  private identity(task: { taskKey: string; name: string; sourceHash: string }): string {
    return this.opts.bySource ? `${task.name}\0${task.sourceHash}` : task.taskKey;
  }

  take(task: { taskKey: string; name: string; sourceHash: string }, run: TaskRunRecord): Reused | undefined {
    if (run.inputsKey === undefined) {
      run.logger.info(`Running '${run.name}' again: ${run.inputsProblem ?? "its inputs were not recorded"}.`);
      return undefined;
    }
    const slot = `${this.identity(task)}\0${run.inputsKey}`;
    const n = this.seen.get(slot) ?? 0;
    this.seen.set(slot, n + 1);
    let why: string | undefined;
    for (let a = this.attempts.length - 1; a >= 0; a--) {
      const e = this.attempts[a]!.get(slot)?.[n];
      if (!e || e.excluded) continue;
      const got = this.resolve(e);
      if ("value" in got) {
        this.reused++;
        return got;
      }
      why ??= got.why;
    }
    if (why) run.logger.info(`Running '${run.name}' again: ${why}.`);
    return undefined;
  }

  /** The value an entry left, or why there is none. */
  private resolve(e: Entry): Reused | { why: string } {
    let kept = e.kept;
    let source = e.task;
    // a reused call points at the run whose result it reused
    for (let hops = 0; kept.kind === "reused" && hops < 100; hops++) {
      const next = this.keptById.get(kept.message ?? "");
      const t = this.taskRuns.get(kept.message ?? "");
      if (!next || !t) return { why: `the result '${source.name}' reused is gone` };
      kept = next;
      source = t;
    }
    if (kept.kind === "unkept") {
      // a run that did not complete says so in its state; only a completed one explains here
      return { why: kept.message?.startsWith("it ended") ? `its earlier run '${source.name}' ${kept.message.slice(3)}` : `the result of '${source.name}' was not kept (${kept.message})` };
    }
    try {
      const value = kept.kind === "value"
        ? decodeKept(kept.payload!)
        : readKeptFile(keptFile(this.opts.storagePath, this.rootId, source.id));
      return { value, taskRunId: source.id, message: `Reused the result of task run '${source.name}' (${source.id})` };
    } catch (err) {
      return { why: `the result of '${source.name}' cannot be read (${(err as Error).message})` };
    }
  }

  /** Every earlier call (one per slot, in call order) and whether a retry reuses it. */
  preview(): PlannedCall[] {
    const slots = new Map<string, { entries: (Entry | undefined)[] }>();
    const order: string[] = [];
    for (const attempt of this.attempts) {
      for (const [slot, entries] of attempt) {
        entries.forEach((e, n) => {
          const k = `${slot}\0${n}`;
          if (!slots.has(k)) {
            slots.set(k, { entries: [] });
            order.push(k);
          }
          slots.get(k)!.entries.push(e);
        });
      }
    }
    const out: PlannedCall[] = [];
    for (const k of order) {
      const entries = slots.get(k)!.entries.filter((e): e is Entry => e !== undefined);
      let reuse: Reused | undefined;
      let why: string | undefined;
      for (let i = entries.length - 1; i >= 0 && !reuse; i--) {
        const e = entries[i]!;
        if (e.excluded) {
          why ??= "--from";
          continue;
        }
        const got = this.resolve(e);
        if ("value" in got) reuse = got;
        else why ??= got.why;
      }
      const last = entries[entries.length - 1]!;
      out.push({
        taskRunName: last.task.name,
        taskName: last.task.taskName,
        reuse: reuse !== undefined,
        detail: reuse ? reuse.message.replace(/^Reused the result of /, "reuses ") : `runs: ${why ?? "it did not complete"}`,
      });
    }
    return out;
  }
}

/** The flow run and its subflow runs, parents first. */
async function runTree(store: RunStore, root: FlowRunRow): Promise<FlowRunRow[]> {
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    out.push(...(await store.listFlowRuns({ parentFlowRunId: out[i]!.id, limit: 100_000 })).reverse());
  }
  return out;
}

export async function buildRetryPlan(store: RunStore, root: FlowRunRow, opts: RetryPlanOptions): Promise<RetryPlan> {
  const tree = await runTree(store, root);
  const tasks: TaskRunRow[] = [];
  for (const f of tree) tasks.push(...(await store.listTaskRuns({ flowRunId: f.id, limit: 10_000_000 })));
  // call order: creation time, then the order the store kept (stable sort)
  tasks.sort((a, b) => a.created - b.created);
  const kept = new Map((await store.getKeptResults(root.id)).map((k) => [k.taskRunId, k]));
  // each Running/Retrying state of the top-level run starts an attempt
  const starts = (await store.getStates(root.id)).filter((s) => s.type === "RUNNING").map((s) => s.timestamp);
  const attemptOf = (t: TaskRunRow) => {
    let a = 0;
    while (a + 1 < starts.length && t.created >= starts[a + 1]!) a++;
    return a;
  };
  if (opts.from !== undefined && !tasks.some((t) => t.taskName === opts.from)) {
    const names = [...new Set(tasks.map((t) => t.taskName))];
    throw new FlowctlError(
      "INVALID_ARGUMENT",
      `--from: flow run '${root.name}' has no task named '${opts.from}'; its tasks: ${names.join(", ") || "none"}`,
    );
  }
  const cutoffs = new Map<number, number>();
  if (opts.from !== undefined) {
    for (const t of tasks) {
      if (t.taskName !== opts.from) continue;
      const a = attemptOf(t);
      if (!cutoffs.has(a)) cutoffs.set(a, t.created);
    }
  }
  const attempts: Map<string, Entry[]>[] = Array.from({ length: Math.max(starts.length, 1) }, () => new Map());
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const t of tasks) {
    const k = kept.get(t.id);
    if (!k || k.inputsKey === null) continue;
    const a = attemptOf(t);
    const cutoff = cutoffs.get(a);
    const excluded = t.taskName === opts.from || (cutoff !== undefined && t.created >= cutoff);
    const identity = opts.bySource ? `${t.taskName}\0${k.sourceHash}` : t.taskKey;
    const slot = `${identity}\0${k.inputsKey}`;
    const list = attempts[a]!.get(slot);
    const e: Entry = { task: t, kept: k, excluded };
    if (list) list.push(e);
    else attempts[a]!.set(slot, [e]);
  }
  return new RetryPlan(attempts, byId, kept, opts, root.id);
}
