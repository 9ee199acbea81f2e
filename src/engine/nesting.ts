/**
 * How deep runs may nest. Every flow run and task run started inside another counts one level
 * (a subflow, a task called in a task's body, the task runs of a subflow …). Nesting costs
 * memory, not native stack (see startTaskRun), so a run that calls itself without end would
 * only stop when the process runs out of memory (V8's fatal heap report). Past
 * PREFECT_RUNS_MAX_NESTING_DEPTH levels the call throws one NESTING_TOO_DEEP error instead: each
 * run it ends on its way out logs it at DEBUG only, the top-level run says it once.
 */
import { FlowctlError, isFlowctlError } from "../errors.ts";

/** The depth of a run started where the current context's depth is `parent` (undefined: top level). */
export function nestedDepth(parent: number | undefined, max: number, kind: "flow" | "task", name: string): number {
  const depth = (parent ?? 0) + 1;
  if (depth > max) {
    throw new FlowctlError(
      "NESTING_TOO_DEEP",
      `nesting deeper than ${max} levels (${kind} '${name}' called inside ${max} nested flow and task runs; PREFECT_RUNS_MAX_NESTING_DEPTH sets the limit)`,
    );
  }
  return depth;
}

/** The NESTING_TOO_DEEP error an error is, or was caused by (a flow's aggregate failure wraps it). */
export function nestingError(err: unknown): FlowctlError | undefined {
  for (let e = err, i = 0; e !== undefined && e !== null && i < 8; e = (e as { cause?: unknown }).cause, i++) {
    if (isFlowctlError(e, "NESTING_TOO_DEEP")) return e;
  }
  return undefined;
}
