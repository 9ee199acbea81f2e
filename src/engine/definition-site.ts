/**
 * Where a task or flow was defined: the module file of the code that called `task()`/`flow()`,
 * read from the stack at definition time, as a path relative to its project (the nearest
 * folder with a package.json), so that task keys are the same on every machine.
 */
import { existsSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

// flowctl's own frames: its sources and its compiled tree (whose frames show as sources when
// source maps are on)
const ownDirs = ["../../src/", "../../dist/"].map((p) => fileURLToPath(new URL(p, import.meta.url)));
const FRAME = /(?:\(|at )((?:file:\/\/)?\/[^()]*?|[A-Za-z]:\\[^()]*?):\d+:\d+\)?$/;

/** Absolute path of the first module on the stack outside flowctl's own sources. */
export function definingFile(): string | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 25;
  const stack = new Error().stack ?? "";
  Error.stackTraceLimit = limit;
  for (const line of stack.split("\n").slice(1)) {
    const m = FRAME.exec(line.trim());
    if (!m) continue;
    let file = m[1]!;
    if (file.startsWith("file://")) {
      try {
        file = fileURLToPath(file);
      } catch {
        continue;
      }
    }
    if (ownDirs.some((d) => file.startsWith(d)) || file.includes(`${sep}node_modules${sep}`)) continue;
    return file;
  }
  return undefined;
}

const roots = new Map<string, string>();

/** The nearest folder holding a package.json (module ids are relative to it); `dir` if none. */
export function projectRoot(dir: string): string {
  const hit = roots.get(dir);
  if (hit !== undefined) return hit;
  let d = dir;
  for (;;) {
    if (existsSync(join(d, "package.json"))) break;
    const up = dirname(d);
    if (up === d) {
      d = dir;
      break;
    }
    d = up;
  }
  roots.set(dir, d);
  return d;
}

/** `workflows/etl.ts` for a file inside a project; the absolute path otherwise. */
export function moduleId(file: string | undefined): string {
  if (!file) return "<unknown>";
  const rel = relative(projectRoot(dirname(file)), file);
  return rel.split(sep).join("/");
}
