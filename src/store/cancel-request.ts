/**
 * Asking for a flow run to be cancelled (`flowctl runs cancel`, the web UI's Cancel button):
 * the request is recorded against the run's top-level flow run — the one the running process
 * watches (`engine/cancel-watch.ts`) — unless that run has already finished.
 */
import { hostname } from "node:os";
import { FlowctlError } from "../errors.ts";
import type { FlowRunRow, RunStore } from "./types.ts";

const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]);

export class RunFinishedError extends FlowctlError {
  constructor(readonly run: FlowRunRow) {
    super("INVALID_ARGUMENT", `Flow run '${run.name}' has already finished (${run.stateName}); there is nothing to cancel.`);
    this.name = "RunFinishedError";
  }
}

/** Record the request; the top-level run it targets and the message the run will end with. Throws `RunFinishedError`. */
export async function requestCancel(store: RunStore, row: FlowRunRow, by: string): Promise<{ target: FlowRunRow; message: string }> {
  let target = row;
  while (target.parentFlowRunId !== null) {
    const parent = await store.getFlowRun(target.parentFlowRunId);
    if (!parent) break;
    target = parent;
  }
  if (FINAL.has(target.stateType)) throw new RunFinishedError(target);
  const message = `Cancelled by ${by} from ${hostname()}`;
  await store.requestCancellation(target.id, message, Date.now());
  return { target, message };
}
