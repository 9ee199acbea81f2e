/**
 * Every usage, loading, parameter and setting error (exit 2) is found before the store is
 * opened or created: PREFECT_HOME is left exactly as it was (its listing, sizes and times), for
 * a fresh home and for one that already holds a store. Through the real bin/flowctl.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../support/cli.ts";

const root = mkdtempSync(join(tmpdir(), "flowctl-exit2-"));
const f = (name: string, text: string) => (writeFileSync(join(root, name), text), join(root, name));
const one = f("one.ts", `import { flow } from "flowctl";\nexport const one = flow(async function one({ n = 1 }: { n?: number } = {}) { return n; });\n`);
const two = f("two.ts", `import { flow } from "flowctl";\nexport const a = flow(async function a() {});\nexport const b = flow(async function b() {});\n`);
const none = f("none.ts", `export const x = 1;\n`);
const broken = f("broken.ts", `import { flow } from "flowctl";\nexport const x = flow(async function x( { return 1; });\n`);
const throws = f("throws.ts", `throw new Error("cannot start");\n`);
const throwsText = f("throws-text.ts", `throw "plain text";\n`);
const missing = join(root, "missing.ts");

const CASES: [string, string[], Record<string, string>?][] = [
  ["run: missing file", ["run", missing]],
  ["run: syntax error", ["run", broken]],
  ["run: no flow in file", ["run", none]],
  ["run: unknown flow name", ["run", `${one}:nope`]],
  ["run: several flows, none named", ["run", two]],
  ["run: module throws at import", ["run", throws]],
  ["run: module throws a string at import", ["run", throwsText]],
  ["run: --param without =", ["run", one, "--param", "n"]],
  ["run: --params not JSON", ["run", one, "--params", "{bad"]],
  ["run: --params an array", ["run", one, "--params", "[1]"]],
  ["run: unknown parameter", ["run", one, "--param", "m=1"]],
  ["run: bad --log-level", ["run", one, "--log-level", "LOUD"]],
  ["run: unknown option", ["run", one, "--bogus"]],
  ["run: no target", ["run"]],
  ["run: bad setting in env", ["run", one], { PREFECT_TASK_DEFAULT_RETRIES: "-1" }],
  ["run: unsupported store URL", ["run", one], { PREFECT_API_DATABASE_CONNECTION_URL: "mysql://h/db" }],
  ["runs inspect: unknown run", ["runs", "inspect", "no-such-run"]],
  ["runs logs: unknown run", ["runs", "logs", "no-such-run"]],
  ["runs logs: bad --level", ["runs", "logs", "x", "--level", "LOUD"]],
  ["runs ls: bad --limit", ["runs", "ls", "--limit", "0"]],
  ["runs prune: bad duration", ["runs", "prune", "--older-than", "soon"]],
  ["tasks ls: unknown flow run", ["tasks", "ls", "--flow-run", "no-such-run"]],
  ["concurrency-limit inspect: unknown tag", ["concurrency-limit", "inspect", "nope"]],
  ["concurrency-limit delete: unknown tag", ["concurrency-limit", "delete", "nope"]],
  ["concurrency-limit reset: unknown tag", ["concurrency-limit", "reset", "nope"]],
  ["concurrency-limit create: bad limit", ["concurrency-limit", "create", "db", "-1"]],
  ["config set: unknown key", ["config", "set", "PREFECT_NOPE=1"]],
  ["config set: bad value", ["config", "set", "PREFECT_TASK_DEFAULT_RETRIES=abc"]],
  ["unknown command", ["frobnicate"]],
  ["worker: missing file", ["worker", missing]],
  ["worker: bad queue", ["worker", one, "--queue", "a:b"]],
  ["server start: bad port", ["server", "start", "--port", "99999"]],
  ["server start: public host without auth", ["server", "start", "--host", "0.0.0.0"]],
  ["cache clear: unknown option", ["cache", "clear", "--bogus"]],
];

/** Every entry under `dir` with its size and modification time. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      // (-shm is SQLite's shared-memory index: every reader of a WAL store touches it)
      const mtime = name.endsWith("-shm") ? "" : st.mtimeMs;
      out.push(`${p.slice(dir.length)} ${st.isDirectory() ? "dir" : st.size} ${mtime} ${(st.mode & 0o777).toString(8)}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** The cases that reach the store's neighbourhood, for a home that already holds one. */
const NEAR_STORE = new Set(["run: unknown parameter", "run: module throws at import", "runs inspect: unknown run", "runs logs: unknown run", "tasks ls: unknown flow run", "concurrency-limit delete: unknown tag", "server start: bad port"]);

for (const state of ["a fresh home", "a home with a store"] as const) {
  const cases = state === "a fresh home" ? CASES : CASES.filter(([what]) => NEAR_STORE.has(what));
  test(`${cases.length} exit-2 cases leave ${state} untouched`, async () => {
    const home = join(root, state.replace(/ /g, "-"));
    mkdirSync(home, { mode: 0o700 });
    writeFileSync(join(home, "profile.json"), `{ "PREFECT_LOGGING_LEVEL": "INFO" }\n`, { mode: 0o600 });
    if (state === "a home with a store") assert.equal((await runCli(["run", one], { home, cwd: root })).code, 0);
    const before = snapshot(home);
    const failures: string[] = [];
    // a few at a time: the machine is shared
    for (let i = 0; i < cases.length; i += 4) {
      await Promise.all(
        cases.slice(i, i + 4).map(async ([what, args, env]) => {
          const r = await runCli(args, { home, cwd: root, env: env ?? {} });
          const lines = r.stderr.trim().split("\n");
          if (r.code !== 2) failures.push(`${what}: exit ${r.code}: ${r.stderr}`);
          else if (!lines.some((l) => /^(flowctl: )?error: /.test(l))) failures.push(`${what}: no error line: ${r.stderr}`);
        }),
      );
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(snapshot(home), before);
  });
}

test.after(() => rmSync(root, { recursive: true, force: true }));
