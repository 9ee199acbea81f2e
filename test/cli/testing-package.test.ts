/**
 * flowctl/testing as a user's project gets it: the compiled dist/ (no `flowctl-source`
 * condition), its .d.ts type-checked by a strict project without skipLibCheck, and run by
 * plain Node without any TypeScript loader.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("a strict project type-checks against flowctl/testing's .d.ts and runs it compiled", { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-testing-consumer-"));
  try {
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(ROOT, join(dir, "node_modules", "flowctl"), "dir");
    symlinkSync(join(ROOT, "node_modules", "@types"), join(dir, "node_modules", "@types"), "dir");
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { target: "ES2022", module: "nodenext", moduleResolution: "nodenext", strict: true, skipLibCheck: false, types: ["node"], outDir: "out" },
        include: ["check.ts"],
      }),
    );
    writeFileSync(
      join(dir, "check.ts"),
      `import { flow, task } from "flowctl";
import { testHarness, type TaskRunView } from "flowctl/testing";
const add = task({ retries: 2, retryDelaySeconds: [1, 10] }, async function add(x: number) { return x + 1; });
const f = flow(async function f() { return add(1); });
const h = await testHarness();
const m = h.mock(add).failTimes(2);
const value: number = await h.run(() => f());
const first: number | undefined = m.calls[0]?.args[0];
const runs: TaskRunView[] = h.taskRuns({ task: add });
await h.clock.advance("5m");
process.stdout.write(JSON.stringify({ value, first, delays: runs[0]!.retryDelays, resolved: import.meta.resolve("flowctl/testing") }));
await h.close();
`,
    );
    const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", dir], { cwd: dir, encoding: "utf8" });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    const run = spawnSync(process.execPath, [join(dir, "out", "check.js")], { cwd: dir, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, "");
    const out = JSON.parse(run.stdout);
    assert.deepEqual({ ...out, resolved: undefined }, { value: 2, first: 1, delays: [1, 10], resolved: undefined });
    assert.match(out.resolved, /\/dist\/testing\/index\.js$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
