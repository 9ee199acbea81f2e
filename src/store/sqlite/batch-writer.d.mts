import type Database from "better-sqlite3";
import type { WriteBatch } from "../types.ts";

export declare const FLOW_COLS: string;
export declare const TASK_COLS: string;
/** One IMMEDIATE transaction per batch, on this connection. */
export declare function createBatchWriter(db: Database.Database): (batch: WriteBatch) => void;
