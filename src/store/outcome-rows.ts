/** Reading `attempt_outcomes` rows (the same columns on every backend). */
import type { AttemptOutcomeRow } from "./types.ts";

export const OUTCOME_COLS = "attempt_id, task_run_id, state_type, outcome, created";

export function outcomeRow(r: Record<string, unknown>): AttemptOutcomeRow {
  return {
    attemptId: r.attempt_id as string,
    taskRunId: r.task_run_id as string,
    stateType: r.state_type as AttemptOutcomeRow["stateType"],
    outcome: r.outcome as string,
    created: Number(r.created),
  };
}
