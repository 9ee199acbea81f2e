/**
 * Caching across processes, through the real bin/flowctl: what one `flowctl run` stores the
 * next one hits, and two runs computing the same key at once leave one valid entry.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, runCli } from "../support/cli.ts";
import { SETTINGS } from "../../src/settings/schema.ts";
import { ResultStorage } from "../../src/results/storage.ts";
import { startStubGithub } from "../../workflows/lib/stub-github.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/caching/", import.meta.url));
const EXAMPLE = join(ROOT, "workflows", "cache_policies.ts");
const REPO_ISSUES = join(ROOT, "workflows", "repo_issues.ts");

// every setting but PREFECT_HOME (which runCli points at the sandbox) is cleared
const CLEAN_ENV = Object.fromEntries(
  SETTINGS.filter((s) => s.key !== "PREFECT_HOME").map((s) => [s.key, undefined]),
) as Record<string, string | undefined>;

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function sandbox() {
  const root = mkdtempSync(join(tmpdir(), "flowctl-cache-runs-"));
  roots.push(root);
  const home = join(root, "home");
  mkdirSync(home);
  const run = (args: string[], env: Record<string, string> = {}) => runCli(args, { home, env: { ...CLEAN_ENV, ...env } });
  // cache entries (the `runs` folder holds results kept for retries, not cache entries)
  const entries = () => readdirSync(join(home, "storage")).filter((f) => f !== "runs").sort();
  return { root, home, run, entries };
}

const finished = (stderr: string) => [...stderr.matchAll(/Task run '([^']+)' - Finished in state (\S+)/g)].map((m) => `${m[1]} ${m[2]}`);

describe("caching across flowctl runs", { concurrency: 2 }, () => {
  test("a second `flowctl run` hits what the first stored: bodies do not run, the result is the same", async () => {
    const s = sandbox();
    const a = await s.run(["run", join(FIXTURES, "counted.ts"), "--json"]);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(finished(a.stderr), ["square-0 Completed()", "label-0 Completed()"]);
    assert.match(a.stderr, /body ran: square\(3\)/);
    const b = await s.run(["run", join(FIXTURES, "counted.ts"), "--json"]);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(finished(b.stderr), ["square-0 Cached(type=COMPLETED)", "label-0 Cached(type=COMPLETED)"]);
    assert.doesNotMatch(b.stderr, /body ran/);
    const result = (out: string) => (JSON.parse(out) as { result: unknown }).result;
    assert.deepEqual(result(b.stdout), result(a.stdout));
    assert.deepEqual(result(a.stdout), { n: 3, square: 9, at: "2024-01-03T00:00:00.000Z", label: "#3" });

    const c = await s.run(["run", join(FIXTURES, "counted.ts"), "--param", "n=4"]);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(finished(c.stderr), ["square-0 Completed()", "label-0 Completed()"], "another input misses");
    assert.equal(s.entries().length, 4);
  });

  test("PREFECT_TASKS_REFRESH_CACHE=true in the environment: the second run computes again and overwrites", async () => {
    const s = sandbox();
    assert.equal((await s.run(["run", join(FIXTURES, "counted.ts")])).code, 0);
    const b = await s.run(["run", join(FIXTURES, "counted.ts")], { PREFECT_TASKS_REFRESH_CACHE: "true" });
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(finished(b.stderr), ["square-0 Completed()", "label-0 Completed()"]);
    assert.equal(s.entries().length, 2);
  });

  test("two runs computing the same key at once both run the task and leave one valid entry", async () => {
    const s = sandbox();
    const barrierDir = join(s.root, "barrier");
    mkdirSync(barrierDir);
    const env = { BARRIER_DIR: barrierDir, BARRIER_COUNT: "2" };
    const target = join(FIXTURES, "barrier.ts");
    const [a, b] = await Promise.all([s.run(["run", target, "--json"], env), s.run(["run", target, "--json"], env)]);
    for (const r of [a, b]) {
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(finished(r.stderr), ["compute-0 Completed()"], "both missed: neither could see the other's entry");
    }
    assert.equal(readdirSync(barrierDir).length, 2);
    const pids = [a, b].map((r) => (JSON.parse(r.stdout) as { result: { pid: number } }).result.pid);
    assert.notEqual(pids[0], pids[1]);

    const files = s.entries();
    assert.equal(files.length, 1, `one entry, no temp files: ${files.join(", ")}`);
    const [entry] = await new ResultStorage(join(s.home, "storage")).list();
    const stored = await new ResultStorage(join(s.home, "storage")).read(entry!.key);
    assert.ok(stored, "the entry left behind is valid");
    assert.ok(pids.includes((stored.value as { pid: number }).pid), "it is one of the two results, whole");

    const c = await s.run(["run", target, "--json"]);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(finished(c.stderr), ["compute-0 Cached(type=COMPLETED)"]);
    assert.deepEqual((JSON.parse(c.stdout) as { result: unknown }).result, {
      pid: (stored.value as { pid: number }).pid,
      n: 1,
      size: 256 * 1024,
    });
  });

  test("workflows/repo_issues.ts twice on one PREFECT_HOME: every getUrl run of the second is Cached and the API sees no request", async () => {
    const s = sandbox();
    // the example's own offline stand-in listens on a new port each run, which is part of every
    // URL and so of every taskInputHash key; one stand-in for both runs keeps the URLs equal
    const stub = await startStubGithub({ delayMs: 20 });
    try {
      const args = ["run", REPO_ISSUES, "--param", `apiUrl=${stub.url}`];
      const a = await s.run(args);
      assert.equal(a.code, 0, a.stderr);
      const firstRequests = stub.requests.length;
      assert.equal(firstRequests, 7, "the repository, then six pages of issues");
      assert.equal(finished(a.stderr).filter((l) => l.endsWith("Completed()")).length, 7);

      const b = await s.run(args);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(stub.requests.length, firstRequests, "the second run sent no request");
      const runs = finished(b.stderr);
      assert.equal(runs.length, 7);
      for (const line of runs) assert.match(line, /^getUrl-\d+ Cached\(type=COMPLETED\)$/);

      const printed = (stderr: string) => [...stderr.matchAll(/ - ((?:Stars|Forks|Average open issues per user)[^\n]*)/g)].map((m) => m[1]);
      assert.deepEqual(printed(a.stderr), ["Stars 🌠 : 12157", "Forks 🍴 : 1251", "Average open issues per user 💌 : 2.27"]);
      assert.deepEqual(printed(b.stderr), printed(a.stderr));
    } finally {
      await stub.close();
    }
  });

  test("workflows/cache_policies.ts: a hit on the repeated call, a miss on a new input; all hits the second time", async () => {
    const s = sandbox();
    const a = await s.run(["run", EXAMPLE, "--json"]);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(finished(a.stderr), ["slowSquare-0 Completed()", "slowSquare-1 Cached(type=COMPLETED)", "slowSquare-2 Completed()"]);
    assert.deepEqual((JSON.parse(a.stdout) as { result: unknown }).result, { results: [9, 9, 16], computed: 2 });
    const b = await s.run(["run", EXAMPLE, "--json"]);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(finished(b.stderr), ["slowSquare-0", "slowSquare-1", "slowSquare-2"].map((n) => `${n} Cached(type=COMPLETED)`));
    assert.deepEqual((JSON.parse(b.stdout) as { result: unknown }).result, { results: [9, 9, 16], computed: 0 });
    const ls = await s.run(["cache", "ls", "--json"]);
    assert.equal(ls.code, 0, ls.stderr);
    const entries = JSON.parse(ls.stdout) as { taskName: string; expires: string | null }[];
    assert.deepEqual(entries.map((e) => e.taskName), ["slowSquare", "slowSquare"]);
    assert.ok(entries.every((e) => e.expires !== null), "the example sets cacheExpiration");
  });
});
