/**
 * A failed task's traceback, as its ERROR line shows it: the error's stack with the user's
 * frames (a frame repeated, as a recursion's are, shown once with its count), flowctl's own
 * frames and Node's internals folded into one line each run, then its
 * `cause` chain (`Caused by: …`), each cause with its frames the same way.
 *
 * The stack is V8's text (the error was made by user code, before flowctl saw it), so it is
 * parsed frame by frame: a frame is a line `    at …`; its location is the last parenthesised
 * part, or the rest of the line; `file://` URLs are read as paths. A frame is folded when its
 * location is a Node internal (`node:…`, `native`, `<anonymous>`) or a file of flowctl itself.
 * With `full` (`--debug`) every frame is shown.
 */
import { fileURLToPath } from "node:url";
import { sep } from "node:path";
import { errorTitle } from "../errors.ts";

/** flowctl's own files: src/ (run from source) or dist/ (compiled), and its dependencies */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const OWN = [`${ROOT}src${sep}`, `${ROOT}dist${sep}`, `${ROOT}node_modules${sep}`];

let fullByDefault = false;

/** `--debug`: tracebacks show every frame. */
export function setFullTracebacks(full: boolean): void {
  fullByDefault = full;
}

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  stack?: unknown;
  cause?: unknown;
}

/** The traceback lines for `error` (no trailing newline); "" when it has no stack. */
export function formatTraceback(error: unknown, full = fullByDefault): string {
  const out: string[] = [];
  const seen = new Set<unknown>();
  let e: unknown = error;
  for (let depth = 0; e !== undefined && e !== null && depth < 8 && !seen.has(e); depth++) {
    seen.add(e);
    const err = e as ErrorLike;
    const head = typeof err === "object" ? errorTitle(err) : String(err);
    if (depth > 0) out.push(`Caused by: ${head}`);
    if (typeof err === "object" && typeof err.stack === "string") out.push(...frames(err.stack, full));
    e = typeof err === "object" ? err.cause : undefined;
  }
  return out.join("\n");
}

function frames(stack: string, full: boolean): string[] {
  const out: string[] = [];
  let folded = 0;
  // a recursion's frames, one the same as the next (a stack overflow shows ten of them): said once
  let last: string | undefined;
  let repeats = 0;
  const flushRepeats = () => {
    if (repeats > 0) out.push(`    … the same frame ${repeats} more time${repeats === 1 ? "" : "s"}`);
    repeats = 0;
  };
  const flush = () => {
    flushRepeats();
    if (folded > 0) out.push(`    … ${folded} flowctl/node frame${folded === 1 ? "" : "s"} (--debug shows them)`);
    folded = 0;
  };
  for (const line of stack.split("\n")) {
    const m = /^\s+at (.*)$/.exec(line);
    if (!m) continue;
    if (full || !isInternal(location(m[1]!))) {
      if (!full && m[1] === last) {
        repeats++;
        continue;
      }
      flush();
      out.push(`    at ${m[1]}`);
      last = m[1];
    } else {
      flushRepeats();
      folded++;
      last = undefined;
    }
  }
  flush();
  return out;
}

/** Where the first frame of `stack` that is neither Node's nor flowctl's points (`file:line:col`). */
export function firstUserFrame(stack: string): string | undefined {
  for (const line of stack.split("\n")) {
    const m = /^\s+at (.*)$/.exec(line);
    if (!m) continue;
    const loc = location(m[1]!);
    if (!isInternal(loc)) return loc;
  }
  return undefined;
}

/** `fn (file:1:2)` → `file:1:2`; `file:1:2` → itself; `async fn (…)` likewise. */
function location(frame: string): string {
  if (frame.endsWith(")")) {
    let depth = 0;
    for (let i = frame.length - 1; i >= 0; i--) {
      if (frame[i] === ")") depth++;
      else if (frame[i] === "(" && --depth === 0) return frame.slice(i + 1, -1);
    }
  }
  return frame.replace(/^async /, "");
}

function isInternal(loc: string): boolean {
  if (loc.startsWith("node:") || loc === "native" || loc.startsWith("<anonymous>") || loc.startsWith("eval at")) return true;
  let path = loc;
  if (loc.startsWith("file://")) {
    try {
      path = fileURLToPath(loc.replace(/(:\d+)+$/, ""));
    } catch {
      return false;
    }
  }
  return OWN.some((p) => path.startsWith(p));
}
