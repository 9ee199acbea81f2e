/**
 * A batch of the store writer (`writer.ts`) before its rows are made, and one handed to the
 * store that is not acknowledged yet (kept as its parts, its rows made again only if needed).
 */
import type { FlowRunRow, InputRow, KeptResultRow, LogRow, StateRow, TaskRunRow, WriteBatch } from "./types.ts";

export interface Persistable<R> {
  readonly id: string;
  toRow(): R;
}

/** A run whose state rows the writer makes when it needs them (`addStateOf`): a run record. */
export interface StateSource {
  stateRow(seq: number): StateRow;
}

/**
 * What a batch is made of before its rows are: the runs whose rows it takes (made from them), its
 * states as (source, seq) pairs (or (row, -1)), the rows of the other kinds, and how many rows.
 */
export interface BatchParts {
  flowRuns: Map<string, Persistable<FlowRunRow>>;
  taskRuns: Map<string, Persistable<TaskRunRow>>;
  states: unknown[];
  inputs: InputRow[];
  logs: LogRow[];
  results: KeptResultRow[];
  rows: number;
  /** rows of a failed write among them (`WriteBatch.resent`) */
  resent?: boolean;
}

function stateRows(pairs: readonly unknown[]): StateRow[] {
  const out: StateRow[] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const seq = pairs[i + 1] as number;
    out.push(seq < 0 ? (pairs[i] as StateRow) : (pairs[i] as StateSource).stateRow(seq));
  }
  return out;
}

/** The rows of a batch, made now: a run's row is its snapshot now, its states as they were. */
export function batchOf(parts: BatchParts): WriteBatch {
  return {
    flowRuns: Array.from(parts.flowRuns.values(), (r) => r.toRow()),
    taskRuns: Array.from(parts.taskRuns.values(), (r) => r.toRow()),
    states: stateRows(parts.states),
    inputs: parts.inputs,
    logs: parts.logs,
    results: parts.results,
    ...(parts.resent ? { resent: true } : {}),
  };
}

/**
 * A batch handed to the store and not acknowledged yet. It is kept as its parts, not its rows:
 * the rows would be kept until the store answers, long enough for V8 to move them to the old
 * generation, where they stay as garbage until a full GC (a `.map` of 100,000 runs made ~80 MB
 * of it). Its rows are made again only if they are needed (a failed write, the process's end);
 * a run's row then is its snapshot then (the newest, which the store's upsert keeps anyway).
 */
export class UnackedBatch {
  private made: WriteBatch | undefined;

  constructor(private readonly parts: BatchParts) {}

  get rows(): number {
    return this.parts.rows;
  }

  /** Its rows (made once: the same batch each time, as the journal keeper tells batches apart). */
  batch(): WriteBatch {
    return (this.made ??= batchOf(this.parts));
  }
}

export function batchRows(b: WriteBatch): number {
  return b.flowRuns.length + b.taskRuns.length + b.states.length + b.inputs.length + b.logs.length + (b.results?.length ?? 0);
}
