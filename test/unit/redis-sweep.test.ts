/**
 * RedisTaskRunner's sweep (redis-outage.ts) on its own, against a fake Redis and an in-memory
 * run store, with the clock passed in: each path of the outage logic, step by step — a reply read
 * in a race, a job gone from Redis (alive key, grace, sent again, given up), replies recorded in
 * the store, Redis away past the limit, and Redis back.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { RedisSweep, newWaiter, type SweepHost, type SweepTarget, type Waiter } from "../../src/runners/redis-outage.ts";
import { aliveKey, type RedisJobData } from "../../src/runners/redis-protocol.ts";
import type { AttemptTaskRun } from "../../src/runners/types.ts";
import { getStore } from "../../src/store/index.ts";
import { useTempHome, type TempHome } from "../support/home.ts";

let home: TempHome;
before(async () => {
  home = await useTempHome({ PREFECT_API_DATABASE_CONNECTION_URL: "memory://redis-sweep-test" });
});
after(() => home.cleanup());

const Q = "q";
const REPLY = { v: 1, ok: true, value: "AQ==" };

interface FakeJob {
  returnvalue: unknown;
  state: string;
  failedReason?: string;
}

/** A fake Redis: `jobs` answers getJob (a function to change answers per call), `alive` holds alive keys. */
function fakeRedis() {
  const jobs = new Map<string, FakeJob | (() => FakeJob | undefined)>();
  const alive = new Set<string>();
  const target = {
    url: "redis://:secret@redis-host:6379",
    client: { status: "ready", mget: async (keys: string[]) => keys.map((k) => (alive.has(k) ? "1@h" : null)) },
    queue: {
      getJob: async (id: string) => {
        const j = jobs.get(id);
        const job = typeof j === "function" ? j() : j;
        return job && { returnvalue: job.returnvalue, failedReason: job.failedReason, getState: async () => job.state };
      },
    },
  };
  return { jobs, alive, target: target as unknown as SweepTarget & { client: { status: string } } };
}

interface Settled {
  reply?: unknown;
  error?: Error;
}

function harness(outageMs = 10_000) {
  const sent: string[][] = [];
  const warnings: string[] = [];
  const settled = new Map<string, Settled>();
  let sendFails = false;
  const host: SweepHost = {
    queueName: Q,
    waiters: new Map<string, Waiter>(),
    outageMs,
    take(id) {
      const w = host.waiters.get(id);
      host.waiters.delete(id);
      return w;
    },
    async send(ws) {
      if (sendFails) throw new Error("Connection is closed.");
      sent.push(ws.map((w) => `${w.jobId}${w.data.resent ? " resent" : ""}`));
    },
    jobFailed: (_run, reason) => new Error(`failed: ${reason}`),
  };
  const add = (jobId: string) => {
    const run = { name: `run-${jobId}`, logger: { warning: (m: string) => warnings.push(`${jobId}: ${m}`) } } as unknown as AttemptTaskRun;
    const w = newWaiter(jobId, run, { taskName: "t" } as RedisJobData, (reply) => settled.set(jobId, { reply }), (error) => settled.set(jobId, { error: error as Error }));
    host.waiters.set(jobId, w);
    return w;
  };
  return { sweep: new RedisSweep(host), host, add, sent, warnings, settled, failSends: (v: boolean) => (sendFails = v) };
}

test("a job that finished between being read and its state asked: the reply is read again, not taken as empty", async () => {
  const h = harness();
  const r = fakeRedis();
  let reads = 0;
  r.jobs.set("a.1", () => (++reads === 1 ? { returnvalue: null, state: "completed" } : { returnvalue: REPLY, state: "completed" }));
  const w = h.add("a.1");
  await h.sweep.tick(r.target, w.nextCheck);
  assert.deepEqual(h.settled.get("a.1"), { reply: REPLY });
  assert.equal(reads, 2);
});

test("a job gone from Redis: an alive key holds the wait; without one it is sent again after the grace, then given up", async () => {
  const h = harness();
  const r = fakeRedis();
  const w = h.add("b.1");
  let now = w.nextCheck;
  r.alive.add(aliveKey(Q, "b.1"));
  await h.sweep.tick(r.target, now);
  assert.equal(w.missingSince, undefined, "a worker still runs it");
  r.alive.clear();
  for (let round = 1; round <= 3; round++) {
    now += 1000;
    await h.sweep.tick(r.target, now);
    assert.equal(w.missingSince, now, "missing from now on");
    now += 4000;
    await h.sweep.tick(r.target, now);
    assert.deepEqual(h.sent, [], "within the grace: not yet");
    now += 1000;
    await h.sweep.tick(r.target, now);
    assert.deepEqual(h.sent.splice(0), [["b.1 resent"]], `sent again (${round})`);
  }
  now += 1000;
  await h.sweep.tick(r.target, now);
  now += 5000;
  await h.sweep.tick(r.target, now);
  assert.match(h.settled.get("b.1")?.error?.message ?? "", /^Task run 'run-b\.1' crashed: its job b\.1 vanished from Redis queue 'q' \(4 times\), and no worker recorded an outcome for it in the run store$/);
  assert.equal(h.warnings.filter((m) => /sending it again/.test(m)).length, 3);
});

test("a job gone from Redis whose worker recorded its reply: the reply is taken from the store", async () => {
  const h = harness();
  const r = fakeRedis();
  const w = h.add("c.1");
  await (await getStore()).putAttemptOutcome({ attemptId: "c.1", taskRunId: "c", stateType: "COMPLETED", outcome: JSON.stringify(REPLY), created: 1 });
  await h.sweep.tick(r.target, w.nextCheck);
  assert.deepEqual(h.settled.get("c.1"), { reply: REPLY });
  assert.match(h.warnings.join("\n"), /c\.1: The reply of job c\.1 did not come through Redis; taken from the run store/);
});

test("Redis away: recorded replies are taken as they come; past the limit the rest ends Crashed naming Redis (no password)", async () => {
  const h = harness(10_000);
  const r = fakeRedis();
  h.add("d.1");
  h.add("e.1");
  r.target.client.status = "reconnecting";
  const t0 = Date.now();
  await h.sweep.tick(r.target, t0);
  assert.equal(h.settled.size, 0);
  await (await getStore()).putAttemptOutcome({ attemptId: "d.1", taskRunId: "d", stateType: "FAILED", outcome: JSON.stringify({ v: 1, ok: false, error: "x" }), created: 1 });
  await h.sweep.tick(r.target, t0 + 5000);
  assert.deepEqual(h.settled.get("d.1"), { reply: { v: 1, ok: false, error: "x" } });
  assert.equal(h.settled.has("e.1"), false, "within the limit: still waiting");
  await h.sweep.tick(r.target, t0 + 10_000);
  assert.equal(
    h.settled.get("e.1")?.error?.message,
    "Task run 'run-e.1' crashed: Redis at redis://:***@redis-host:6379 did not answer for 10 s while it waited (RedisTaskRunner's `outageTimeout`), " +
      "and no worker recorded an outcome for it in the run store",
  );
});

test("Redis back: every job is looked up at once, and jobs that could not be sent go out", async () => {
  const h = harness();
  const r = fakeRedis();
  const waiting = h.add("f.1");
  const unsent = h.add("g.1");
  unsent.unsent = true;
  r.jobs.set("f.1", { returnvalue: null, state: "active" });
  r.jobs.set("g.1", { returnvalue: null, state: "waiting" });
  const t0 = Date.now();
  r.target.client.status = "reconnecting";
  await h.sweep.tick(r.target, t0);
  r.target.client.status = "ready";
  h.failSends(true);
  await h.sweep.tick(r.target, t0 + 1000);
  assert.equal(unsent.unsent, true, "Redis refused: still unsent");
  h.failSends(false);
  r.target.client.status = "reconnecting";
  await h.sweep.tick(r.target, t0 + 1500);
  r.target.client.status = "ready";
  waiting.nextCheck = Number.MAX_SAFE_INTEGER;
  await h.sweep.tick(r.target, t0 + 2000);
  assert.deepEqual(h.sent, [["g.1"]]);
  assert.equal(unsent.unsent, false);
  assert.ok(waiting.nextCheck > t0 + 2000 && waiting.nextCheck < Number.MAX_SAFE_INTEGER, "looked up at once after the outage");
  assert.equal(h.settled.size, 0, "both still running");
});
