import type Database from "better-sqlite3";

/** ms a call waits on another process's lock before saying who holds it. */
export declare const LOCK_NOTICE_MS: number;
export declare const LOCK_SETTING: string;
export declare function lockHolders(path: string): { pid: number; command: string | undefined }[];
export declare function holderText(path: string): string;
export declare function lockedError(path: string, timeoutMs: number, holder?: string): Error & { code: "STORE_LOCKED" };
export declare const lockNotices: { write(line: string): void };
/** Run `fn` waiting at most `timeoutMs` for `path`'s lock, saying who holds it after LOCK_NOTICE_MS. */
/** Run `fn` again while SQLite answers SQLITE_BUSY at once (a change of journal mode), for at most `timeoutMs`. */
export declare function retryWhileBusy<T>(path: string, timeoutMs: number, fn: () => T): T;
export declare function lockedCall<T>(db: Database.Database, path: string, timeoutMs: number, fn: () => T): T;
