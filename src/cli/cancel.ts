/**
 * `flowctl runs cancel RUN`: ask the process running a flow run — here or on another machine
 * sharing the store — to cancel it. That process notices within about a second and ends the run
 * as Ctrl-C would (running task runs Cancelled, `onCancellation` hooks, exit 1), with the state
 * `Cancelled('Cancelled by flowctl runs cancel from HOST')`. This command waits for the run to
 * end and says how it ended.
 */
import type { Command } from "commander";
import { hostname } from "node:os";
import { UsageError } from "../errors.ts";
import { FINAL_TYPES } from "../server/run-views.ts";
import type { FlowRunRow, RunStore } from "../store/types.ts";
import { getStore } from "../store/index.ts";
import { action, EXIT, openStoreOrUsageError } from "./util.ts";
import { findFlowRun } from "./runs.ts";

const WAIT_MS = 10_000;
const POLL_MS = 100;

interface CancelOpts {
  wait: boolean;
}

export function registerCancelCommand(runs: Command): void {
  runs
    .command("cancel")
    .description("Cancel a running flow run, wherever it runs (any process sharing this store notices within about a second)")
    .argument("<run>", "a flow run's id, unique id prefix or name")
    .option("--no-wait", "return once the request is recorded, without waiting for the run to end")
    .addHelpText("after", "\nExit codes: 0 the run ended Cancelled (or the request was recorded, with --no-wait), 1 it did not end within 10 s, 2 no such run or it had already finished.")
    .action(action((run: string, opts: CancelOpts) => cancelCommand(run, opts)));
}

/** Record a cancel request for a flow run that has not finished; the message the run will end with. */
export async function requestCancel(store: RunStore, row: FlowRunRow, by: string): Promise<{ target: FlowRunRow; message: string }> {
  let target = row;
  // the process watches its top-level run: a subflow is cancelled with it
  while (target.parentFlowRunId !== null) {
    const parent = await store.getFlowRun(target.parentFlowRunId);
    if (!parent) break;
    target = parent;
  }
  if (FINAL_TYPES.has(target.stateType)) {
    throw new UsageError(`Flow run '${target.name}' has already finished (${target.stateName}); there is nothing to cancel.`);
  }
  const message = `Cancelled by ${by} from ${hostname()}`;
  await store.requestCancellation(target.id, message, Date.now());
  return { target, message };
}

async function cancelCommand(ref: string, opts: CancelOpts): Promise<number> {
  await openStoreOrUsageError();
  const store = await getStore();
  const row = await findFlowRun(store, ref);
  const { target } = await requestCancel(store, row, "flowctl runs cancel");
  if (target.id !== row.id) process.stderr.write(`flowctl: '${row.name}' is a subflow run; cancelling its top-level flow run '${target.name}'.\n`);
  if (!opts.wait) {
    process.stdout.write(`Asked flow run '${target.name}' (${target.id}) to cancel.\n`);
    return EXIT.OK;
  }
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const now = await store.getFlowRun(target.id);
    if (now && FINAL_TYPES.has(now.stateType)) {
      process.stdout.write(`Flow run '${now.name}' ended ${now.stateName}${now.stateMessage ? `('${now.stateMessage}')` : ""}.\n`);
      return now.stateType === "CANCELLED" ? EXIT.OK : EXIT.FAILED;
    }
    if (Date.now() >= deadline) {
      process.stderr.write(
        `flowctl: error: flow run '${target.name}' has not ended within ${WAIT_MS / 1000} s of the request; is the process running it still alive? (the request stays recorded)\n`,
      );
      return EXIT.FAILED;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
