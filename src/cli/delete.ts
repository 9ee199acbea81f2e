/**
 * `flowctl runs delete RUN...`: remove flow runs for good — with their subflow runs, task runs,
 * states, upstream links, logs, the results kept for retrying them and the cached results no
 * other run uses. Every RUN is looked up first (same id-prefix rules as every runs command);
 * nothing is deleted if one of them is unknown, ambiguous or still running.
 */
import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import { FINAL_TYPES } from "../server/run-views.ts";
import { getStore } from "../store/index.ts";
import type { FlowRunRow } from "../store/types.ts";
import { action, EXIT, openStoreOrUsageError } from "./util.ts";
import { deleteResultsOf, findFlowRun } from "./runs.ts";

interface DeleteOpts {
  json?: boolean;
}

export function registerDeleteCommand(runs: Command): void {
  runs
    .command("delete")
    .description("Delete flow runs with their subflow runs, task runs, states, logs and kept results")
    .argument("<runs...>", "flow runs' ids, unique id prefixes or names")
    .option("--json", "print what was deleted as JSON on stdout")
    .addHelpText("after", "\nA run that has not finished is refused (cancel it first with 'flowctl runs cancel'); nothing is deleted then.")
    .action(action((refs: string[], opts: DeleteOpts) => deleteCommand(refs, opts)));
}

async function deleteCommand(refs: string[], opts: DeleteOpts): Promise<number> {
  await openStoreOrUsageError();
  const store = await getStore();
  const rows = new Map<string, FlowRunRow>();
  for (const ref of refs) {
    const row = await findFlowRun(store, ref);
    if (!FINAL_TYPES.has(row.stateType)) {
      throw new UsageError(`Flow run '${row.name}' is ${row.stateName}, not finished; cancel it first with 'flowctl runs cancel ${row.id}'. Nothing was deleted.`);
    }
    rows.set(row.id, row);
  }
  const res = await store.deleteFlowRuns([...rows.keys()]);
  const results = await deleteResultsOf(res);
  const summary = { flowRunIds: res.flowRunIds ?? [], flowRuns: res.flowRuns, taskRuns: res.taskRuns, states: res.states, logs: res.logs, results };
  if (opts.json) {
    process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
    return EXIT.OK;
  }
  const n = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
  const names = [...rows.values()].map((r) => `'${r.name}'`).join(", ");
  const subflows = res.flowRuns - rows.size;
  process.stdout.write(
    `Deleted flow run${rows.size === 1 ? "" : "s"} ${names}${subflows > 0 ? ` and ${n(subflows, "subflow run")}` : ""}: ` +
      `${n(res.taskRuns, "task run")}, ${n(res.states, "state")}, ${n(res.logs, "log line")} and ${n(results, "cached result")}.\n`,
  );
  return EXIT.OK;
}
