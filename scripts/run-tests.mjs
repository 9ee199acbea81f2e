#!/usr/bin/env node
// Runs every test file under test/ (and the example tests in workflows/) with Node's own test
// runner, TypeScript through tsx.
// `node scripts/run-tests.mjs [dir-or-file ...]` narrows the run.
// It builds dist/ first (incremental): CLI tests spawn bin/flowctl, which runs the compiled
// code. Test processes themselves import the sources: the `flowctl-source` export condition
// makes `import "flowctl"` (in fixtures) resolve to src/index.ts, the copy the tests import.
// Files named `*.serial.test.ts` stop or starve shared services (PostgreSQL, Redis) or the
// machine: they run after the others, one at a time, so no other test sees the outage.
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const targets = process.argv.slice(2);
const roots = targets.length ? targets : ["test", "workflows"];

function collect(path, out) {
  const st = statSync(path);
  if (st.isDirectory()) {
    for (const name of readdirSync(path).sort()) {
      if (name === "fixtures" || name === "node_modules") continue;
      collect(join(path, name), out);
    }
  } else if (/\.test\.(ts|mts|js|mjs)$/.test(path)) {
    out.push(path);
  }
  return out;
}

const files = roots.flatMap((r) => collect(join(root, r), [])).map((f) => relative(root, f));
if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
const build = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { cwd: root, stdio: "inherit" });
if (build.status !== 0) {
  console.error("run-tests: the build failed; no tests run");
  process.exit(build.status ?? 1);
}

const isSerial = (f) => /\.serial\.test\.[mc]?[jt]s$/.test(f);
const env = { ...process.env, NO_COLOR: "1" };
delete env.FORCE_COLOR;

function runPhase(list, concurrency) {
  if (list.length === 0) return 0;
  const res = spawnSync(
    process.execPath,
    ["--conditions=flowctl-source", "--import", "tsx", "--test", `--test-concurrency=${concurrency}`, "--test-reporter=spec", ...list],
    { cwd: root, stdio: "inherit", env },
  );
  return res.status ?? 1;
}

const parallel = runPhase(files.filter((f) => !isSerial(f)), process.env.TEST_CONCURRENCY ?? "2");
const serial = runPhase(files.filter(isSerial), "1");
process.exit(parallel || serial);
