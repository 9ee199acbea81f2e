/**
 * Progress of a top-level flow run: how many task runs of each task are pending, running and
 * finished (by final state name). Task runs of its subflows count here too. The engine moves a
 * run between buckets on every state change (`transition`); the live status line and the
 * summary line printed at the end of the run read from it.
 *
 *   created ─▶ pending ─▶ running ─▶ finished(name)      AwaitingRetry counts as pending,
 *                     └──────────────▶ finished(name)    Retrying as running, NotReady as finished
 */
import type { State } from "./states.ts";

type Bucket = "pending" | "running" | "finished";

export function bucketOf(s: State): Bucket {
  const t = s.type;
  if (t === "COMPLETED" || t === "FAILED" || t === "CANCELLED" || t === "CRASHED" || s.name === "NotReady") return "finished";
  return t === "RUNNING" ? "running" : "pending";
}

/** The order final state names are listed in. */
const FINAL_ORDER = ["Completed", "Cached", "Failed", "TimedOut", "Crashed", "Cancelled", "NotReady"];

export class TaskCounts {
  total = 0;
  pending = 0;
  running = 0;
  finished = 0;
  /** runs that ended in each final state name */
  readonly byName = new Map<string, number>();
  /** runs that ended Cancelled while the flow run was being interrupted (summarised, not logged one by one) */
  cancelledByInterrupt = 0;
  firstSeq: number;
  constructor(seq: number) {
    this.firstSeq = seq;
  }
}

export class RunProgress {
  readonly startedAt = Date.now();
  readonly byTask = new Map<string, TaskCounts>();
  private seq = 0;

  private countsOf(taskName: string): TaskCounts {
    let c = this.byTask.get(taskName);
    if (!c) this.byTask.set(taskName, (c = new TaskCounts(this.seq++)));
    return c;
  }

  /** A run of `taskName` moved from `prev` (undefined when just created) to `next`. */
  transition(taskName: string, prev: State | undefined, next: State): void {
    const c = this.countsOf(taskName);
    if (prev === undefined) c.total++;
    else c[bucketOf(prev)]--;
    const b = bucketOf(next);
    if (b === "finished") {
      c.finished++;
      c.byName.set(next.name, (c.byName.get(next.name) ?? 0) + 1);
      if (prev !== undefined && bucketOf(prev) === "finished") {
        const n = c.byName.get(prev.name) ?? 0;
        if (n > 0) c.byName.set(prev.name, n - 1);
      }
    } else c[b]++;
  }

  totals(): { total: number; pending: number; running: number; finished: number; byName: Map<string, number> } {
    const out = { total: 0, pending: 0, running: 0, finished: 0, byName: new Map<string, number>() };
    for (const c of this.byTask.values()) {
      out.total += c.total;
      out.pending += c.pending;
      out.running += c.running;
      out.finished += c.finished;
      for (const [name, n] of c.byName) out.byName.set(name, (out.byName.get(name) ?? 0) + n);
    }
    return out;
  }

  /** `1000 task runs: 998 Completed, 2 Failed in 6.9 s` */
  summaryLine(now = Date.now()): string {
    const t = this.totals();
    const parts = sortedNames(t.byName).map(([name, n]) => `${n} ${name}`);
    const unfinished = t.pending + t.running;
    if (unfinished > 0) parts.push(`${unfinished} unfinished`);
    const what = `${t.total} task run${t.total === 1 ? "" : "s"}`;
    return `${what}${parts.length ? `: ${parts.join(", ")}` : ""} in ${seconds(now - this.startedAt)}`;
  }

  /**
   * `get-url: 527/1000 completed, 5 running, 468 pending · 3.2 s`, one part per task that still
   * has runs going (or the last ones seen when none has), cut to `columns`.
   */
  statusLine(columns: number, now = Date.now()): string {
    const tasks = Array.from(this.byTask.entries()).sort((a, b) => a[1].firstSeq - b[1].firstSeq);
    const active = tasks.filter(([, c]) => c.pending + c.running > 0);
    const shown = active.length > 0 ? active : tasks.slice(-1);
    const parts = shown.map(([name, c]) => {
      const failed = c.finished - (c.byName.get("Completed") ?? 0) - (c.byName.get("Cached") ?? 0);
      return `${name}: ${c.finished}/${c.total} completed${failed > 0 ? ` (${failed} failed)` : ""}, ${c.running} running, ${c.pending} pending`;
    });
    const tail = ` · ${seconds(now - this.startedAt)}`;
    let line = parts.length ? parts.join(" | ") : "no task runs yet";
    const width = Math.max(20, columns - 1);
    if (line.length + tail.length > width) line = `${line.slice(0, Math.max(0, width - tail.length - 1))}…`;
    return line + tail;
  }
}

function sortedNames(byName: Map<string, number>): [string, number][] {
  const rank = (n: string) => {
    const i = FINAL_ORDER.indexOf(n);
    return i < 0 ? FINAL_ORDER.length : i;
  };
  return Array.from(byName.entries()).filter(([, n]) => n > 0).sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]));
}

/** Matches the message of a summary line (the last line a top-level flow run logs). */
export const SUMMARY_LINE = /^\d+ task runs?(: [^\n]*)? in \d[^\n]* s$/;

export function seconds(ms: number): string {
  const s = ms / 1000;
  return s < 10 ? `${s.toFixed(1)} s` : s < 120 ? `${Math.round(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
