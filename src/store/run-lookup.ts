/**
 * The run lookup every command that names a run shares (`runs inspect | logs | retry | cancel |
 * delete`, `tasks ls --flow-run`): RUN is a run's id, any unique prefix of one, or a run's name.
 *
 *   exact id                         → that run
 *   one run whose id starts with RUN
 *   or whose name is RUN             → that run
 *   several                          → AMBIGUOUS_RUN, listing them (never a guess)
 *   none                             → RUN_NOT_FOUND
 *
 * `kinds` says which runs the command accepts (flow runs, task runs or both).
 */
import { FlowctlError } from "../errors.ts";
import type { FlowRunRow, RunStore, TaskRunRow } from "./types.ts";

export type RunKind = "flow" | "task";
export type RunMatch = { kind: "flow"; row: FlowRunRow } | { kind: "task"; row: TaskRunRow };

/** How many candidates an ambiguous lookup lists. */
const LISTED = 10;

export class AmbiguousRunError extends FlowctlError {
  constructor(
    readonly ref: string,
    /** the first candidates, newest first */
    readonly matches: RunMatch[],
    /** true when there are more than `matches` */
    readonly more: boolean,
  ) {
    const what = more ? `more than ${matches.length} runs` : `${matches.length} runs`;
    super("AMBIGUOUS_RUN", `'${ref}' names ${what}; give more of the id (any unique prefix works).`);
    this.name = "AmbiguousRunError";
  }
}

const KIND_WORDS: Record<RunKind, string> = { flow: "flow run", task: "task run" };

export async function lookupRun(store: RunStore, ref: string, kinds: readonly RunKind[] = ["flow", "task"]): Promise<RunMatch> {
  const what = kinds.map((k) => KIND_WORDS[k]).join(" or ");
  if (ref.trim() === "") throw new FlowctlError("RUN_NOT_FOUND", `Expected a ${what} id, id prefix or name, got an empty string.`);
  const found = await store.findRuns(ref, { limit: LISTED + 1 });
  const matches: RunMatch[] = [];
  if (kinds.includes("flow")) for (const row of found.flowRuns) matches.push({ kind: "flow", row });
  if (kinds.includes("task")) for (const row of found.taskRuns) matches.push({ kind: "task", row });
  const exact = matches.find((m) => m.row.id === ref);
  if (exact) return exact;
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    throw new FlowctlError("RUN_NOT_FOUND", `No ${what} with id, id prefix or name '${ref}'. List runs with 'flowctl runs ls'.`);
  }
  matches.sort((a, b) => b.row.created - a.row.created);
  const more = found.flowRuns.length > LISTED || found.taskRuns.length > LISTED || matches.length > LISTED;
  throw new AmbiguousRunError(ref, matches.slice(0, LISTED), more);
}

/** The flow run `ref` names (see `lookupRun`). */
export async function lookupFlowRun(store: RunStore, ref: string): Promise<FlowRunRow> {
  return (await lookupRun(store, ref, ["flow"])).row as FlowRunRow;
}
