import type Database from "better-sqlite3";
import type { WriteBatch } from "../types.ts";

export declare const FLOW_COLS: string;
export declare const TASK_COLS: string;
/** TASK_COLS and the packed states (written, not read back with the row) */
export declare const TASK_WRITE_COLS: string;
/** A batch as it crosses to the write thread: each kind of row as one flat array of column values. */
export interface PackedBatch {
  flowRuns: unknown[];
  taskRuns: unknown[];
  states: unknown[];
  inputs: unknown[];
  logs: unknown[];
  results: unknown[];
  /** rows replayed from the journal (WriteBatch.replayed) */
  replayed: boolean;
  /** rows sent again after a failed write (WriteBatch.resent): log lines deduplicated */
  resent: boolean;
}
export declare function packBatch(batch: WriteBatch): PackedBatch;
/** One IMMEDIATE transaction per batch (or per list of batches, `many`, their rows merged), on this connection. */
export declare function createBatchWriter(db: Database.Database): ((packed: PackedBatch) => void) & { many(list: PackedBatch[]): void };
/** The task-run rows of several packed batches, one row per run (its latest); the list itself when no run repeats. */
export declare function collapseTaskRows(list: PackedBatch[]): PackedBatch[] | { taskRuns: unknown[] }[];
