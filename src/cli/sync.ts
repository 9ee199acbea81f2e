/**
 * `flowctl runs sync`: write what waits in the local journal — rows a `flowctl run` could not get
 * into the run store before it ended (PostgreSQL down or restarting) — to the store, and say what
 * was written. Any command that opens the store does the same first; this one only does that.
 */
import type { Command } from "commander";
import { currentJournal, getStore, journalReplay } from "../store/index.ts";
import { describeCounts, type JournalCounts } from "../store/journal.ts";
import { printJson } from "./json.ts";
import { action, EXIT, sayJournalWaiting } from "./util.ts";

interface SyncOpts { json?: boolean }

export function registerSyncCommand(runs: Command): void {
  runs
    .command("sync")
    .description("Write the runs kept in the local journal (while the run store did not answer) to the store")
    .option("--json", "print what was written as JSON on stdout")
    .addHelpText("after", "\nExit codes: 0 nothing left in the journal, 1 the store cannot be reached or refused rows (they stay in the journal).")
    .action(action((opts: SyncOpts) => syncRuns(opts)));
}

const NONE: JournalCounts = { batches: 0, flowRuns: 0, taskRuns: 0, states: 0, logs: 0 };

async function syncRuns(opts: SyncOpts): Promise<number> {
  const journal = currentJournal();
  // this command reports the replay itself
  journalReplay.notices = { write: () => undefined };
  const started = Date.now();
  let store;
  try {
    store = await getStore();
  } catch (err) {
    sayJournalWaiting();
    throw err;
  }
  const written = journalReplay.written ?? NONE;
  const waiting = journal?.pending() ?? null;
  const path = journal?.path ?? "(none: a memory store keeps no journal)";
  if (opts.json) {
    printJson({ journal: path, store: store.location, written, waiting });
  } else {
    const ms = Date.now() - started;
    if (written.batches > 0) process.stdout.write(`Wrote ${describeCounts(written)} from the journal ${path} to the run store at ${store.location} in ${ms} ms.\n`);
    else if (!waiting) process.stdout.write(`Nothing waits in the journal (${path}).\n`);
  }
  if (waiting) {
    const why = journalReplay.error ? `: ${(journalReplay.error as Error).message}` : "";
    process.stderr.write(`flowctl: error: ${describeCounts(waiting)} still wait in the journal ${path}${why}\n`);
    return EXIT.FAILED;
  }
  return EXIT.OK;
}
