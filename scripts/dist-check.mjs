// In this repository's checkout, dist/ must be at least as new as src/: bin/flowctl and the
// tests' helpers refuse a missing or stale dist/ instead of running old code. `npm run build`
// (and scripts/run-tests.mjs, which builds first) brings it up to date. Not shipped: an
// installed package has no src/ to compare with.
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function newest(dir, best) {
  const st = statSync(dir);
  if (st.mtimeMs > best.mtime) Object.assign(best, { mtime: st.mtimeMs, path: dir });
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest(p, best);
    else {
      const m = statSync(p).mtimeMs;
      if (m > best.mtime) Object.assign(best, { mtime: m, path: p });
    }
  }
  return best;
}

/** Why dist/ cannot be used (one line), or undefined when it is up to date. */
export function distProblem(root = ROOT) {
  let built;
  try {
    built = statSync(join(root, "dist", ".build-stamp")).mtimeMs;
  } catch {
    return "dist/ is missing: run `npm run build` (npm install does it too)";
  }
  const last = newest(join(root, "src"), { mtime: 0, path: "" });
  for (const f of ["tsconfig.json", "tsconfig.build.json"]) {
    const m = statSync(join(root, f)).mtimeMs;
    if (m > last.mtime) Object.assign(last, { mtime: m, path: join(root, f) });
  }
  if (last.mtime > built) {
    return `dist/ is older than ${relative(root, last.path)}: run \`npm run build\` (scripts/run-tests.mjs builds before testing)`;
  }
  return undefined;
}
