/**
 * flowctl/testing: every time-based feature on the virtual clock (retry delays, timeouts,
 * cacheExpiration, tag-limit waits, wait/asCompleted limits, explicit advance), mocks with
 * retries and caching, and what a test reads back (state histories, upstream and parent links,
 * logs). Exact virtual times are asserted; real time never is.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { asCompleted, flow, task, wait, type TaskRunFuture } from "flowctl";
import { testHarness } from "flowctl/testing";
import { etl, extract, load, transform } from "../fixtures/testing/etl.ts";

const START = Date.UTC(2030, 0, 1);

test("retries: a flow with retryDelaySeconds [1, 10, 100] finishes with those exact delays, in virtual time", async () => {
  const h = await testHarness({ startTime: START });
  const m = h.mock(extract).failTimes(3);
  assert.equal(await h.run(() => etl({ source: "api" })), 3);
  const [run] = h.taskRuns({ task: extract });
  assert.deepEqual(run!.retryDelays, [1, 10, 100]);
  assert.deepEqual(run!.stateNames, ["Pending", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying", "Completed"]);
  // the attempts ran at the scheduled times: 0, 1, 11, 111 s
  assert.deepEqual(m.calls.map((c) => (c.at - START) / 1000), [0, 1, 11, 111]);
  assert.deepEqual(m.calls.map((c) => [c.args, c.taskRunName, c.attempt, c.flowRunName]), [
    [["api"], "extract-0", 1, h.runs()[0]!.name], [["api"], "extract-0", 2, h.runs()[0]!.name],
    [["api"], "extract-0", 3, h.runs()[0]!.name], [["api"], "extract-0", 4, h.runs()[0]!.name],
  ]);
  assert.equal(h.clock.now() - START, 111_000);
  await h.close();
});

test("timeouts: a body that takes 1 minute against a 30 s limit times out on every attempt", async () => {
  const h = await testHarness({ startTime: START });
  h.mock(transform).takes("1m");
  const state = await h.run(() => transform.with({ returnState: true })(["a"]));
  assert.equal(state.name, "TimedOut");
  assert.match(state.message ?? "", /exceeded timeout of 30 second/);
  const [run] = h.taskRuns({ task: transform });
  assert.deepEqual(run!.retryDelays, [5, 5, 5]);
  assert.equal(run!.runCount, 4);
  assert.equal(h.clock.now() - START, 4 * 30_000 + 3 * 5_000);
  // a flow's own time limit
  const slowFlow = flow({ timeoutSeconds: 90 }, async function slowFlow() {
    await h.clock.sleep("1h");
  });
  const t0 = h.clock.now();
  await assert.rejects(h.run(() => slowFlow()), /Flow run exceeded timeout of 90 second/);
  assert.equal(h.clock.now() - t0, 90_000);
  assert.equal(h.runs({ flow: "slow-flow" })[0]!.state.name, "TimedOut");
  await h.close();
});

test("cacheExpiration: a hit until it expires on the virtual clock, then the body runs again", async () => {
  const h = await testHarness({ startTime: START });
  const m = h.mock(load);
  const rows = ["a", "b"];
  const names = async () => (await h.run(() => load.with({ returnState: true })(rows))).name;
  assert.equal(await names(), "Completed");
  await h.clock.advance("59m59s");
  assert.equal(await names(), "Cached");
  await h.clock.advance(1);
  assert.equal(await names(), "Completed");
  assert.equal(m.callCount, 2);
  assert.deepEqual(h.results.list().map((e) => [e.key, (e.expires! - START) / 1000]), [["2", 3600 + 3600]]);
  await h.close();
});

test("mocks with retries and caching: a cached run calls no mock; failures are retried", async () => {
  const h = await testHarness();
  const m = h.mock(load, (rows: string[]) => rows.length * 10).failTimes(1, new Error("disk full"));
  const loadWithRetry = load.withOptions({ retries: 1 });
  assert.equal(await h.run(() => loadWithRetry(["x"])), 10);
  assert.equal(await h.run(() => loadWithRetry(["y"])), 10, "same key (one row): cached");
  assert.equal(m.callCount, 2, "one failure and one success; the cached run called nothing");
  const [first, second] = h.taskRuns({ task: "load" });
  assert.deepEqual(first!.stateNames, ["Pending", "Running", "Retrying", "Completed"]);
  assert.deepEqual(second!.stateNames, ["Pending", "Cached"]);
  assert.match(h.logs({ level: "INFO" }).map((l) => l.message).join("\n"), /disk full - Retry 1\/1 will start immediately/);
  // returns / throws / restore
  m.returns(7);
  assert.equal(await h.run(() => load.withOptions({ refreshCache: true })(["z"])), 7);
  m.throws(new Error("nope"));
  await assert.rejects(h.run(() => load.withOptions({ refreshCache: true })(["z"])), /nope/);
  m.restore();
  assert.equal(await h.run(() => load.withOptions({ refreshCache: true })(["z"])), 1, "the real body again");
  await h.close();
});

test("tag-limit waits: a run waits for the slot on virtual time, never more at once than the limit", async () => {
  const h = await testHarness({ startTime: START });
  await h.store.createConcurrencyLimit("db", 1);
  let inside = 0;
  let most = 0;
  const query = task({ tags: ["db"] }, async function query(n: number) {
    inside++;
    most = Math.max(most, inside);
    await h.clock.sleep(10);
    inside--;
    return n;
  });
  const fanOut = flow(async function fanOut() {
    return query.map([1, 2, 3]).result();
  });
  assert.deepEqual(await h.run(() => fanOut()), [1, 2, 3]);
  assert.equal(most, 1);
  const waited = h.taskRuns({ task: query }).filter((r) => r.logs.some((l) => /Waiting for a concurrency slot for tag 'db'/.test(l.message)));
  // a .map call's first wait is logged at INFO, its other runs' waits at DEBUG
  assert.equal(waited.length, 1);
  // three 10 s bodies one after the other (plus the waiters' polling backoff, at most a second here)
  const took = h.clock.now() - START;
  assert.ok(took >= 30_000 && took < 31_000, `took ${took} ms of virtual time`);
  assert.equal((await h.store.getConcurrencyLimit("db"))!.active, 0);
  await h.close();
});

test("wait and asCompleted time limits run out on virtual time", async () => {
  const h = await testHarness({ startTime: START });
  const work = task(async function work(s: number) {
    return s;
  });
  h.mock(work, async (s: number) => {
    await h.clock.sleep(s);
    return s;
  });
  const orders = flow(async function orders() {
    const futures = work.map([1, 20, 5]);
    const { done, notDone } = await wait(futures, { timeoutSeconds: 10 });
    const at = h.clock.now() - START;
    const seen: number[] = [];
    let error: unknown;
    try {
      for await (const f of asCompleted(futures as TaskRunFuture<number>[], { timeoutSeconds: 5 })) seen.push(await f.result());
    } catch (err) {
      error = err;
    }
    return { done: done.size, notDone: notDone.size, at, seen, error: (error as Error)?.message };
  });
  const r = await h.run(() => orders());
  assert.deepEqual(r, { done: 2, notDone: 1, at: 10_000, seen: [1, 5], error: "1 of the futures did not finish within 5 second(s)" });
  // the flow still waits for its last task run
  assert.equal(h.clock.now() - START, 20_000);
  await h.close();
});

test("explicit advance: with autoAdvance off, nothing moves until the test moves the clock", async () => {
  const h = await testHarness({ startTime: START, autoAdvance: false });
  const flaky = task({ retries: 1, retryDelaySeconds: 60 }, function flaky() {
    return "ok";
  });
  h.mock(flaky).failTimes(1);
  const done = h.run(() => flaky());
  let settled = false;
  void done.then(() => (settled = true));
  await h.clock.advance("59s");
  assert.equal(settled, false);
  assert.equal(h.taskRuns()[0]!.state.name, "AwaitingRetry");
  await h.clock.advance(1);
  assert.equal(await done, "ok");
  assert.equal(h.clock.now() - START, 60_000);
  await h.close();
});

test("assertions on links: upstream inputs, nested task parents, subflow parents, parameters, tags, logs", async () => {
  const h = await testHarness();
  const inner = task(function inner(x: number) {
    return x + 1;
  });
  const outer = task({ tags: ["t"] }, async function outer(x: number) {
    return inner(x);
  });
  const child = flow(async function child({ n }: { n: number }) {
    return n * 2;
  });
  const parent = flow({ logPrints: true }, async function parent({ n }: { n: number }) {
    const a = outer.submit(n);
    const b = await inner(a);
    console.log(`b is ${b}`);
    return child({ n: b });
  });
  assert.equal(await h.run(() => parent({ n: 1 })), 6);
  const [p, c] = h.runs();
  assert.equal(p!.flowName, "parent");
  assert.deepEqual(p!.parameters, { n: 1 });
  assert.equal(c!.parentFlowRunId, p!.id);
  assert.deepEqual(p!.logs.filter((l) => l.message.startsWith("b is")).map((l) => l.level), ["INFO"]);
  // in creation order: submit() creates its run at once; its body (and the nested call) runs later
  const [o, downstream, nested] = h.taskRuns();
  assert.equal(o!.name, "outer-0");
  assert.deepEqual(o!.tags, ["t"]);
  assert.equal(nested!.parentTaskRunId, o!.id);
  assert.equal(downstream!.parentTaskRunId, undefined);
  assert.equal(downstream!.name, "inner-0");
  assert.deepEqual(downstream!.upstream, [{ parameter: "x", taskRunId: o!.id, taskRunName: "outer-0" }]);
  assert.deepEqual(downstream!.parameters, { x: 2 });
  assert.deepEqual(h.taskRuns({ flowRun: p! }).length, 3);
  await h.close();
});

test("runFile: the CLI path — exit code, final state and the printed lines", async () => {
  const h = await testHarness();
  h.mock(extract).failTimes(1);
  const ok = await h.runFile("test/fixtures/testing/etl.ts", { params: { source: "files" } });
  assert.equal(ok.exitCode, 0, ok.output);
  assert.equal(ok.state?.name, "Completed");
  assert.equal(await ok.state!.result(), 3);
  assert.match(ok.output, /\| INFO {4}\| Task run 'extract-0' - Task run failed with exception: .*Retry 1\/3 will start 1 second\(s\) from now/);
  assert.match(ok.output, /Task run 'load-0' - loading 3 rows/);
  assert.match(ok.output, /Finished in state Completed\(\)\n.* - 3 task runs: 3 Completed in \d+(\.\d)? s$/);
  // recorded like a `flowctl run` (what `flowctl runs retry` would load)
  assert.match((await h.store.getFlowRun(ok.flowRunId!))!.entrypoint ?? "", /test\/fixtures\/testing\/etl\.ts:etl$/);
  const bad = await h.runFile("test/fixtures/testing/etl.ts", { params: { sauce: "x" } });
  assert.equal(bad.exitCode, 2);
  assert.match(bad.output, /^flowctl: error: Invalid parameters for flow 'etl' \(1 problem\): 'sauce': flow 'etl' has no parameter 'sauce'; its parameters: source$/);
  assert.equal((await h.runFile("test/fixtures/testing/missing.ts")).exitCode, 2);
  h.mock(extract).throws(new Error("source offline"));
  const failed = await h.runFile("test/fixtures/testing/etl.ts");
  assert.equal(failed.exitCode, 1);
  assert.equal(failed.state?.name, "Failed");
  await h.close();
});

test("bad input gets one clear error", async () => {
  const h = await testHarness();
  await assert.rejects(h.clock.advance("5 minutes"), /Expected the time to advance to be seconds .* got '5 minutes'/);
  await assert.rejects(h.clock.advance(-1), /got -1/);
  assert.throws(() => h.mock((() => 1) as never), /h\.mock expects a task made with task\(\), got a plain function/);
  assert.throws(() => h.mock(load).failTimes(-1), /failTimes expects a whole number/);
  await assert.rejects(testHarness({ settings: { PREFECT_TASK_DEFAULT_RETRIES: -2 } }), /Invalid value for 'PREFECT_TASK_DEFAULT_RETRIES' in the test harness settings/);
  await assert.rejects(testHarness({ settings: { PREFECT_NOPE: 1 } }), /Unknown setting name 'PREFECT_NOPE'/);
  await h.close();
  assert.throws(() => h.run(() => 1), /this test harness is closed/);
});

test("a body running on a worker thread holds the clock: its 30 s timeout does not fire early", async () => {
  const { threaded, waiter, crunch } = await import("../fixtures/testing/threaded.ts");
  const h = await testHarness({ startTime: START });
  // the waiter (mocked, so it runs here) fails once and waits an hour of virtual time; the
  // clock may jump that hour only after the real 300 ms body on the worker has finished
  h.mock(waiter).failTimes(1);
  assert.deepEqual(await h.run(() => threaded()), [300, "waited"]);
  assert.equal(h.taskRuns({ task: crunch })[0]!.state.name, "Completed");
  assert.equal(h.clock.now() - START, 3_600_000);
  await h.close();
});

test("a run that waits on the clock forever, with nothing armed, fails h.run with a clear error", async () => {
  const h = await testHarness();
  const stuck = task(function stuck() {
    return 1;
  });
  h.mock(stuck).hangs();
  await assert.rejects(h.run(() => stuck()), (e: Error & { code?: string }) => {
    assert.equal(e.code, "HARNESS_STALLED");
    assert.match(e.message, /waits on the virtual clock and no timer is armed, .* Open runs: 'stuck' \(Running\)$/);
    return true;
  });
  // the stuck run itself was ended, Cancelled (its timers and watchers with it)
  for (let i = 0; i < 20 && h.taskRuns()[0]!.state.name !== "Cancelled"; i++) await new Promise((r) => setImmediate(r));
  assert.equal(h.taskRuns()[0]!.state.name, "Cancelled");
  assert.match(h.taskRuns()[0]!.state.message ?? "", /Cancelled by the test harness/);
  // with a time limit the same mock just times out
  const limited = stuck.withOptions({ timeoutSeconds: 5 });
  assert.equal((await h.run(() => limited.with({ returnState: true })())).name, "TimedOut");
  // a flow left going (its task waits on something real that never comes) ends Cancelled at close
  const never = task(function never() {
    return new Promise<never>(() => {});
  });
  const wait = flow(async function waitForever() {
    await never();
  });
  const left = h.run(() => wait()).catch((e: Error) => e);
  while (h.taskRuns({ task: never }).length === 0) await new Promise((r) => setImmediate(r));
  await h.close();
  assert.match(String(await left), /the test harness was closed while the run was going on/);
  assert.equal(h.runs({ flow: "wait-forever" })[0]!.state.name, "Cancelled");
});

test("generator tasks: a body doing real work while it is pulled holds the clock; its time limit runs on virtual time", async () => {
  const h = await testHarness({ startTime: START });
  const rows = task({ timeoutSeconds: 30 }, async function* rows() {
    yield await new Promise<number>((r) => setTimeout(() => r(1), 50)); // real work: 50 ms
    await h.clock.sleep("1m"); // past the limit, on the virtual clock
    yield 2;
  });
  const seen: number[] = [];
  const consume = flow(async function consume() {
    for await (const r of rows()) seen.push(r as number);
  });
  await assert.rejects(h.run(() => consume()), /Task run exceeded timeout of 30 second/);
  assert.deepEqual(seen, [1]);
  assert.equal(h.taskRuns()[0]!.state.name, "TimedOut");
  assert.equal(h.clock.now() - START, 30_000, "the 50 ms of real work did not let the clock jump to the limit");
  await h.close();
});
