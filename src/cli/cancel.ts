/**
 * `flowctl runs cancel RUN`: ask the process running a flow run — here or on another machine
 * sharing the store — to cancel it. That process notices within about a second and ends the run
 * as Ctrl-C would (running task runs Cancelled, `onCancellation` hooks, exit 1), with the state
 * `Cancelled('Cancelled by flowctl runs cancel from HOST')`. This command waits for the run to
 * end and says how it ended.
 */
import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import { FINAL_TYPES } from "../server/run-views.ts";
import type { FlowRunRow } from "../store/types.ts";
import { requestCancel, RunFinishedError } from "../store/cancel-request.ts";
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

async function cancelCommand(ref: string, opts: CancelOpts): Promise<number> {
  await openStoreOrUsageError();
  const store = await getStore();
  const row = await findFlowRun(store, ref);
  let target: FlowRunRow;
  try {
    ({ target } = await requestCancel(store, row, "flowctl runs cancel"));
  } catch (err) {
    if (err instanceof RunFinishedError) throw new UsageError(err.message);
    throw err;
  }
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
