import { test } from "node:test";
import assert from "node:assert/strict";
import { flow, task, tags, runtime, getRunLogger, Completed, Failed } from "../../src/index.ts";
import { isFlowctlError } from "../../src/errors.ts";
import { useTempHome, flushedStore } from "../support/home.ts";

test("a flow runs its tasks and logs the seed's lines in order", async () => {
  const home = await useTempHome();
  try {
    const getUrl = task(async function getUrl(url: string) {
      return { url, stargazers_count: 7 };
    });
    const getRepoInfo = flow(async function getRepoInfo({ repoName = "PrefectHQ/prefect" }: { repoName?: string } = {}) {
      const stats = await getUrl(`https://example.invalid/repos/${repoName}`);
      getRunLogger().info(`Stars: ${stats.stargazers_count}`);
    });
    assert.equal(getRepoInfo.name, "get-repo-info");
    await getRepoInfo();
    const lines = home.lines();
    const flowRunName = /Created flow run '([^']+)' for flow 'get-repo-info'/.exec(lines[0]!)?.[1];
    assert.ok(flowRunName, lines[0] ?? "no lines");
    assert.match(flowRunName, /^[a-z]+-[a-z]+-[a-z]+$/);
    assert.match(lines.at(-1)!, new RegExp(`^Flow run '${flowRunName}' - 1 task run: 1 Completed in \\d+(\\.\\d)? s$`));
    assert.deepEqual(lines.slice(0, -1), [
      `flowctl.engine - Created flow run '${flowRunName}' for flow 'get-repo-info'`,
      `Flow run '${flowRunName}' - Created task run 'getUrl-0' for task 'getUrl'`,
      `Flow run '${flowRunName}' - Executing 'getUrl-0' immediately...`,
      `Task run 'getUrl-0' - Finished in state Completed()`,
      `Flow run '${flowRunName}' - Stars: 7`,
      `Flow run '${flowRunName}' - Finished in state Completed('All states completed.')`,
    ]);
  } finally {
    await home.cleanup();
  }
});

test("the store holds the flow run, task runs, full state histories, parameters, tags and logs", async () => {
  const home = await useTempHome();
  try {
    const inner = task(function inner(x: number) {
      return x * 2;
    });
    const outer = task({ tags: ["etl"] }, async function outer(x: number) {
      return inner(x + 1);
    });
    const child = flow(async function childFlow({ n }: { n: number }) {
      return outer(n);
    });
    const parent = flow({ name: "parent" }, async function ({ n = 1 }: { n?: number } = {}) {
      const a = await tags("nightly", () => outer(n));
      const b = await child({ n: 10 });
      return a + (b as number);
    });
    assert.equal(await parent({ n: 2 }), (2 + 1) * 2 + (10 + 1) * 2);
    const store = await flushedStore();
    const [top] = await store.listFlowRuns({ flowName: "parent" });
    assert.ok(top);
    assert.equal(top.stateName, "Completed");
    assert.deepEqual(JSON.parse(top.parameters), { n: 2 });
    const sub = await store.listFlowRuns({ parentFlowRunId: top.id });
    assert.equal(sub.length, 1);
    assert.equal(sub[0]!.flowName, "child-flow");
    const tasks = await store.listTaskRuns({ flowRunId: top.id });
    assert.deepEqual(tasks.map((t) => t.name), ["outer-0", "inner-0"]);
    const outer0 = tasks[0]!;
    const inner0 = tasks[1]!;
    assert.equal(inner0.parentTaskRunId, outer0.id);
    assert.deepEqual(JSON.parse(outer0.tags).sort(), ["etl", "nightly"]);
    assert.deepEqual(JSON.parse(inner0.tags), ["nightly"]);
    assert.deepEqual(JSON.parse(inner0.parameters), { x: 3 });
    const states = await store.getStates(outer0.id);
    assert.deepEqual(states.map((s) => s.name), ["Pending", "Running", "Completed"]);
    const flowStates = await store.getStates(top.id);
    assert.deepEqual(flowStates.map((s) => s.name), ["Pending", "Running", "Completed"]);
    // the subflow counts its own task-run names
    const subTasks = await store.listTaskRuns({ flowRunId: sub[0]!.id });
    assert.deepEqual(subTasks.map((t) => t.name), ["outer-0", "inner-0"]);
    const logs = await store.getLogs({ flowRunId: top.id, includeTasks: true });
    assert.ok(logs.some((l) => l.message === "Finished in state Completed()"));
    assert.ok(logs.some((l) => l.message.startsWith("Created subflow run")));
  } finally {
    await home.cleanup();
  }
});

test("flow final state: value → Completed(), undefined → aggregate, throw → Failed", async () => {
  const home = await useTempHome();
  try {
    const ok = task(function ok() {
      return 1;
    });
    const bad = task(function bad() {
      throw new Error("boom");
    });
    const returnsNull = flow(async function returnsNull() {
      await ok();
      return null;
    });
    assert.equal(await returnsNull(), null);
    assert.ok(home.lines().at(-2)!.endsWith("Finished in state Completed()"));
    assert.match(home.lines().at(-1)!, / - 1 task run: 1 Completed in \d/);

    const partial = flow(async function partial() {
      ok.submit();
      bad.submit();
    });
    await assert.rejects(partial(), (e: Error & { cause?: Error }) => {
      assert.ok(isFlowctlError(e, "FLOW_RUN_FAILED"));
      assert.equal(e.message, "1/2 states failed.");
      assert.equal(e.cause?.message, "boom");
      return true;
    });
    assert.ok(home.lines().at(-2)!.endsWith("Finished in state Failed('1/2 states failed.')"));
    assert.match(home.lines().at(-1)!, / - 2 task runs: 1 Completed, 1 Failed in \d/);

    const throws = flow(async function throws() {
      await bad();
    });
    await assert.rejects(throws(), (e: Error) => e.message === "boom");
    assert.ok(home.lines().at(-2)!.endsWith("Finished in state Failed('Flow run encountered an exception: Error: boom')"));
    assert.match(home.lines().at(-1)!, / - 1 task run: 1 Failed in \d/);

    const returnsState = flow(async function returnsState() {
      return Failed({ message: "chose to fail" });
    });
    await assert.rejects(returnsState());
    const completedState = flow(async function completedState() {
      return Completed({ message: "fine", data: 5 });
    });
    assert.equal(await completedState(), 5);
  } finally {
    await home.cleanup();
  }
});

test("tasks outside a flow, run names, runtime and getRunLogger", async () => {
  const home = await useTempHome();
  try {
    const seen: unknown[] = [];
    const standalone = task({ name: "solo" }, function (a: number, b = 2) {
      seen.push({ flow: runtime.flowRun.id, task: runtime.taskRun.name, params: runtime.taskRun.parameters, count: runtime.taskRun.runCount });
      return a + (b as number);
    });
    assert.equal(await standalone(1), 3);
    assert.deepEqual(seen, [{ flow: undefined, task: "solo", params: { a: 1, b: 2 }, count: 1 }]);
    assert.ok(home.lines().includes("flowctl.engine - Created task run 'solo' for task 'solo'"));
    assert.equal(runtime.taskRun.id, undefined);
    assert.deepEqual(runtime.flowRun.parameters, {});
    assert.deepEqual(runtime.flowRun.tags, []);
    assert.throws(() => getRunLogger(), (e) => isFlowctlError(e, "MISSING_CONTEXT"));

    const names: string[] = [];
    const t = task(function counted() {
      names.push(runtime.taskRun.name!);
    });
    const f = flow(async function counting() {
      await t();
      await t();
      await Promise.all([t(), t()]);
      names.push(runtime.flowRun.flowName!);
    });
    await f();
    assert.deepEqual(names, ["counted-0", "counted-1", "counted-2", "counted-3", "counting"]);
  } finally {
    await home.cleanup();
  }
});

test("logPrints routes console output into the run's log; otherwise the console is untouched", async () => {
  const home = await useTempHome();
  try {
    const printer = task(function printer() {
      console.log("from task %d", 1);
      console.warn("careful");
    });
    const quiet = task({ logPrints: false }, function quiet() {
      console.log("not captured");
    });
    const f = flow({ logPrints: true }, async function printing() {
      console.log("from flow", { a: 1 });
      await printer();
      await quiet();
    });
    const original = process.stdout.write;
    const captured: string[] = [];
    // only the task's own line is held back: everything else goes on to stdout (the test runner
    // reports the previous test there meanwhile — swallowing that lost its result)
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (String(chunk).includes("not captured")) {
        captured.push(String(chunk));
        return true;
      }
      return (original as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    }) as typeof process.stdout.write;
    try {
      await f();
    } finally {
      process.stdout.write = original;
    }
    const lines = home.lines();
    assert.ok(lines.some((l) => /^Flow run '.*' - from flow \{ a: 1 \}$/.test(l)), lines.join("\n"));
    assert.ok(lines.includes("Task run 'printer-0' - from task 1"));
    const warn = home.logs.find((r) => r.message === "careful");
    assert.equal(warn?.level, 30);
    assert.ok(!lines.some((l) => l.includes("not captured")));
    assert.ok(captured.join("").includes("not captured"));
  } finally {
    await home.cleanup();
  }
});

test("invalid options are refused at definition, naming option, expectation and value", () => {
  const fn = function f() {};
  const cases: [unknown, RegExp][] = [
    [{ retries: -1 }, /`retries` to be a non-negative integer, got -1/],
    [{ retries: "3" }, /`retries` to be a non-negative integer, got "3"/],
    [{ timeoutSeconds: -5 }, /`timeoutSeconds` to be a positive number of seconds, got -5/],
    [{ cacheExpiration: -1 }, /`cacheExpiration`/],
    [{ retryJitterFactor: -0.5 }, /`retryJitterFactor`/],
    [{ onCompletion: "nope" }, /`onCompletion` to be a function or an array of functions/],
    [{ tags: "etl" }, /`tags` to be an array of strings/],
    [{ retrys: 1 }, /unknown task option `retrys` \(did you mean `retries`\?\)/],
  ];
  for (const [opts, re] of cases) {
    assert.throws(() => task(opts as never, fn), (e: Error) => isFlowctlError(e, "INVALID_OPTION") && re.test(e.message), String(re));
  }
  assert.throws(() => flow({ retries: 1.5 } as never, fn), (e: Error) => isFlowctlError(e, "INVALID_OPTION"));
  assert.throws(() => task(() => 1), /anonymous function needs a name/);
  assert.throws(() => flow(() => 1), /anonymous function needs a name/);
});

test("task keys differ by name, tags and function identity; objects expose their definition", () => {
  function work() {}
  const a = task(work);
  const b = task({ tags: ["x"] }, work);
  const c = task({ name: "other" }, work);
  const d = task(function work() {});
  assert.notEqual(a.taskKey, b.taskKey);
  assert.notEqual(a.taskKey, c.taskKey);
  assert.equal(a.taskKey, d.taskKey); // same name, module and function name: same identity
  assert.equal(a.name, "work");
  assert.deepEqual(b.tags, ["x"]);
  assert.equal(a.fn, work);
  assert.deepEqual(b.options, { tags: ["x"] });
  const renamed = a.withOptions({ name: "renamed" });
  assert.equal(renamed.name, "renamed");
  assert.notEqual(renamed.taskKey, a.taskKey);
});

test("the engine's 'Created flow run' line is stored with its flow run", async () => {
  const home = await useTempHome();
  try {
    const f = flow(async function announced() {
      return 1;
    });
    await f();
    const store = await flushedStore();
    const [run] = await store.listFlowRuns({ flowName: "announced" });
    const logs = await store.getLogs({ flowRunId: run!.id });
    assert.equal(logs[0]!.source, "flowctl.engine");
    assert.equal(logs[0]!.message, `Created flow run '${run!.name}' for flow 'announced'`);
  } finally {
    await home.cleanup();
  }
});
