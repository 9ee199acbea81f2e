/**
 * What a flow run's final state needs to know about the runs its body started directly in one
 * attempt, kept as counts: the flow run never holds on to finished task runs (a flow of a
 * million tasks keeps a few numbers, not a million records).
 *
 * Each child takes an index when it is created and reports its final state once; the error
 * kept is the one of the earliest-created child that failed or was cancelled, whatever order
 * they finish in.
 */
import type { State } from "./states.ts";

export class AttemptTally {
  total = 0;
  failed = 0;
  cancelled = 0;
  firstError: Error | undefined;
  private firstErrorIndex = Infinity;

  /** A child run was created; returns its index. */
  add(): number {
    return this.total++;
  }

  /** The child with this index reached its final state. */
  record(index: number, s: State): void {
    if (s.type === "FAILED" || s.type === "CRASHED" || s.name === "NotReady") this.failed++;
    else if (s.type === "CANCELLED") this.cancelled++;
    else return;
    if (index < this.firstErrorIndex && s.error !== undefined) {
      this.firstErrorIndex = index;
      this.firstError = s.error;
    }
  }
}
