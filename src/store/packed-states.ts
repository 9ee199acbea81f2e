/**
 * A task run's states kept in its own row (`task_runs.states`, schema version 9), not as one
 * `run_states` row each. Writing three rows per task run (Pending, Running, Completed: six B-tree
 * inserts) was a third of the store's cost per task run; the history now rides along with the
 * row the run writes anyway.
 *
 * The text is a JSON array indexed by the state's seq. An entry is
 * `[type, name, timestamp]`, `[type, name, timestamp, message]` or
 * `[type, name, timestamp, message, scheduledTime]`; `null` where that state is a `run_states`
 * row instead (a state with error data, made as the error was when the state was set). Rows of
 * `run_states` of a task run are also what older flowctl versions wrote, and what another
 * process adds when it marks a dead run (liveness), numbered after the packed ones.
 */
import type { StateRow, StateType } from "./types.ts";

/** What `packStates` reads of a state (the engine's State, or a plain object in tests). */
export interface PackableState {
  readonly type: StateType;
  readonly name: string;
  /** ms since the epoch */
  readonly ts: number;
  readonly message?: string | undefined;
  readonly scheduledTime?: Date | undefined;
  /** a state with error data is a `run_states` row of its own (null here) */
  readonly error?: unknown;
}

/** The text for a task run's states; `storedMessage` gives what is stored of a message (cut, redacted). */
export function packStates(states: readonly PackableState[], storedMessage: (message: string) => string): string {
  let out = "[";
  for (let i = 0; i < states.length; i++) {
    if (i > 0) out += ",";
    const s = states[i]!;
    if (s.error !== undefined) {
      out += "null";
      continue;
    }
    out += `["${s.type}",${quotedName(s.name)},${s.ts}`;
    const m = s.message == null ? null : storedMessage(s.message);
    const at = s.scheduledTime ? s.scheduledTime.getTime() : null;
    if (m !== null || at !== null) out += `,${m === null ? "null" : JSON.stringify(m)}`;
    if (at !== null) out += `,${at}`;
    out += "]";
  }
  return out + "]";
}

/** State names as JSON strings: a handful of names (Pending, Running, Completed, …) over and over. */
const QUOTED = new Map<string, string>();

function quotedName(name: string): string {
  let q = QUOTED.get(name);
  if (q === undefined) {
    q = JSON.stringify(name);
    if (QUOTED.size < 256) QUOTED.set(name, q);
  }
  return q;
}

type Entry = [StateType, string, number, (string | null)?, (number | null)?] | null;

/** The states a packed text holds, as rows (entries that are `run_states` rows left out). */
export function unpackStates(runId: string, text: string | null | undefined): StateRow[] {
  if (!text) return [];
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  const out: StateRow[] = [];
  (list as Entry[]).forEach((e, seq) => {
    if (!Array.isArray(e)) return;
    out.push({
      runId,
      seq,
      runKind: "task",
      type: e[0],
      name: e[1],
      message: e[3] ?? null,
      timestamp: Number(e[2]),
      scheduledTime: e[4] == null ? null : Number(e[4]),
      error: null,
    });
  });
  return out;
}

/**
 * A run's states from both places, in seq order. Where both hold a state of the same seq, the
 * packed one wins: the run's own process wrote it, and a row there can only be another process's
 * guess that the run died, written before the run's own record arrived (a replayed journal).
 */
export function mergeStates(rows: readonly StateRow[], runId: string, packed: string | null | undefined): StateRow[] {
  const fromRow = unpackStates(runId, packed);
  if (fromRow.length === 0) return [...rows];
  const bySeq = new Map<number, StateRow>();
  for (const r of rows) bySeq.set(r.seq, r);
  for (const s of fromRow) bySeq.set(s.seq, s);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}
