/**
 * The batched writer's side of a store outage (`writer.ts`): what the store does not take goes
 * to the local journal (`journal.ts`), and nothing is lost silently.
 *
 *   a long outage   ── rows kept in memory past `SPILL_ROWS` are spilled to the journal (memory
 *                      stays bounded); when the store answers, the writer replays the journal
 *                      (spilled rows first, then what came since, so the store gets them in order)
 *   the process ends── what is still unwritten is journalled; one line says what waits there
 *   no journal either── one error line (how many runs and states, why: "no space left on
 *                      device", the store's and the journal's paths); `unrecorded` → exit 1
 */
import { countBatches, describeCounts, type Journal } from "./journal.ts";
import type { RunStore, WriteBatch } from "./types.ts";

/** After a failed write, the next try waits RETRY_BASE_MS, doubling up to RETRY_MAX_MS (bounded backoff). */
export const RETRY_BASE_MS = 100;
export const RETRY_MAX_MS = 2000;
/** Rows kept in memory during an outage before they are spilled to the journal. */
export const SPILL_ROWS = 20_000;

export class OutageKeeper {
  /** batches in the journal (or written at exit): never put back in the writer's queue */
  readonly kept = new WeakSet<WriteBatch>();
  /** rows were spilled to the journal mid-run: replay it when the store answers */
  spilled = false;
  /** rows could be written neither to the store nor to the journal (said once as an error) */
  unrecorded = false;
  /** the process's last write was made (`finish`): no more waiting for the store */
  ended = false;
  /** a spill failed (the journal cannot be written): rows stay in memory from then on */
  spillFailed = false;
  private journalled = 0;
  private linePrinted = false;

  constructor(
    private readonly journalOf: () => Journal | undefined,
    private readonly say: (line: string) => void,
  ) {}

  /** A long outage: this batch goes to the journal instead of memory. False when it cannot. */
  spill(batch: WriteBatch): boolean {
    const journal = this.journalOf();
    if (!journal || this.spillFailed) return false;
    try {
      journal.append([batch]);
    } catch {
      this.spillFailed = true;
      return false;
    }
    this.kept.add(batch);
    this.spilled = true;
    this.journalled++;
    return true;
  }

  /** Write the journal to the store that answers again (rejects, the rest kept, if it refuses). */
  async replay(store: RunStore): Promise<void> {
    const journal = this.journalOf();
    if (!journal) return;
    this.spilled = false;
    try {
      await journal.replay(store);
    } catch (err) {
      this.spilled = true;
      throw err;
    }
  }

  /**
   * The process's last write: the batches still unacknowledged (again, as `replayed`: the process
   * may end before it learns one failed) and `rest` go to the store synchronously where it can
   * (SQLite), else to the journal (`keep`). False when they could be written nowhere.
   */
  finish(store: RunStore | undefined, unacked: WriteBatch[], rest: WriteBatch | undefined): boolean {
    this.ended = true;
    const fresh = unacked.filter((b) => !this.kept.has(b));
    const batches = fresh.map((b): WriteBatch => ({ ...b, replayed: true }));
    if (rest) batches.push(rest);
    if (batches.length === 0) return this.sayJournalled(), true;
    let storeError: unknown;
    if (store?.writeBatchSync) {
      try {
        for (const b of batches) store.writeBatchSync(b);
        for (const b of fresh) this.kept.add(b);
        return this.sayJournalled(), true;
      } catch (err) {
        storeError = err;
      }
    }
    if (!this.keep(batches, storeError, store?.location)) return false;
    for (const b of fresh) this.kept.add(b);
    return true;
  }

  /**
   * The process is ending: these batches go to the journal, and one line says what waits there.
   * False when they cannot (then one error line, once, and `unrecorded`).
   */
  keep(batches: WriteBatch[], storeError: unknown, where: string | undefined): boolean {
    const journal = this.journalOf();
    try {
      if (!journal) throw new Error("this store keeps no journal");
      journal.append(batches);
    } catch (err) {
      if (!this.unrecorded) {
        this.unrecorded = true;
        const why = storeError !== undefined ? `: ${diskFull(storeError)}` : " (it did not answer)";
        this.say(
          `flowctl: error: ${describeCounts(countBatches(batches))} are not recorded: cannot write the run store ${where ?? journal?.store ?? ""}${why}; ${diskFull(err)}\n`,
        );
      }
      return false;
    }
    for (const b of batches) this.kept.add(b);
    this.journalled += batches.length;
    this.sayJournalled();
    return true;
  }

  /** The one line saying what waits in the journal (once per process, when this process put rows there). */
  sayJournalled(): void {
    if (this.journalled === 0 || this.linePrinted) return;
    const journal = this.journalOf();
    const waiting = journal?.pending();
    if (!journal || !waiting) return;
    this.linePrinted = true;
    this.say(
      `flowctl: warning: the run store at ${journal.store} did not answer in time: ${describeCounts(waiting)} wait in the journal ${journal.path}; \`flowctl runs sync\` (or any flowctl command that reaches the store) writes them\n`,
    );
  }
}

/**
 * Call `attempt` until `done()` holds after one, waiting RETRY_BASE_MS, then twice as long each
 * time (at most RETRY_MAX_MS), while another try still fits before `deadline` (ms epoch); a try
 * still going at the deadline is given up. Whether it got done.
 */
export async function retryUntil(deadline: number, attempt: () => Promise<void>, done: () => boolean): Promise<boolean> {
  for (let n = 0; ; n++) {
    try {
      await beforeDeadline(attempt(), deadline);
      if (done()) return true;
    } catch {
      // tried again below, until the deadline
    }
    const wait = Math.min(RETRY_BASE_MS * 2 ** n, RETRY_MAX_MS);
    if (Date.now() + wait + RETRY_BASE_MS >= deadline) return false;
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** `p`, or a rejection once `deadline` (ms epoch) has passed. */
function beforeDeadline<T>(p: Promise<T>, deadline: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the run store did not answer in time")), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** An error's message, naming a full disk plainly (SQLite says "database or disk is full"). */
export function diskFull(err: unknown): string {
  const message = (err as Error)?.message ?? String(err);
  const code = (err as { code?: string })?.code ?? (err as { cause?: { code?: string } })?.cause?.code;
  if (/no space left on device/i.test(message)) return message;
  if (code === "SQLITE_FULL" || code === "ENOSPC" || /database or disk is full/i.test(message)) return `no space left on device (${message})`;
  return message;
}
