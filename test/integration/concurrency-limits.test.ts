/**
 * Tag concurrency limits on a real SQLite store: the store operations (atomic, all-or-nothing,
 * expired leases reclaimed) and the engine (runs wait Pending for a slot, say once which tag
 * they wait on, never exceed the limit; limit 0 fails at once; a closed flow stops the wait).
 * Cross-process behaviour is in test/cli/concurrency-limits.test.ts.
 */
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { flow, tags, task, type TaskRunFuture } from "../../src/index.ts";
import { invalidateConcurrencyLimitCache, SLOT_OWNER } from "../../src/engine/concurrency.ts";
import { getStore } from "../../src/store/index.ts";
import type { RunStore } from "../../src/store/types.ts";
import { logHub, type LogSink } from "../../src/logging/logger.ts";
import type { LogRecord } from "../../src/logging/record.ts";
import { flushedStore, useTempHome, type TempHome } from "../support/home.ts";

let home: TempHome;
let store: RunStore;
before(async () => {
  home = await useTempHome();
  store = await getStore();
});
after(() => home.cleanup());

async function limit(tag: string, n: number): Promise<void> {
  await store.createConcurrencyLimit(tag, n);
  invalidateConcurrencyLimitCache();
}

/** Resolves once `count` log records match (seen through a log sink, no polling). */
function whenLogged(match: (r: LogRecord) => boolean, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const sink: LogSink = {
      write(r) {
        if (match(r) && ++seen === count) {
          logHub.extraSinks.splice(logHub.extraSinks.indexOf(sink), 1);
          resolve();
        }
      },
    };
    logHub.extraSinks.push(sink);
  });
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe("store: concurrency limits", () => {
  beforeEach(async () => {
    for (const l of await store.listConcurrencyLimits()) await store.deleteConcurrencyLimit(l.tag);
  });

  test("create, change, list, get, reset and delete", async () => {
    assert.deepEqual(await store.createConcurrencyLimit("b", 2), { created: true });
    assert.deepEqual(await store.createConcurrencyLimit("a", 1), { created: true });
    assert.deepEqual(await store.createConcurrencyLimit("b", 3), { created: false });
    const list = await store.listConcurrencyLimits();
    assert.deepEqual(list.map((l) => [l.tag, l.limit, l.active]), [["a", 1, 0], ["b", 3, 0]]);
    await store.tryAcquireSlots({ tags: ["b"], holderId: "run-1", owner: "p1", leaseMs: 60_000 });
    const b = await store.getConcurrencyLimit("b");
    assert.equal(b?.active, 1);
    assert.deepEqual(b?.slots.map((s) => [s.holderId, s.owner]), [["run-1", "p1"]]);
    assert.equal(await store.resetConcurrencyLimit("b"), 1);
    assert.equal((await store.getConcurrencyLimit("b"))?.active, 0);
    assert.equal(await store.resetConcurrencyLimit("nope"), undefined);
    assert.equal(await store.deleteConcurrencyLimit("b"), true);
    assert.equal(await store.deleteConcurrencyLimit("b"), false);
    assert.equal(await store.getConcurrencyLimit("b"), undefined);
  });

  test("slots up to the limit, then full; a released slot is free again", async () => {
    await store.createConcurrencyLimit("db", 2);
    const take = (holderId: string) => store.tryAcquireSlots({ tags: ["db", "unlimited"], holderId, owner: "p", leaseMs: 60_000 });
    assert.deepEqual(await take("r1"), { acquired: true, tags: ["db"] });
    assert.deepEqual(await take("r2"), { acquired: true, tags: ["db"] });
    assert.deepEqual(await take("r3"), { acquired: false, tags: ["db"], full: { tag: "db", limit: 2, active: 2 } });
    // a holder asking again keeps its one slot
    assert.equal((await take("r1")).acquired, true);
    assert.equal((await store.getConcurrencyLimit("db"))?.active, 2);
    await store.releaseSlots("r1");
    assert.equal((await take("r3")).acquired, true);
    assert.deepEqual(await store.tryAcquireSlots({ tags: ["unlimited"], holderId: "r9", owner: "p", leaseMs: 1 }), { acquired: true, tags: [] });
  });

  test("all or nothing across tags, and limit 0 refuses", async () => {
    await store.createConcurrencyLimit("a", 5);
    await store.createConcurrencyLimit("b", 1);
    await store.createConcurrencyLimit("z", 0);
    assert.equal((await store.tryAcquireSlots({ tags: ["b"], holderId: "other", owner: "p", leaseMs: 60_000 })).acquired, true);
    const res = await store.tryAcquireSlots({ tags: ["b", "a"], holderId: "r", owner: "p", leaseMs: 60_000 });
    assert.equal(res.acquired, false);
    assert.equal(res.full?.tag, "b");
    assert.equal((await store.getConcurrencyLimit("a"))?.active, 0, "no slot of 'a' was kept");
    const zero = await store.tryAcquireSlots({ tags: ["a", "z"], holderId: "r", owner: "p", leaseMs: 60_000 });
    assert.deepEqual(zero, { acquired: false, tags: ["a", "z"], limit0: "z" });
  });

  test("an expired lease is reclaimed by the next acquirer; renewing keeps it", async () => {
    await store.createConcurrencyLimit("x", 1);
    // a lease of 0 ms has expired by the next statement: as if its process had died
    assert.equal((await store.tryAcquireSlots({ tags: ["x"], holderId: "dead", owner: "gone", leaseMs: 0 })).acquired, true);
    assert.equal((await store.getConcurrencyLimit("x"))?.active, 0, "expired slots do not count");
    assert.equal((await store.tryAcquireSlots({ tags: ["x"], holderId: "alive", owner: "me", leaseMs: 60_000 })).acquired, true);
    assert.deepEqual((await store.getConcurrencyLimit("x"))?.slots.map((s) => s.holderId), ["alive"]);
    assert.equal(await store.renewLeases("me", 120_000), 1);
    assert.equal(await store.renewLeases("nobody", 120_000), 0);
    const lease = (await store.getConcurrencyLimit("x"))!.slots[0]!.leaseExpires;
    assert.ok(lease > Date.now() + 60_000);
    assert.equal((await store.tryAcquireSlots({ tags: ["x"], holderId: "late", owner: "p", leaseMs: 60_000 })).acquired, false);
  });
});

describe("engine: tag concurrency limits", () => {
  test("runs with a limited tag never exceed the limit; waiting runs stay Pending and say so once", async () => {
    await limit("io", 2);
    let active = 0;
    let peak = 0;
    const gates = Array.from({ length: 5 }, () => deferred());
    const started: (() => void)[] = [];
    const work = task({ tags: ["io"] }, async function work(i: number) {
      active++;
      peak = Math.max(peak, active);
      started[i]?.();
      await gates[i]!.promise;
      active--;
      return i;
    });
    const began = Array.from({ length: 5 }, (_, i) => new Promise<void>((r) => (started[i] = r)));
    const waiting = whenLogged((r) => r.message === "Waiting for a concurrency slot for tag 'io' (limit 2)", 3);
    let futures: TaskRunFuture[] = [];
    const f = flow(async function limited() {
      futures = [0, 1, 2, 3, 4].map((i) => work.submit(i));
      await Promise.all([began[0], began[1]]);
      // two hold the slots; the others wait, Pending, until one is freed
      await waiting;
      const states = futures.map((fu) => fu.state.name);
      gates.forEach((g) => g.resolve());
      return [states, await Promise.all(futures.map((fu) => fu.result()))];
    });
    const [states, values] = (await f()) as [string[], number[]];
    assert.deepEqual(states, ["Running", "Running", "Pending", "Pending", "Pending"]);
    assert.deepEqual(values, [0, 1, 2, 3, 4]);
    assert.equal(peak, 2);
    for (const fu of futures.slice(2)) {
      const waits = home.lines().filter((l) => l === `Task run '${fu.taskRun.name}' - Waiting for a concurrency slot for tag 'io' (limit 2)`);
      assert.equal(waits.length, 1, `${fu.taskRun.name} says once which tag it waits on`);
      assert.deepEqual(fu.taskRun.states.map((s) => s.name), ["Pending", "Running", "Completed"]);
    }
    const waitRecord = home.logs.find((r) => r.message.startsWith("Waiting for a concurrency slot"));
    assert.equal(waitRecord?.level, 20, "INFO");
    assert.equal((await store.getConcurrencyLimit("io"))?.active, 0, "every slot was released");
  });

  test("with limit 1, tagged runs run one after another (tags from the tags() context count too)", async () => {
    await limit("serial", 1);
    const spans: [number, number][] = [];
    const step = task(async function step() {
      const start = performance.now();
      await new Promise((r) => setTimeout(r, 5));
      spans.push([start, performance.now()]);
    });
    const f = flow(async function serial() {
      await tags("serial", () => Promise.all([step.submit(), step.submit(), step.submit(), step.submit()].map((fu) => fu.wait())));
    });
    await f();
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i]![0] >= spans[i - 1]![1], `run ${i} started before run ${i - 1} ended`);
  });

  test("a limit of 0 fails the run at once with a clear message, without running it", async () => {
    await limit("frozen", 0);
    let ran = false;
    const never = task({ tags: ["frozen"] }, async function never() {
      ran = true;
    });
    const f = flow(async function zero() {
      const st = await never.with({ returnState: true })();
      return [st.type, st.message, (st.error as { code?: string }).code];
    });
    const [type, message, code] = (await f()) as [string, string, string];
    assert.equal(ran, false);
    assert.equal(type, "FAILED");
    assert.equal(code, "CONCURRENCY_LIMIT");
    assert.match(message, /^Task run 'never-0' cannot start: tag 'frozen' has a concurrency limit of 0\. Raise it with 'flowctl concurrency-limit create frozen N' or remove it with 'flowctl concurrency-limit delete frozen'\.$/);
    await assert.rejects(never(), /concurrency limit of 0/);
  });

  test("a nested task that needs the slot its parent holds fails at once instead of waiting forever", async () => {
    await limit("nest", 1);
    const inner = task(async function inner() {
      return "inner ran";
    });
    const outer = task(async function outer() {
      const st = await inner.with({ returnState: true })();
      return [st.type, st.message];
    });
    const f = flow(async function nested() {
      return tags("nest", () => outer());
    });
    const [type, message] = (await f()) as [string, string];
    assert.equal(type, "FAILED");
    assert.equal(
      message,
      "Task run 'inner-0' cannot start: tag 'nest' has a concurrency limit of 1 and its parent task run holds that slot, so it would wait forever. Raise the limit, or keep the tag off the nested task.",
    );
    // with room for both, the nested run takes its own slot
    await limit("nest", 2);
    const f2 = flow(async function nestedRoom() {
      return tags("nest", () => outer());
    });
    assert.deepEqual(await f2(), ["COMPLETED", undefined]);
  });

  test("a run waiting for a slot stops waiting when its flow run times out", async () => {
    await limit("held", 1);
    // a slot held by "another process" for the whole test
    await store.tryAcquireSlots({ tags: ["held"], holderId: "elsewhere", owner: "other-process", leaseMs: 600_000 });
    let ran = false;
    const blocked = task({ tags: ["held"] }, async function blocked() {
      ran = true;
    });
    let fut!: TaskRunFuture;
    const f = flow({ timeoutSeconds: 0.2 }, async function impatient() {
      fut = blocked.submit();
      await fut.wait();
    });
    await assert.rejects(f(), (e: Error & { code?: string }) => e.code === "FLOW_RUN_TIMEOUT");
    const st = await fut.wait(5);
    assert.equal(st.type, "CANCELLED", st.toString());
    assert.equal(ran, false);
    await store.releaseSlots("elsewhere");
  });

  test("tags without a limit do not touch the store for slots", async () => {
    await limit("limited-elsewhere", 3);
    let calls = 0;
    const original = store.tryAcquireSlots.bind(store);
    store.tryAcquireSlots = (req) => {
      calls++;
      return original(req);
    };
    try {
      const free = task({ tags: ["free", "also-free"] }, async function free(i: number) {
        return i;
      });
      const f = flow(async function untagged() {
        return free.map(Array.from({ length: 50 }, (_, i) => i)).result();
      });
      assert.equal(((await f()) as number[]).length, 50);
      assert.equal(calls, 0);
      const lim = task({ tags: ["limited-elsewhere"] }, async function lim() {
        return 1;
      });
      assert.equal(await lim(), 1);
      assert.equal(calls, 1);
    } finally {
      store.tryAcquireSlots = original;
    }
  });

  test("held slots carry this process as owner and are released when the run ends", async () => {
    await limit("own", 5);
    const seen = deferred<string[]>();
    const gate = deferred();
    const mine = task({ tags: ["own"] }, async function mine() {
      seen.resolve((await store.getConcurrencyLimit("own"))!.slots.map((s) => s.owner));
      await gate.promise;
    });
    const fut = mine.submit();
    assert.deepEqual(await seen.promise, [SLOT_OWNER]);
    gate.resolve();
    await fut.wait();
    // released after the final state is recorded
    await new Promise((r) => setImmediate(r));
    assert.equal((await store.getConcurrencyLimit("own"))?.active, 0);
    const row = await (await flushedStore()).getTaskRun(fut.taskRunId);
    assert.equal(row?.stateType, "COMPLETED");
  });
});
