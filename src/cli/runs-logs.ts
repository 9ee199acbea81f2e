/**
 * `flowctl runs logs RUN`: a run's log lines (a flow run's include its task runs'), read from
 * the store a page at a time after the last id printed, so every line is printed whatever their
 * number and memory stays flat. `--offset N` skips the first N lines, `--limit N` prints at most
 * N and then says on stderr how many there are and where the next ones start. `--follow` keeps
 * reading pages until the run has finished and its last line is in.
 */
import { SUMMARY_LINE } from "../engine/progress.ts";
import { UsageError } from "../errors.ts";
import { formatColored, formatPlain } from "../logging/format.ts";
import { BadRequest, parseLevel } from "../server/api.ts";
import { FINAL_TYPES, logView } from "../server/run-views.ts";
import type { LogFilter, LogRow } from "../store/types.ts";
import { logJson } from "./json.ts";
import { colorsFor, findRun, openStore, out, outJson, type LogsOpts } from "./runs.ts";
import { EXIT } from "./util.ts";
import { drain, isBroken } from "./exit.ts";

/** Lines read from the store at once. */
export const LOG_PAGE = 1000;
/** Bytes of output queued for a slow reader before reading the next page waits for it. */
const HIGH_WATER = 1 << 20;
const FOLLOW_INTERVAL_MS = 300;
/** After the run is final, how long to wait for its last lines (the writer batches every 200 ms). */
const FOLLOW_GRACE_MS = 2000;

const count = (n: number) => n.toLocaleString("en-US");

export async function runLogs(run: string, opts: LogsOpts): Promise<number> {
  let minLevel: number | undefined;
  try {
    minLevel = parseLevel(opts.level, "--level");
  } catch (err) {
    throw err instanceof BadRequest ? new UsageError(err.message) : err;
  }
  if (opts.follow && opts.limit !== undefined) throw new UsageError("--limit does not go with --follow (which prints every line until the run ends); use one or the other");
  const store = await openStore();
  const match = await findRun(store, run);
  const flow = match.kind === "flow" ? match.row : undefined;
  const task = match.kind === "task" ? match.row : undefined;
  const where: LogFilter = flow ? { flowRunId: flow.id, includeTasks: true, minLevel } : { taskRunId: task!.id, minLevel };
  const runId = flow ? flow.id : task!.id;
  // a run's last line: a top-level flow run's summary line, else its own "Finished in state" line
  const topLevel = flow !== undefined && flow.parentFlowRunId === null;
  const isLastLine = (l: LogRow) =>
    topLevel
      ? l.flowRunId === runId && l.taskRunId === null && SUMMARY_LINE.test(l.message)
      : l.message.startsWith("Finished in state") && (flow ? l.flowRunId === runId && l.taskRunId === null : l.taskRunId === runId);
  const chalk = colorsFor(process.stdout, opts.color);
  let afterId: number | undefined;
  let skip = opts.offset;
  let left = opts.limit ?? Infinity;
  let sawLast = false;
  /** Print the lines after the last one printed, a page at a time, until none is left (or --limit is reached). */
  const printNew = async () => {
    for (;;) {
      const rows = await store.getLogs({ ...where, afterId, offset: skip, limit: Math.min(LOG_PAGE, left) });
      if (rows.length > 0) skip = 0;
      for (const l of rows) {
        if (opts.json) outJson(JSON.stringify(logJson(logView(l))));
        else {
          const rec = { level: l.level, source: l.source, message: l.message, timestamp: l.timestamp };
          out(chalk.level > 0 ? formatColored(rec, chalk) : formatPlain(rec));
        }
        if (isLastLine(l)) sawLast = true;
      }
      if (rows.length) afterId = rows[rows.length - 1]!.id;
      left -= rows.length;
      if (rows.length < LOG_PAGE || left <= 0) return;
      // a pipe takes the lines slower than the store gives them: wait for it rather than queue
      // every line in memory; a reader that went away (`| head`) ends the listing quietly
      if (process.stdout.writableLength > HIGH_WATER) await drain(process.stdout);
      if (isBroken(process.stdout)) return;
    }
  };
  await printNew();
  if (!opts.follow) {
    if (left <= 0) {
      // cut by --limit: say so, with how many there are and where the next ones start
      const total = await store.countLogs(where);
      const shown = opts.limit!;
      if (opts.offset + shown < total) {
        process.stderr.write(
          `flowctl: showing log lines ${count(opts.offset + 1)}–${count(opts.offset + shown)} of ${count(total)}; --offset ${opts.offset + shown} for the next ones\n`,
        );
      }
    }
    return EXIT.OK;
  }

  const isFinal = async () => {
    const row = flow ? await store.getFlowRun(runId) : await store.getTaskRun(runId);
    return row !== undefined && FINAL_TYPES.has(row.stateType);
  };
  let stopped = false;
  const stop = () => { stopped = true; };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    let finalSince: number | undefined;
    while (!stopped) {
      if (finalSince === undefined && (await isFinal())) finalSince = Date.now();
      await printNew();
      // the last line may come in a later batch than the final state: wait for it, for a while
      if (finalSince !== undefined && (sawLast || Date.now() - finalSince >= FOLLOW_GRACE_MS)) break;
      await new Promise((r) => setTimeout(r, FOLLOW_INTERVAL_MS));
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  return EXIT.OK;
}
