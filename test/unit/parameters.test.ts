import { test } from "node:test";
import assert from "node:assert/strict";
import { bindArgs, parseParams } from "../../src/engine/parameters.ts";
import { kebabCase, randomRunName, RUN_NAME_SPACE } from "../../src/engine/names.ts";

test("positional parameters with literal defaults", () => {
  function myTask(name: string, limit = 100, flag = true, label = "a,b") {
    return [name, limit, flag, label];
  }
  const spec = parseParams(myTask);
  assert.deepEqual(spec.names, ["name", "limit", "flag", "label"]);
  assert.deepEqual(bindArgs(spec, ["marvin"]), { name: "marvin", limit: 100, flag: true, label: "a,b" });
  assert.deepEqual(bindArgs(spec, ["x", 5]), { name: "x", limit: 5, flag: true, label: "a,b" });
});

test("a single destructured object maps to its keys, defaults included", () => {
  const fn = async function getRepoInfo({ repoName = "PrefectHQ/prefect", verbose = false }: { repoName?: string; verbose?: boolean } = {}) {
    return [repoName, verbose];
  };
  const spec = parseParams(fn);
  assert.deepEqual(spec.objectKeys, ["repoName", "verbose"]);
  assert.deepEqual(bindArgs(spec, []), { repoName: "PrefectHQ/prefect", verbose: false });
  assert.deepEqual(bindArgs(spec, [{ repoName: "a/b" }]), { repoName: "a/b", verbose: false });
  assert.deepEqual(bindArgs(spec, [{ verbose: true }]), { repoName: "PrefectHQ/prefect", verbose: true });
});

test("arrows, rest parameters, methods, comments and non-literal defaults", () => {
  assert.deepEqual(parseParams((a: number, b: number) => a + b).names, ["a", "b"]);
  assert.deepEqual(parseParams((x: number) => x).names, ["x"]);
  const rest = parseParams((first: number, ...more: number[]) => first + more.length);
  assert.equal(rest.rest, "more");
  assert.deepEqual(bindArgs(rest, [1, 2, 3]), { first: 1, more: [2, 3] });
  const obj = { method(/* a comment, with comma */ a: string, b = new Date(0)) { return [a, b]; } };
  const m = parseParams(obj.method);
  assert.deepEqual(m.names, ["a", "b"]);
  assert.equal(m.defaults.has("b"), false); // not a literal
  assert.deepEqual(parseParams(function () {}).names, []);
});

test("flow names are kebab case; run names are adjective-adjective-animal", () => {
  assert.equal(kebabCase("getRepoInfo"), "get-repo-info");
  assert.equal(kebabCase("get_repo_info"), "get-repo-info");
  assert.equal(kebabCase("ETLJob"), "etl-job");
  assert.equal(kebabCase("hello"), "hello");
  for (let i = 0; i < 20; i++) assert.match(randomRunName(), /^[a-z]+-[a-z]+-[a-z]+$/);
  assert.ok(RUN_NAME_SPACE >= 10_000_000, `${RUN_NAME_SPACE} names`);
  const seen = new Set(Array.from({ length: 2000 }, () => randomRunName()));
  assert.ok(seen.size >= 1995, `${2000 - seen.size} duplicates among 2,000 names`);
});

test("parameters renamed by the TypeScript transform get their own names back", async () => {
  const mod = await import("../fixtures/params/shadowing.ts");
  const { useTempHome, flushedStore } = await import("../support/home.ts");
  const def = (mod.greet as unknown as { definition: { params: { names: string[] } } }).definition;
  assert.deepEqual(def.params.names, ["name", "limit", "limit2"]);
  const home = await useTempHome();
  try {
    assert.equal(await mod.shadowFlow({ name: "x" }), "x:100:1");
    const store = await flushedStore();
    const run = await store.getTaskRun("greet-0");
    assert.deepEqual(JSON.parse(run!.parameters), { name: "x", limit: 100, limit2: 1 });
  } finally {
    await home.cleanup();
  }
});
