/**
 * Files that hold run history are private to the user: flowctl creates its folders 0700 and
 * its files 0600, and tightens ones an older flowctl (or a loose umask) left readable by others,
 * saying so once per path on stderr. A file that cannot be changed (not ours, read-only
 * filesystem) is left as it is: reading it still works.
 */
import { accessSync, chmodSync, closeSync, constants, mkdirSync, openSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

const noticed = new Set<string>();

/** Where notices go (stderr; tests may capture them). */
export const privacyNotices = { write: (line: string): void => void process.stderr.write(line) };

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, "0");
}

/** Make an existing file or folder private when others can read or write it; quiet otherwise. */
export function tighten(path: string, mode: number): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  if ((st.mode & 0o077) === 0) return;
  if (typeof process.getuid === "function" && st.uid !== process.getuid()) return;
  try {
    chmodSync(path, mode);
  } catch {
    return; // read-only filesystem or similar: nothing to do, reading still works
  }
  if (noticed.has(path)) return;
  noticed.add(path);
  privacyNotices.write(`flowctl: notice: ${path} was open to other users (mode ${octal(st.mode)}); made it private (${octal(mode)})\n`);
}

/**
 * Create `dir` (and missing parents) 0700; an existing `dir` is tightened when `tightenExisting`
 * (flowctl's own folders: PREFECT_HOME, the result storage), never a folder the user chose for
 * something else (the folder a store file was pointed into).
 */
export function ensurePrivateDir(dir: string, tightenExisting = true): void {
  const abs = resolve(dir);
  const made = mkdirSync(abs, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (made === undefined && tightenExisting) tighten(abs, PRIVATE_DIR_MODE);
}

/** Create `file` empty and 0600 when missing (its folder 0700 when missing); tighten it when present (unless told not to). */
export function ensurePrivateFile(file: string, tightenExisting = true): void {
  try {
    closeSync(openSync(file, "wx", PRIVATE_FILE_MODE));
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      ensurePrivateDir(dirname(file), false);
      closeSync(openSync(file, "wx", PRIVATE_FILE_MODE));
      return;
    }
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  if (tightenExisting) tighten(file, PRIVATE_FILE_MODE);
}

/** Make `home` (PREFECT_HOME) private when `inner` lives inside it: the store and results do. */
export function ensurePrivateHome(home: string, inner: string): void {
  const h = resolve(home);
  const i = resolve(inner);
  if (i === h || i.startsWith(h.endsWith(sep) ? h : h + sep)) ensurePrivateDir(h);
}

/**
 * Tighten an existing folder of flowctl's and, when it was open to others, the files in it
 * (older flowctl versions wrote them 0644). Creates nothing.
 */
export function tightenFolder(dir: string): void {
  let loose = false;
  try {
    loose = (statSync(dir).mode & 0o077) !== 0;
  } catch {
    return;
  }
  if (!loose) return;
  tighten(dir, PRIVATE_DIR_MODE);
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    try {
      if (statSync(file).isFile()) chmodSync(file, PRIVATE_FILE_MODE);
    } catch {
      // gone meanwhile, or not ours
    }
  }
}

/** Why a write failed, when it failed for want of write access (else undefined): `its file system is read-only`, `permission denied`. */
export function cannotWriteReason(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "EROFS") return "its file system is read-only";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  return undefined;
}

/**
 * Why the file `path` (existing or to be created, with files beside it such as SQLite's -wal)
 * could not be written, or undefined when it can: the file itself when it exists, and the
 * nearest existing folder on its way.
 */
export function unwritableReason(path: string): string | undefined {
  const targets: string[] = [];
  if (exists(path)) targets.push(path);
  let dir = dirname(resolve(path));
  while (!exists(dir) && dirname(dir) !== dir) dir = dirname(dir);
  targets.push(dir);
  for (const t of targets) {
    try {
      accessSync(t, constants.W_OK);
    } catch (err) {
      return cannotWriteReason(err) ?? (err as Error).message;
    }
  }
  return undefined;
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
