/**
 * Flow parameters through the real CLI: Standard Schema flows (zod, valibot) with --param
 * coercion by declared type and every problem reported at once; positional flows bound by
 * name; unknown and forbidden names refused; `run FILE --help` / `inspect` list parameters.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { runCli } from "../support/cli.ts";

const ZOD = "test/fixtures/typed/zod.ts";
const VALIBOT = "test/fixtures/typed/valibot.ts";
const POS = "test/fixtures/typed/positional.ts";

function home() {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-params-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function flowRunCount(h: string): number {
  if (!existsSync(join(h, "flowctl.db"))) return 0;
  const db = new Database(join(h, "flowctl.db"));
  try {
    return (db.prepare("SELECT count(*) AS n FROM flow_runs").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

for (const [lib, file] of [["zod", ZOD], ["valibot", VALIBOT]] as const) {
  test(`${lib} schema: --param strings coerced by declared type, the function gets typed values, parameters recorded`, async () => {
    const h = home();
    try {
      const r = await runCli(
        ["run", file, "--param", "n=3", "--param", "version=1.10", "--param", "since=2024-01-02", "--param", "verbose=true", "--param", 'tags=["a","b"]', "--json"],
        { home: h.dir },
      );
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual(out.result.types, ["number", "string", "Date", "boolean"]);
      assert.equal(out.result.double, 6);
      assert.equal(out.result.version, "1.10");
      assert.equal(out.result.since, "2024-01-02T00:00:00.000Z");
      assert.deepEqual(out.result.tags, ["a", "b"]);
      assert.deepEqual(out.parameters, { n: 3, version: "1.10", since: "2024-01-02T00:00:00.000Z", verbose: true, tags: ["a", "b"] });
      // defaults come from the schema
      const d = await runCli(["run", file, "--params", '{"n": 1, "version": "2"}', "--json"], { home: h.dir });
      assert.equal(d.code, 0, d.stderr);
      assert.deepEqual(JSON.parse(d.stdout).parameters, { n: 1, version: "2", verbose: false, tags: [] });
    } finally {
      h.cleanup();
    }
  });

  test(`${lib} schema: bad parameters → exit 2, every problem on one line, nothing run or written`, async () => {
    const h = home();
    try {
      const r = await runCli(["run", file, "--param", "n=abc", "--param", "since=someday", "--param", "verbose=maybe", "--param", "bogus=1", "--param", "__proto__=1"], { home: h.dir });
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      const line = lines[0]!;
      assert.match(line, /^flowctl: error: Invalid parameters for flow 'report' \(\d+ problems\): /);
      assert.match(line, /'bogus': flow 'report' has no parameter 'bogus'; its parameters: n, version, since, verbose, tags/);
      assert.match(line, /'__proto__': '__proto__' is not allowed as a parameter name/);
      assert.match(line, /'n': [^;]*[Ee]xpected number[^;]*\(got "abc"\)/);
      assert.match(line, /'since': [^;]*[Ee]xpected [Dd]ate[^;]*\(got "someday"\)/);
      assert.match(line, /'verbose': [^;]*[Ee]xpected boolean[^;]*\(got "maybe"\)/);
      assert.match(line, /'version': /); // required and missing
      assert.equal(r.stdout, "");
      assert.equal(flowRunCount(h.dir), 0);
    } finally {
      h.cleanup();
    }
  });

  test(`${lib} schema: run FILE --help and inspect list the parameters`, async () => {
    const h = home();
    try {
      for (const args of [["run", file, "--help"], ["inspect", file]]) {
        const r = await runCli(args, { home: h.dir });
        assert.equal(r.code, 0, r.stderr);
        const rows = r.stdout.split("\n").map((l) => l.split("│").map((c) => c.trim()).filter(Boolean));
        const row = (name: string) => rows.find((cells) => cells[0] === name);
        assert.deepEqual(row("n"), ["n", "integer", "(required)", "how many rows"]);
        assert.deepEqual(row("version"), ["version", "string", "(required)", "the release, as written"]);
        assert.deepEqual(row("since")?.slice(0, 3), ["since", "date", "-"]);
        assert.deepEqual(row("verbose"), ["verbose", "boolean", "false"]);
        assert.deepEqual(row("tags"), ["tags", "array", "[]"]);
      }
      const j = await runCli(["inspect", file, "--json"], { home: h.dir });
      const flows = JSON.parse(j.stdout).flows;
      assert.equal(flows[0].name, "report");
      assert.deepEqual(flows[0].parameters[0], { name: "n", type: "integer", required: true, description: "how many rows" });
    } finally {
      h.cleanup();
    }
  });
}

test("positional flows: --param binds to the declared names; recorded parameters map names to values", async () => {
  const h = home();
  try {
    const add = await runCli(["run", `${POS}:add`, "--param", "x=1", "--param", "y=2", "--json"], { home: h.dir });
    assert.equal(add.code, 0, add.stderr);
    const out = JSON.parse(add.stdout);
    assert.equal(out.result, 3);
    assert.deepEqual(out.parameters, { x: 1, y: 2 });
    const greet = await runCli(["run", `${POS}:greet`, "--param", "name=bob", "--param", 'extra=["a","b"]', "--json"], { home: h.dir });
    assert.equal(JSON.parse(greet.stdout).result, "hello bob!a b");
    assert.deepEqual(JSON.parse(greet.stdout).parameters, { name: "bob", punctuation: "!", extra: ["a", "b"] });
    // without a schema: JSON when it parses, else the string
    const v = await runCli(["run", `${POS}:greet`, "--param", "name=1.10", "--param", "punctuation=?", "--json"], { home: h.dir });
    assert.deepEqual(JSON.parse(v.stdout).parameters, { name: 1.1, punctuation: "?", extra: [] });
    // a class method flow called from another
    const cls = await runCli(["run", `${POS}:viaClass`, "--param", "x=5", "--json"], { home: h.dir });
    assert.equal(JSON.parse(cls.stdout).result, 15);
  } finally {
    h.cleanup();
  }
});

test("unknown names are refused for every flow, including one taking none; __proto__/constructor/prototype never pass", async () => {
  const h = home();
  try {
    const cases: [string[], RegExp][] = [
      [["run", `${POS}:noParams`, "--param", "x=1"], /'x': flow 'no-params' has no parameter 'x'; it takes no parameters$/],
      [["run", `${POS}:add`, "--param", "x=1", "--param", "z=2"], /'z': flow 'add' has no parameter 'z'; its parameters: x, y$/],
      [["run", `${POS}:add`, "--params", '{"__proto__": {"x": 5}}'], /'__proto__': '__proto__' is not allowed as a parameter name$/],
      [["run", `${POS}:greet`, "--param", "constructor=1", "--param", "prototype=2"], /'constructor': .*not allowed.*; 'prototype': .*not allowed/],
      [["run", `${POS}:greet`, "--params", '{"name": {"__proto__": {"polluted": true}}}'], /'name': '__proto__' is not allowed as a key$/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args, { home: h.dir });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr.trim(), re);
    }
    assert.equal(flowRunCount(h.dir), 0);
  } finally {
    h.cleanup();
  }
});

test("the seed's generate_task_name: runtime.taskRun and runtime.flowRun are filled while naming", async () => {
  const h = home();
  try {
    const r = await runCli(["run", "workflows/task_run_names.ts"], { home: h.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Created task run 'my-flow-my-example-task-with-marvin-and-100' for task 'my-example-task'/);
    assert.match(r.stderr, /Created task run '(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)-is-a-lovely-day' for task 'My Example Task'/);
  } finally {
    h.cleanup();
  }
});
