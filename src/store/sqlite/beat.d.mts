import type Database from "better-sqlite3";

/** Refresh these flow runs' heartbeat (`heartbeat = at`); returns their rows (`cols`), as they are now. */
export declare function beatRows(db: Database.Database, cols: string, ids: readonly string[], at: number): Record<string, unknown>[];
