/**
 * The example test in workflows/ passes under vitest too (npm test runs it under Node's test
 * runner): vitest runs it in a child process, as a user would, with its cache off so nothing
 * is written.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("workflows/repo_info.test.ts passes under vitest", { timeout: 180_000 }, async () => {
  const cacheDir = join(ROOT, "node_modules/.vite");
  const hadCache = existsSync(cacheDir);
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, "node_modules/vitest/vitest.mjs"), "run", "workflows/repo_info.test.ts", "--cache=false", "--reporter=verbose", "--color=false"],
      { cwd: ROOT, env: { ...process.env, NO_COLOR: "1", CI: "1" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let text = "";
    child.stdout.on("data", (d) => (text += d));
    child.stderr.on("data", (d) => (text += d));
    child.on("error", reject);
    child.on("close", (c) => resolve({ code: c, out: text }));
  });
  assert.equal(code, 0, out);
  assert.match(out, /Tests\s+3 passed \(3\)/);
  for (const name of ["prints the repository's statistics", "a failing API is retried by the flow", "exit code 1 once the retries are spent"]) {
    assert.ok(out.includes(name), `${name} not in:\n${out}`);
  }
  if (!hadCache) assert.equal(existsSync(cacheDir), false, "vitest wrote no cache");
});
