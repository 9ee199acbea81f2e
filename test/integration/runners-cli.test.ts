// The pool runners under the real CLI, on a workflow file outside the package: the workers
// resolve `import "flowctl"` and load TypeScript as the launcher does, do not run the file's
// `isMain` block, and `flowctl run` exits as soon as the flow run is over.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../support/cli.ts";

const FIXTURE = fileURLToPath(new URL("../fixtures/runners/outside-workflow.ts", import.meta.url));

for (const runner of ["thread", "process"] as const) {
  test(`flowctl run with the ${runner} pool: a workflow outside the package runs its tasks in workers`, { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "flowctl-runners-cli-"));
    try {
      copyFileSync(FIXTURE, join(dir, "squares.ts"));
      const r = await runCli(["run", "squares.ts", "--param", "n=3", "--json"], { home: join(dir, "home"), cwd: dir, env: { RUNNER: runner } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Task run 'square-2' - Finished in state Completed\(\)/);
      assert.match(r.stderr, /INFO {4}\| Task run 'shout-0' - shouting DONE/);
      assert.match(r.stderr, /Task run 'spin-0' - Finished in state TimedOut\('Task run exceeded timeout of 1 second\(s\)', type=FAILED\)/);
      assert.doesNotMatch(r.stdout + r.stderr, /\[1,4,9,16\]/, "the isMain block ran in a worker");
      const out = JSON.parse(r.stdout) as { result?: unknown };
      assert.deepEqual(out.result, { values: [1, 4, 9], spin: "TimedOut" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
