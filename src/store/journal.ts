/**
 * The local journal: rows the batched writer could not get into the run store before the
 * process ended (the store unreachable, PostgreSQL restarting), kept under PREFECT_HOME until a
 * later flowctl command reaches the store and replays them.
 *
 * One file per store, `PREFECT_HOME/journal/<hash of the store's location>.jsonl`, private
 * (0600 in a 0700 folder), append-only: one write batch per line, as JSON. A line cut short
 * (the process died mid-write, a full disk) is skipped when reading, and the next append starts
 * on a line of its own. Replaying is idempotent (`WriteBatch.replayed`: upserts that keep what
 * the store holds already), so a batch written twice — once before the store stopped answering,
 * once from the journal — changes nothing the second time, and a final state stays final.
 *
 * Replay claims the file first (an atomic rename to `….replaying-<pid>`), so two commands never
 * replay the same lines; it records how far it got beside the claimed file after each batch, so
 * a replay cut short resumes where it stopped; lines the store refused go back to the journal.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { FlowctlError } from "../errors.ts";
import { ensurePrivateDir, PRIVATE_FILE_MODE } from "../private-files.ts";
import type { KeptResultRow, RunStore, WriteBatch } from "./types.ts";

/** What waits in a journal, or what a replay wrote. */
export interface JournalCounts {
  batches: number;
  flowRuns: number;
  taskRuns: number;
  states: number;
  logs: number;
}

interface Line {
  v: 1;
  store: string;
  at: number;
  batch: WriteBatch;
}

const EMPTY = (): JournalCounts => ({ batches: 0, flowRuns: 0, taskRuns: 0, states: 0, logs: 0 });

export class Journal {
  /** `home`: PREFECT_HOME; `store`: the store's printable location (one journal per store). */
  constructor(
    readonly home: string,
    readonly store: string,
    readonly path = join(home, "journal", `${createHash("sha256").update(store).digest("hex").slice(0, 16)}.jsonl`),
  ) {}

  /**
   * Append these batches, synchronously (the process may be in its last moments), and sync the
   * file to disk. A failure (a full disk) is a STORE_ERROR naming the file.
   */
  append(batches: readonly WriteBatch[]): void {
    const lines = batches.filter((b) => !isEmpty(b)).map((batch) => JSON.stringify(encode({ v: 1, store: this.store, at: Date.now(), batch })));
    if (lines.length === 0) return;
    let fd: number | undefined;
    let start: number | undefined;
    try {
      ensurePrivateDir(dirname(this.path));
      fd = openSync(this.path, "a+", PRIVATE_FILE_MODE);
      const size = fstatSync(fd).size;
      let lead = "";
      if (size > 0) {
        // a torn last line (a write cut short) must not swallow the first of these
        const last = Buffer.alloc(1);
        readSync(fd, last, 0, 1, size - 1);
        if (last[0] !== 0x0a) lead = "\n";
      }
      start = size;
      const bytes = Buffer.from(`${lead}${lines.join("\n")}\n`);
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } catch (err) {
      // nothing half-written stays behind (a full disk gets its space back)
      if (fd !== undefined && start !== undefined) {
        try {
          ftruncateSync(fd, start);
        } catch {
          // the torn line is skipped when read
        }
      }
      throw new FlowctlError("STORE_ERROR", `Cannot write the run journal ${this.path}: ${(err as Error).message}`, { cause: err });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** What waits in the journal (claimed files of replays cut short included); undefined when nothing. */
  pending(): JournalCounts | undefined {
    const files = [this.path, ...this.claimedFiles()].filter((f) => existsSync(f));
    const c = countBatches(files.flatMap((file) => readLines(file, progressOf(file)).map((l) => l.batch)));
    return c.batches === 0 ? undefined : c;
  }

  /**
   * Write what waits in the journal to `store`, oldest first, and remove what was written.
   * Stops at the first batch the store refuses (those lines stay in the journal) and rethrows.
   */
  async replay(store: RunStore): Promise<JournalCounts> {
    const done = EMPTY();
    for (const file of [...this.claimedFiles().filter(claimIsOrphan), ...this.claim()]) {
      const lines = readLines(file, progressOf(file));
      try {
        for (const line of lines) {
          await store.writeBatch({ ...line.batch, replayed: true });
          writeFileSync(`${file}.done`, String(line.end), { mode: PRIVATE_FILE_MODE });
          add(done, line.batch);
        }
      } catch (err) {
        // what was not written goes back to the journal, for the next command
        const rest = lines.filter((l) => l.end > progressOf(file)).map((l) => l.batch);
        this.append(rest);
        rmSync(`${file}.done`, { force: true });
        rmSync(file, { force: true });
        throw err;
      }
      rmSync(`${file}.done`, { force: true });
      rmSync(file, { force: true });
    }
    return done;
  }

  /** Take the journal for this process (nothing when there is none). */
  private claim(): string[] {
    const claimed = `${this.path}.replaying-${process.pid}`;
    try {
      renameSync(this.path, claimed);
      return [claimed];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
  }

  private claimedFiles(): string[] {
    const prefix = `${basename(this.path)}.replaying-`;
    try {
      return readdirSync(dirname(this.path))
        .filter((f) => f.startsWith(prefix) && /^\d+$/.test(f.slice(prefix.length)))
        .map((f) => join(dirname(this.path), f));
    } catch {
      return [];
    }
  }
}

/** A claimed file whose replaying process is gone (it was cut short): anyone may resume it. */
function claimIsOrphan(file: string): boolean {
  const pid = Number(file.slice(file.lastIndexOf("-") + 1));
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "EPERM";
  }
}

function progressOf(file: string): number {
  try {
    return Number(readFileSync(`${file}.done`, "utf8")) || 0;
  } catch {
    return 0;
  }
}

/** The complete lines of a journal file after byte `from`, with the byte offset each ends at. */
function readLines(file: string, from: number): { batch: WriteBatch; end: number }[] {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch {
    return [];
  }
  const out: { batch: WriteBatch; end: number }[] = [];
  let start = from;
  while (start < buf.length) {
    const nl = buf.indexOf(0x0a, start);
    // a last line without its newline was cut short: skipped (the next append starts a new line)
    if (nl < 0) break;
    const text = buf.subarray(start, nl).toString("utf8");
    start = nl + 1;
    if (!text.trim()) continue;
    try {
      const line = decode(JSON.parse(text) as Line);
      if (line.v === 1 && line.batch) out.push({ batch: line.batch, end: start });
    } catch {
      // a line torn by a crash and then followed by others: unreadable, skipped
    }
  }
  return out;
}

/** Batches, and the distinct runs and states in them. */
export function countBatches(batches: readonly WriteBatch[]): JournalCounts {
  const flowRuns = new Set<string>();
  const taskRuns = new Set<string>();
  const states = new Set<string>();
  let logs = 0;
  for (const batch of batches) {
    for (const r of batch.flowRuns) flowRuns.add(r.id);
    for (const r of batch.taskRuns) taskRuns.add(r.id);
    for (const s of batch.states) states.add(`${s.runId}\0${s.seq}`);
    logs += batch.logs.length;
  }
  return { batches: batches.length, flowRuns: flowRuns.size, taskRuns: taskRuns.size, states: states.size, logs };
}

function isEmpty(b: WriteBatch): boolean {
  return !b.flowRuns.length && !b.taskRuns.length && !b.states.length && !b.inputs.length && !b.logs.length && !(b.results?.length ?? 0);
}

function add(c: JournalCounts, b: WriteBatch): void {
  c.batches++;
  c.flowRuns += b.flowRuns.length;
  c.taskRuns += b.taskRuns.length;
  c.states += b.states.length;
  c.logs += b.logs.length;
}

type EncodedResult = Omit<KeptResultRow, "payload"> & { payload: string | null };

/** Kept results' payloads (bytes) as base64 text. */
function encode(line: Line): Line {
  const results = line.batch.results?.map((r) => ({ ...r, payload: r.payload === null ? null : Buffer.from(r.payload).toString("base64") }));
  return results ? { ...line, batch: { ...line.batch, results: results as unknown as KeptResultRow[] } } : line;
}

function decode(line: Line): Line {
  const results = line.batch?.results as unknown as EncodedResult[] | undefined;
  if (!results) return line;
  line.batch.results = results.map((r) => ({ ...r, payload: r.payload === null ? null : new Uint8Array(Buffer.from(r.payload, "base64")) }));
  return line;
}

/** `1 flow run and 4,212 task runs (12,640 states)`. */
export function describeCounts(c: JournalCounts): string {
  const n = (k: number, one: string, many: string) => `${k.toLocaleString("en-US")} ${k === 1 ? one : many}`;
  return `${n(c.flowRuns, "flow run", "flow runs")} and ${n(c.taskRuns, "task run", "task runs")} (${n(c.states, "state", "states")}, ${n(c.logs, "log line", "log lines")})`;
}
