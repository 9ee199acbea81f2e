import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { flow, task, runtime } from "../../src/index.ts";
import { isFlowctlError } from "../../src/errors.ts";
import { interruptActiveFlowRuns } from "../../src/engine/flow-engine.ts";
import { useTempHome, flushedStore } from "../support/home.ts";

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });

test("a task past its timeout ends TimedOut, the caller gets a timeout error and the signal aborts", async () => {
  const home = await useTempHome();
  try {
    let aborted: unknown;
    const slow = task({ timeoutSeconds: 0.2 }, async function slow() {
      const signal = runtime.taskRun.signal!;
      signal.addEventListener("abort", () => (aborted = signal.reason));
      await sleep(5000, signal);
      return "never";
    });
    const f = flow(async function timeoutFlow() {
      await slow();
    });
    await assert.rejects(f(), (e: Error) => isFlowctlError(e, "TASK_RUN_TIMEOUT") && e.name === "TimeoutError");
    assert.ok(isFlowctlError(aborted, "TASK_RUN_TIMEOUT"));
    const lines = home.lines();
    assert.ok(lines.includes("Task run 'slow-0' - Finished in state TimedOut('Task run exceeded timeout of 0.2 second(s)', type=FAILED)"), lines.join("\n"));
    const store = await flushedStore();
    const run = await store.getTaskRun("slow-0");
    assert.equal(run!.stateName, "TimedOut");
    assert.equal(run!.stateType, "FAILED");
  } finally {
    await home.cleanup();
  }
});

test("a non-cooperative task still times out; the timeout counts as a failure for retries", async () => {
  const home = await useTempHome();
  try {
    let calls = 0;
    const stubborn = task({ timeoutSeconds: 0.1, retries: 1 }, async function stubborn() {
      calls++;
      await new Promise((r) => setTimeout(r, calls === 1 ? 2000 : 1).unref());
      return calls;
    });
    const f = flow(async function retryAfterTimeout() {
      return stubborn();
    });
    assert.equal(await f(), 2);
    const store = await flushedStore();
    const run = await store.getTaskRun("stubborn-0");
    assert.deepEqual((await store.getStates(run!.id)).map((s) => s.name), ["Pending", "Running", "Retrying", "Completed"]);
  } finally {
    await home.cleanup();
  }
});

test("a flow past its timeout ends TimedOut; its running tasks end Cancelled; later task calls fail at once", async () => {
  const home = await useTempHome();
  try {
    let lateCall: unknown;
    const hang = task(async function hang() {
      await sleep(5000, runtime.taskRun.signal);
    });
    const later = task(function later() {
      return 1;
    });
    const f = flow({ timeoutSeconds: 0.2 }, async function slowFlow() {
      try {
        await hang();
      } catch {
        // the flow body goes on after its task was cancelled
      }
      try {
        await later();
      } catch (err) {
        lateCall = err;
      }
    });
    await assert.rejects(f(), (e: Error) => isFlowctlError(e, "FLOW_RUN_TIMEOUT"));
    const store = await flushedStore();
    const [run] = await store.listFlowRuns({ flowName: "slow-flow" });
    assert.equal(run!.stateName, "TimedOut");
    assert.equal(run!.stateMessage, "Flow run exceeded timeout of 0.2 second(s)");
    const tasks = await store.listTaskRuns({ flowRunId: run!.id });
    assert.equal(tasks[0]!.stateName, "Cancelled");
    await new Promise((r) => setImmediate(r));
    assert.ok(isFlowctlError(lateCall, "FLOW_RUN_TIMEOUT"), String(lateCall));
  } finally {
    await home.cleanup();
  }
});

test("task hooks: onRunning on every attempt, onCompletion/onFailure once, a throwing hook changes nothing", async () => {
  const home = await useTempHome();
  try {
    const events: string[] = [];
    let calls = 0;
    const t = task(
      {
        retries: 1,
        onRunning: (_t, run, state) => void events.push(`running:${run.name}:${state.name}`),
        onCompletion: [
          async function first(_t, _run, state) {
            events.push(`completed:${state.name}`);
          },
          function broken() {
            throw new Error("hook broke");
          },
        ],
        onFailure: () => void events.push("failure"),
      },
      function hooked() {
        if (++calls === 1) throw new Error("first");
        return "done";
      },
    );
    const failing = task({ onFailure: (task, run, state) => void events.push(`failure:${(task as { name: string }).name}:${run.name}:${state.name}`) }, function failing() {
      throw new Error("nope");
    });
    const f = flow(async function hooksFlow() {
      const v = await t();
      await failing().catch(() => undefined);
      return v;
    });
    assert.equal(await f(), "done");
    assert.deepEqual(events, ["running:hooked-0:Running", "running:hooked-0:Retrying", "completed:Completed", "failure:failing:failing-0:Failed"]);
    const lines = home.lines();
    assert.ok(lines.includes("Task run 'hooked-0' - Running hook 'first' in response to entering state 'Completed'"));
    assert.ok(lines.includes("Task run 'hooked-0' - Hook 'first' finished running successfully"));
    assert.ok(lines.some((l) => l.startsWith("Task run 'hooked-0' - An error was encountered while running hook 'broken'")));
  } finally {
    await home.cleanup();
  }
});

test("flow hooks: onCompletion, onFailure, onCancellation and onCrashed", async () => {
  const home = await useTempHome();
  try {
    const events: string[] = [];
    const ok = flow({ onCompletion: (fl, run, s) => void events.push(`${(fl as { name: string }).name}:${(run as { flowName: string }).flowName}:${s.name}`) }, async function okFlow() {
      return 1;
    });
    await ok();
    const bad = flow({ onFailure: (_f, _r, s) => void events.push(`failed:${s.message}`) }, async function badFlow() {
      throw new Error("x");
    });
    await assert.rejects(bad());
    const hang = task(async function hangs() {
      await sleep(10_000, runtime.taskRun.signal);
    });
    const cancelled = flow(
      { onCancellation: (_f, _r, s) => void events.push(`cancelled:${s.name}`), onCrashed: () => void events.push("crashed") },
      async function cancellable() {
        await hang();
      },
    );
    const p = cancelled();
    await new Promise((r) => setTimeout(r, 50));
    await interruptActiveFlowRuns("SIGINT");
    await assert.rejects(p);
    const crashing = flow({ onCrashed: (_f, _r, s) => void events.push(`crashed:${s.name}`) }, async function crashable() {
      await hang();
    });
    const q = crashing();
    await new Promise((r) => setTimeout(r, 50));
    await interruptActiveFlowRuns("SIGTERM");
    await assert.rejects(q);
    assert.deepEqual(events, ["ok-flow:ok-flow:Completed", "failed:Flow run encountered an exception: Error: x", "cancelled:Cancelled", "crashed:Crashed"]);
    const store = await flushedStore();
    const [run] = await store.listFlowRuns({ flowName: "cancellable" });
    assert.equal(run!.stateName, "Cancelled");
    const tasks = await store.listTaskRuns({ flowRunId: run!.id });
    assert.equal(tasks[0]!.stateName, "Cancelled");
  } finally {
    await home.cleanup();
  }
});

test("runtime.taskRun.signal lets cooperative code stop (fetch-style AbortSignal)", async () => {
  const home = await useTempHome();
  try {
    const { createServer } = await import("node:http");
    const server = createServer(() => {
      /* never answers */
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    const fetcher = task({ timeoutSeconds: 0.2 }, async function fetcher() {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: runtime.taskRun.signal });
      return res.status;
    });
    const f = flow(async function fetchFlow() {
      await fetcher();
    });
    await assert.rejects(f(), (e) => isFlowctlError(e, "TASK_RUN_TIMEOUT"));
    server.closeAllConnections();
    server.close();
  } finally {
    await home.cleanup();
  }
});

test("an error inside the engine itself ends the run Crashed, not Failed", async () => {
  const home = await useTempHome();
  try {
    // a delay function that returns nonsense breaks the engine's retry step, not the user's body
    const t = task({ retries: 1, retryDelaySeconds: (() => "soon") as unknown as () => number[] }, function brokenDelays() {
      throw new Error("first attempt fails");
    });
    const f = flow(async function crashFlow() {
      await t();
    });
    await assert.rejects(f());
    const store = await flushedStore();
    const run = await store.getTaskRun("brokenDelays-0");
    assert.equal(run!.stateType, "CRASHED");
    assert.match(run!.stateMessage!, /^Execution was interrupted by an unexpected exception: FlowctlError: retryDelaySeconds function must return an array of numbers/);
  } finally {
    await home.cleanup();
  }
});
