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
 * Replay claims the file first (an atomic rename to `….replaying-<pid>.<n>`), so two commands
 * never replay the same lines; it records how far it got beside the claimed file after each batch,
 * so a replay cut short by the process's death resumes there; one the store refused gives the
 * file its name back.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, linkSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { FlowctlError } from "../errors.ts";
import { ensurePrivateDir, PRIVATE_FILE_MODE } from "../private-files.ts";
import type { KeptResultRow, RunStore, WriteBatch } from "./types.ts";
import { unpackStates } from "./packed-states.ts";

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

  /** Whether a journal file exists (cheap: nothing read). */
  exists(): boolean {
    return existsSync(this.path) || this.claimedFiles().length > 0;
  }

  /** What waits in the journal (claimed files of replays cut short included); undefined when nothing. */
  pending(): JournalCounts | undefined {
    const files = [this.path, ...this.claimedFiles()].filter((f) => existsSync(f));
    const c = countBatches((function* () {
      for (const file of files) for (const l of readLines(file, progressOf(file))) yield l.batch;
    })());
    return c.batches === 0 ? undefined : c;
  }

  /**
   * Write what waits in the journal to `store`, oldest first, and remove what was written.
   * Stops at the first batch the store refuses and rethrows: the rows stay in the journal. A replay
   * cut short by the process's death stays claimed, with how far it got; the next resumes there.
   */
  async replay(store: RunStore): Promise<JournalCounts> {
    const done = new Counter();
    for (const file of [...this.claimedFiles().filter(resumable), ...this.claim()]) {
      active.add(file);
      try {
        for (const line of readLines(file, progressOf(file))) {
          await store.writeBatch({ ...line.batch, replayed: true });
          writeFileSync(`${file}.done`, String(line.end), { mode: PRIVATE_FILE_MODE });
          done.add(line.batch);
        }
        rmSync(file, { force: true });
        rmSync(`${file}.done`, { force: true });
      } catch (err) {
        this.unclaim(file);
        throw err;
      } finally {
        active.delete(file);
      }
    }
    return done.counts();
  }

  /** Take the journal for this process (nothing when there is none). */
  private claim(): string[] {
    const claimed = `${this.path}.replaying-${process.pid}.${++claims}`;
    try {
      renameSync(this.path, claimed);
      return [claimed];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
  }

  /**
   * A replay the store stopped: the file gets the journal's name back, unless a new journal was
   * started meanwhile (then the claim stays, resumed by the next replay). It is written again from
   * its start next time: replay is idempotent.
   */
  private unclaim(file: string): void {
    try {
      linkSync(file, this.path); // fails if the name is taken: never replaces a newer journal
      rmSync(file, { force: true });
      rmSync(`${file}.done`, { force: true });
    } catch {
      // the claim stays
    }
  }

  private claimedFiles(): string[] {
    const prefix = `${basename(this.path)}.replaying-`;
    try {
      return readdirSync(dirname(this.path))
        .filter((f) => f.startsWith(prefix) && CLAIMED.test(f))
        .sort()
        .map((f) => join(dirname(this.path), f));
    } catch {
      return [];
    }
  }
}

const CLAIMED = /\.replaying-(\d+)\.\d+$/;
let claims = 0;
/** claimed files this process is replaying right now */
const active = new Set<string>();

/**
 * A claimed file nobody is replaying: its replay stopped (the store refused a batch) in this
 * process, or in one that is gone (killed mid-replay). A live process's claim is its own.
 */
function resumable(file: string): boolean {
  if (active.has(file)) return false;
  const pid = Number(CLAIMED.exec(file)?.[1]);
  if (pid === process.pid) return true;
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

/**
 * The complete lines of a journal file after byte `from`, with the byte offset each ends at,
 * read a chunk at a time (a journal kept through a long outage can be large).
 */
function* readLines(file: string, from: number): Generator<{ batch: WriteBatch; end: number }> {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return;
  }
  try {
    let carry = Buffer.alloc(0);
    let pos = from;
    const chunk = Buffer.alloc(1 << 20);
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, pos + carry.length);
      if (n === 0) break;
      let buf = Buffer.concat([carry, chunk.subarray(0, n)]);
      let start = 0;
      for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a, start)) {
        const text = buf.subarray(start, nl).toString("utf8");
        start = nl + 1;
        const line = parse(text);
        if (line) yield { batch: line.batch, end: pos + start };
      }
      pos += start;
      buf = buf.subarray(start);
      // a last line without its newline was cut short: never yielded (the next append starts a new line)
      carry = Buffer.from(buf);
    }
  } finally {
    closeSync(fd);
  }
}

function parse(text: string): Line | undefined {
  if (!text.trim()) return undefined;
  try {
    const line = decode(JSON.parse(text) as Line);
    return line.v === 1 && line.batch ? line : undefined;
  } catch {
    return undefined; // a line torn by a crash and then followed by others: unreadable, skipped
  }
}

/** Batches, and the distinct runs and states in them. */
export function countBatches(batches: Iterable<WriteBatch>): JournalCounts {
  const c = new Counter();
  for (const b of batches) c.add(b);
  return c.counts();
}

class Counter {
  private readonly flowRuns = new Set<string>();
  private readonly taskRuns = new Set<string>();
  private readonly states = new Set<string>();
  private logs = 0;
  private batches = 0;

  add(batch: WriteBatch): void {
    this.batches++;
    for (const r of batch.flowRuns) this.flowRuns.add(r.id);
    for (const r of batch.taskRuns) {
      this.taskRuns.add(r.id);
      // the states kept in its row (packed-states.ts)
      if (r.states) for (const s of unpackStates(r.id, r.states)) this.states.add(`${r.id}\0${s.seq}`);
    }
    for (const s of batch.states) this.states.add(`${s.runId}\0${s.seq}`);
    this.logs += batch.logs.length;
  }

  counts(): JournalCounts {
    return { batches: this.batches, flowRuns: this.flowRuns.size, taskRuns: this.taskRuns.size, states: this.states.size, logs: this.logs };
  }
}

function isEmpty(b: WriteBatch): boolean {
  return !b.flowRuns.length && !b.taskRuns.length && !b.states.length && !b.inputs.length && !b.logs.length && !(b.results?.length ?? 0);
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
