/**
 * The local journal (src/store/journal.ts) and its replay, on SQLite and on PostgreSQL (a fresh
 * schema): a private append-only file that survives a torn last line; replaying it writes every
 * row once (twice changes nothing: no duplicated states or log lines), keeps a final state final,
 * and removes what it wrote; a store that refuses leaves the rows waiting. And the batched writer:
 * a store that never answers → `settle()` journals the rows and says so in one line.
 */
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, sqlitePathFromUrl } from "../../src/store/index.ts";
import { runCli } from "../support/cli.ts";
import { Journal } from "../../src/store/journal.ts";
import { GONE_PREFIXES } from "../../src/store/liveness.ts";
import { StoreWriter } from "../../src/store/writer.ts";
import type { FlowRunRow, RunStore, StateRow, TaskRunRow, WriteBatch } from "../../src/store/types.ts";
import type { StateType } from "../../src/engine/states.ts";
import { postgresSchema } from "../fixtures/redis/services.ts";

const dirs: string[] = [];
const schemas: ReturnType<typeof postgresSchema>[] = [];
after(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const s of schemas) await s.drop();
});

function tempHome(): string {
  const d = mkdtempSync(join(tmpdir(), "flowctl-journal-"));
  dirs.push(d);
  return d;
}

const T0 = Date.UTC(2031, 0, 1);

function flowRow(type: StateType, updated: number): FlowRunRow {
  return {
    id: "f1", name: "brave-fox", flowName: "etl", flowVersion: null, parentFlowRunId: null, parentTaskRunId: null,
    parameters: "{}", tags: "[]", stateType: type, stateName: type[0] + type.slice(1).toLowerCase(), stateMessage: null,
    runCount: 1, created: T0, startTime: T0, endTime: type === "RUNNING" ? null : updated, updated,
    entrypoint: null, pid: 1, host: "h", heartbeat: updated,
  };
}

function taskRow(i: number, type: StateType, updated: number): TaskRunRow {
  return {
    id: `t${i}`, name: `work-${i}`, taskName: "work", taskKey: "work", flowRunId: "f1", parentTaskRunId: null,
    parameters: "{}", tags: "[]", stateType: type, stateName: type[0] + type.slice(1).toLowerCase(), stateMessage: null,
    runCount: 1, cacheKey: null, created: T0 + i, startTime: T0 + i, endTime: type === "RUNNING" ? null : updated, updated,
  };
}

function state(runId: string, seq: number, type: StateType, at: number): StateRow {
  return { runId, seq, runKind: runId.startsWith("f") ? "flow" : "task", type, name: type, message: null, timestamp: at, scheduledTime: null, error: null };
}

/** A run of `n` task runs, Running then Completed, as two batches. */
function batches(n: number): WriteBatch[] {
  const running: WriteBatch = { flowRuns: [flowRow("RUNNING", T0 + 1)], taskRuns: [], states: [state("f1", 0, "RUNNING", T0 + 1)], inputs: [], logs: [] };
  const done: WriteBatch = { flowRuns: [flowRow("COMPLETED", T0 + 10_000)], taskRuns: [], states: [state("f1", 1, "COMPLETED", T0 + 10_000)], inputs: [], logs: [], results: [] };
  for (let i = 0; i < n; i++) {
    running.taskRuns.push(taskRow(i, "RUNNING", T0 + 10 + i));
    running.states.push(state(`t${i}`, 0, "RUNNING", T0 + 10 + i));
    running.logs.push({ flowRunId: "f1", taskRunId: `t${i}`, level: 20, source: "work", message: `started ${i}`, timestamp: T0 + 10 + i });
    done.taskRuns.push(taskRow(i, "COMPLETED", T0 + 5000 + i));
    done.states.push(state(`t${i}`, 1, "COMPLETED", T0 + 5000 + i));
    done.logs.push({ flowRunId: "f1", taskRunId: `t${i}`, level: 20, source: "work", message: `Finished ${i}`, timestamp: T0 + 5000 + i });
    done.results!.push({ taskRunId: `t${i}`, flowRunId: "f1", inputsKey: `[${i}]`, sourceHash: "h", kind: "value", payload: new Uint8Array([i % 256, 1, 2]), message: null, created: T0 });
  }
  running.logs.push({ flowRunId: "f1", taskRunId: null, level: 20, source: "flow", message: "flow started", timestamp: T0 + 1 });
  return [running, done];
}

test("the journal: private 0600 file in a 0700 folder, append-only lines, a torn last line skipped and not glued to the next", () => {
  const home = tempHome();
  const j = new Journal(home, "postgresql://u@db/x");
  assert.equal(j.pending(), undefined);
  const [running, done] = batches(3);
  j.append([running!]);
  assert.equal(statSync(j.path).mode & 0o777, 0o600);
  assert.equal(statSync(join(home, "journal")).mode & 0o777, 0o700);
  // a write cut short (the process died mid-line)
  appendFileSync(j.path, '{"v":1,"store":"postgresql://u@db/x","batch":{"flowRuns":[');
  assert.deepEqual(j.pending(), { batches: 1, flowRuns: 1, taskRuns: 3, states: 4, logs: 4 });
  j.append([done!]);
  const text = readFileSync(j.path, "utf8");
  assert.equal(text.split("\n").length, 4, "the torn line stays on a line of its own");
  // the torn line is unreadable and skipped; the two whole lines count (runs counted once)
  assert.deepEqual(j.pending(), { batches: 2, flowRuns: 1, taskRuns: 3, states: 8, logs: 7 });
  // one journal per store
  assert.notEqual(new Journal(home, "postgresql://u@db/y").path, j.path);
});

function sqliteUrl(): string {
  return `sqlite://${join(tempHome(), "flowctl.db")}`;
}

function pgUrl(): string {
  const s = postgresSchema("flowctl_journal");
  schemas.push(s);
  return s.url;
}

for (const [name, freshUrl] of [["sqlite", sqliteUrl], ["postgres", pgUrl]] as const) {
  describe(`replaying the journal into ${name}`, () => {
    async function withStore(fn: (store: RunStore, journal: Journal) => Promise<void>): Promise<void> {
      const store = await openStore(freshUrl());
      try {
        await fn(store, new Journal(tempHome(), store.location));
      } finally {
        await store.close();
      }
    }

    async function contents(store: RunStore) {
      const tasks = await store.listTaskRuns({ flowRunId: "f1" });
      const states = (await Promise.all(["f1", ...tasks.map((t) => t.id)].map((id) => store.getStates(id)))).flat();
      const logs = await store.getLogs({ flowRunId: "f1", includeTasks: true });
      const results = await store.getKeptResults("f1");
      return { flow: (await store.getFlowRun("f1"))?.stateName, tasks: tasks.map((t) => t.stateName), states: states.length, logs: logs.map((l) => l.message), results: results.length };
    }

    test("every row once, twice changes nothing, the journal is removed", async () => {
      await withStore(async (store, journal) => {
        const [running, done] = batches(50);
        // the first batch reached the store before it went away; the writer journalled it again with the rest
        await store.writeBatch(running!);
        journal.append([running!, done!]);
        const written = await journal.replay(store);
        assert.deepEqual(written, { batches: 2, flowRuns: 1, taskRuns: 50, states: 102, logs: 101 });
        assert.equal(journal.pending(), undefined, "nothing left in the journal");
        const first = await contents(store);
        assert.equal(first.flow, "Completed");
        assert.deepEqual(new Set(first.tasks), new Set(["Completed"]));
        assert.equal(first.states, 102);
        assert.equal(first.logs.length, 101, "no log line twice");
        assert.equal(new Set(first.logs).size, 101);
        assert.equal(first.results, 50);
        // the same lines again (a replay cut short and resumed): nothing changes
        journal.append([running!, done!]);
        await journal.replay(store);
        assert.deepEqual(await contents(store), first);
      });
    });

    test("another host judged the run dead before the journal came back: the run's own states replace the guess", async () => {
      await withStore(async (store, journal) => {
        const [running, done] = batches(2);
        await store.writeBatch(running!);
        // a process elsewhere found no heartbeat and marked the run Crashed (state seq 1 of each run)
        assert.equal(await store.markCrashed("f1", { message: `${GONE_PREFIXES[1]} 2031-01-01T00:00:00.001Z (pid 1 on h)`, timestamp: T0 + 40_000, lastSeen: T0 + 20 }), true);
        assert.equal((await store.getStates("t0")).at(-1)!.type, "CRASHED");
        journal.append([done!]);
        await journal.replay(store);
        const c = await contents(store);
        assert.equal(c.flow, "Completed");
        assert.deepEqual(new Set(c.tasks), new Set(["Completed"]));
        for (const id of ["f1", "t0", "t1"]) {
          assert.deepEqual((await store.getStates(id)).map((st) => st.type), ["RUNNING", "COMPLETED"], `${id}: its own history, not the guess`);
        }
      });
    });

    test("a replayed older or non-final state never replaces a newer final one", async () => {
      await withStore(async (store, journal) => {
        const [running, done] = batches(5);
        await store.writeBatch(done!);
        // the journal holds the older Running rows (a process that lost its store, then another that wrote)
        journal.append([running!]);
        await journal.replay(store);
        const c = await contents(store);
        assert.equal(c.flow, "Completed");
        assert.deepEqual(new Set(c.tasks), new Set(["Completed"]));
        // even a Running row with a later `updated` does not move a final run back
        const late: WriteBatch = { flowRuns: [flowRow("RUNNING", T0 + 99_999)], taskRuns: [taskRow(0, "RUNNING", T0 + 99_999)], states: [], inputs: [], logs: [] };
        journal.append([late]);
        await journal.replay(store);
        assert.equal((await store.getFlowRun("f1"))?.stateName, "Completed");
        assert.equal((await store.getTaskRun("t0"))?.stateName, "Completed");
      });
    });

    test("the writer: a write the store took whose answer got lost is sent again without doubling a log line", async () => {
      await withStore(async (store) => {
        // the first write reaches the store, then its answer is lost (a connection dropped during COMMIT)
        let lose = 1;
        const sent: WriteBatch[] = [];
        const lossy = Object.create(store, {
          writeBatch: {
            value: async (b: WriteBatch) => {
              sent.push(b);
              await store.writeBatch(b);
              if (lose-- > 0) throw new Error("Connection terminated unexpectedly");
            },
          },
        }) as RunStore;
        const writer = new StoreWriter({ exitHooks: false });
        writer.storeProvider = async () => lossy;
        const notices: string[] = [];
        writer.notices = { write: (l) => void notices.push(l) };
        const [running, done] = batches(20);
        for (const r of running!.flowRuns) writer.touchFlowRun({ id: r.id, toRow: () => r });
        for (const r of running!.taskRuns) writer.touchTaskRun({ id: r.id, toRow: () => r });
        for (const s of running!.states) writer.addState(s);
        for (const l of running!.logs) writer.addLog({ ...l, flowRunId: l.flowRunId ?? undefined, taskRunId: l.taskRunId ?? undefined });
        await assert.rejects(writer.flush(), /Connection terminated/);
        // new rows come meanwhile; the next write carries both
        for (const r of done!.flowRuns) writer.touchFlowRun({ id: r.id, toRow: () => r });
        for (const r of done!.taskRuns) writer.touchTaskRun({ id: r.id, toRow: () => r });
        for (const s of done!.states) writer.addState(s);
        for (const l of done!.logs) writer.addLog({ ...l, flowRunId: l.flowRunId ?? undefined, taskRunId: l.taskRunId ?? undefined });
        await writer.flush();
        assert.deepEqual(sent.map((b) => b.resent === true), [false, true], "the write after the lost answer is marked resent");
        const c = await contents(store);
        assert.equal(c.flow, "Completed");
        assert.deepEqual(new Set(c.tasks), new Set(["Completed"]));
        assert.equal(c.states, 42);
        assert.equal(c.logs.length, 41, "every log line once");
        assert.equal(new Set(c.logs).size, 41);
        // a later write that did not follow a failure is plain again (no per-line lookups)
        writer.addLog({ flowRunId: "f1", taskRunId: undefined, level: 20, source: "flow", message: "flow ended", timestamp: T0 + 20_000 });
        await writer.flush();
        assert.equal(sent.at(-1)!.resent, undefined);
        assert.equal((await contents(store)).logs.length, 42);
        assert.ok(notices.some((l) => l.includes("answers again")), notices.join(""));
      });
    });
  });
}

test("a store that refuses: the rows stay in the journal, in order, and a later replay writes them", async () => {
  const home = tempHome();
  const j = new Journal(home, "sqlite://x");
  const [running, done] = batches(4);
  j.append([running!, done!]);
  let calls = 0;
  const refusing = { kind: "sqlite", async writeBatch() {
    if (++calls === 2) throw new Error("connection refused");
  } } as unknown as RunStore;
  await assert.rejects(j.replay(refusing), /connection refused/);
  // the first line went in, the second was refused: the journal keeps its name and both lines
  // (the first is written again next time: replay is idempotent)
  assert.ok(existsSync(j.path));
  assert.deepEqual(j.pending(), { batches: 2, flowRuns: 1, taskRuns: 4, states: 10, logs: 9 });
  const got: WriteBatch[] = [];
  await j.replay({ kind: "sqlite", writeBatch: async (b: WriteBatch) => void got.push(b) } as unknown as RunStore);
  assert.equal(got.length, 2);
  assert.ok(got.every((b) => b.replayed === true));
  assert.equal(got[1]!.flowRuns[0]!.stateType, "COMPLETED");
  assert.deepEqual(got[1]!.results![0]!.payload, new Uint8Array([0, 1, 2]), "kept results' bytes survive the journal");
  assert.equal(j.pending(), undefined);
  assert.ok(!existsSync(j.path));
});

test("the writer: a store that never answers → settle() journals every row and says so in one line", async () => {
  const home = tempHome();
  const journal = new Journal(home, "postgresql://u@db/x");
  let tries = 0;
  const writer = new StoreWriter({ exitHooks: false });
  writer.storeProvider = async () => ({ kind: "postgres", location: "postgresql://u@db/x", async writeBatch() {
    tries++;
    throw new Error("connect ECONNREFUSED");
  } }) as unknown as RunStore;
  writer.journalProvider = () => journal;
  const lines: string[] = [];
  writer.notices = { write: (l) => void lines.push(l) };
  const [running, done] = batches(20);
  for (const b of [running!, done!]) {
    for (const r of b.taskRuns) writer.touchTaskRun({ id: r.id, toRow: () => r });
    for (const s of b.states) writer.addState(s);
  }
  const started = Date.now();
  await writer.settle(600);
  assert.ok(Date.now() - started < 5000);
  assert.ok(tries >= 2 && tries < 20, `retried with backoff (${tries} tries)`);
  assert.deepEqual(journal.pending(), { batches: 1, flowRuns: 0, taskRuns: 20, states: 42, logs: 0 });
  const journalLines = lines.filter((l) => l.includes("wait in the journal"));
  assert.equal(journalLines.length, 1);
  assert.match(journalLines[0]!, /0 flow runs and 20 task runs \(42 states, 0 log lines\) wait in the journal .*\.jsonl; `flowctl runs sync`/);
  assert.ok(!lines.some((l) => l.startsWith("flowctl: error")), lines.join(""));
  // nothing left in memory: a second settle writes nothing more
  await writer.settle(100);
  assert.equal(journal.pending()?.batches, 1);
});

test("the writer, a long outage: rows past spillRows go to the journal (memory stays bounded); when the store answers, all of it is written in order", async () => {
  const home = tempHome();
  const store = await openStore(`sqlite://${join(home, "flowctl.db")}`);
  const journal = new Journal(home, store.location);
  let down = true;
  const flaky = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "writeBatch") return async (b: WriteBatch) => {
        if (down) throw new Error("connect ECONNREFUSED");
        return target.writeBatch(b);
      };
      return Reflect.get(target, prop, receiver);
    },
  }) as RunStore;
  const writer = new StoreWriter({ exitHooks: false });
  writer.storeProvider = async () => flaky;
  writer.journalProvider = () => journal;
  writer.spillRows = 100;
  const lines: string[] = [];
  writer.notices = { write: (l) => void lines.push(l) };
  try {
    const log = (i: number) => ({ level: 20, source: "work", message: `line ${i}`, timestamp: T0 + i, flowRunId: "f1", taskRunId: undefined });
    writer.addLog(log(0));
    await assert.rejects(writer.flush(), /ECONNREFUSED/);
    for (let i = 1; i < 1000; i++) writer.addLog(log(i));
    const spilled = journal.pending();
    assert.ok(spilled && spilled.logs >= 900, `spilled to the journal: ${JSON.stringify(spilled)}`);
    down = false;
    await writer.flush();
    assert.equal(journal.pending(), undefined, "the journal was replayed");
    const stored = await store.getLogs({ flowRunId: "f1" });
    assert.deepEqual(stored.map((l) => l.message), Array.from({ length: 1000 }, (_, i) => `line ${i}`), "every line once, in order");
    assert.match(lines.at(-1)!, /answers again; the rows kept meanwhile are written, nothing was lost/);
    assert.ok(!lines.some((l) => /wait in the journal|error/.test(l)), lines.join(""));
  } finally {
    await store.close();
  }
});

test("the next command that reaches the store replays the journal first, saying so in one line (real CLI)", async () => {
  const home = tempHome();
  const [running, done] = batches(3);
  new Journal(home, sqlitePathFromUrl(join(home, "flowctl.db"))!).append([running!, done!]);
  const ls = await runCli(["runs", "ls", "--json"], { home });
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(ls.stderr.split("\n").filter(Boolean), [
    `flowctl: wrote 1 flow run and 3 task runs (8 states, 7 log lines) from the journal ${new Journal(home, sqlitePathFromUrl(join(home, "flowctl.db"))!).path} to the run store`,
  ]);
  const runs = JSON.parse(ls.stdout) as { name: string; state: { type: string }; taskCounts: Record<string, number> }[];
  assert.deepEqual(runs.map((r) => [r.name, r.state.type, r.taskCounts]), [["brave-fox", "COMPLETED", { COMPLETED: 3 }]]);
  const again = await runCli(["runs", "ls"], { home });
  assert.equal(again.stderr, "", "nothing left to replay");
});

test("a replay cut short by the process's death (SIGKILL mid-replay) is resumed by the next one where it stopped", async () => {
  const home = tempHome();
  const j = new Journal(home, "sqlite://x");
  const [running, done] = batches(2);
  j.append([running!, done!]);
  // what a killed replayer leaves: the claimed file, and how far it got (after the first line)
  const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
  const claimed = `${j.path}.replaying-${dead}.1`;
  renameSync(j.path, claimed);
  const firstLineEnd = readFileSync(claimed, "utf8").indexOf("\n") + 1;
  writeFileSync(`${claimed}.done`, String(firstLineEnd));
  assert.deepEqual(j.pending()?.batches, 1, "what waits: the line not written yet");
  const got: WriteBatch[] = [];
  const written = await j.replay({ kind: "sqlite", writeBatch: async (b: WriteBatch) => void got.push(b) } as unknown as RunStore);
  assert.equal(written.batches, 1);
  assert.equal(got[0]!.flowRuns[0]!.stateType, "COMPLETED", "resumed at the second line");
  assert.ok(!existsSync(claimed) && !existsSync(`${claimed}.done`));
  assert.equal(j.pending(), undefined);
});
