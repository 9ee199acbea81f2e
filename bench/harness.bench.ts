/**
 * flowctl/testing: how long a harness takes to start, and how long a whole test of a flow with
 * 3 retries and a 30 s timeout takes (harness made, task mocked to take a minute, flow run to
 * its TimedOut end, states checked, harness closed) — against the virtual time it covers.
 * Medians of many runs after a warm-up, in this process.
 */
import type { BenchFigure } from "./run.ts";

const STARTS = 500;
const TESTS = 100;

export default async function harnessBench(): Promise<BenchFigure[]> {
  const { flow, task } = await import("../src/index.ts");
  const { testHarness } = await import("../src/testing/index.ts");

  const transform = task({ retries: 3, retryDelaySeconds: 5, timeoutSeconds: 30 }, async function transform(rows: number[]) {
    return rows.map((r) => r * 2);
  });
  const pipeline = flow(async function pipeline() {
    return transform([1, 2, 3]);
  });
  const fetchRows = task({ retries: 3, retryDelaySeconds: [1, 10, 100] }, async function fetchRows() {
    return [1, 2, 3];
  });
  const retrying = flow(async function retrying() {
    return fetchRows();
  });

  const timeoutTest = async () => {
    const h = await testHarness();
    h.mock(transform).takes("1m");
    const t0 = h.clock.now();
    const state = await h.run(() => pipeline()).catch((e: Error) => e);
    const run = h.taskRuns({ task: transform })[0]!;
    if (!(state instanceof Error) || run.state.name !== "TimedOut" || run.runCount !== 4) throw new Error(`unexpected end: ${run.state}`);
    const covered = h.clock.now() - t0;
    await h.close();
    return covered;
  };
  const retryTest = async () => {
    const h = await testHarness();
    h.mock(fetchRows).failTimes(3);
    await h.run(() => retrying());
    const delays = h.taskRuns({ task: fetchRows })[0]!.retryDelays.join(",");
    if (delays !== "1,10,100") throw new Error(`unexpected delays ${delays}`);
    await h.close();
  };

  // the first harness of the process (its modules loaded, nothing warmed up)
  const c0 = performance.now();
  const cold = await testHarness();
  const coldStart = performance.now() - c0;
  await cold.close();

  // warm-up: JIT
  for (let i = 0; i < 20; i++) {
    await (await testHarness()).close();
    await timeoutTest();
    await retryTest();
  }

  const starts: number[] = [];
  const startAndClose: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const t0 = performance.now();
    const h = await testHarness();
    const t1 = performance.now();
    await h.close();
    starts.push(t1 - t0);
    startAndClose.push(performance.now() - t0);
  }
  const timeouts: number[] = [];
  let covered = 0;
  for (let i = 0; i < TESTS; i++) {
    const t0 = performance.now();
    covered = await timeoutTest();
    timeouts.push(performance.now() - t0);
  }
  const retries: number[] = [];
  for (let i = 0; i < TESTS; i++) {
    const t0 = performance.now();
    await retryTest();
    retries.push(performance.now() - t0);
  }

  return [
    {
      name: "harness",
      description: `testHarness() start-up (${STARTS} harnesses), and whole tests (${TESTS} each): a flow whose task has retries: 3, a 30 s timeout and a body that takes 1 min (4 attempts, TimedOut); a task with retryDelaySeconds [1, 10, 100] failing 3 times`,
      metrics: {
        "first start-up in the process (ms)": coldStart,
        "start-up median (ms)": median(starts),
        "start-up p95 (ms)": pct(starts, 0.95),
        "start-up + close median (ms)": median(startAndClose),
        "retries + timeout test median (ms)": median(timeouts),
        "retries + timeout test p95 (ms)": pct(timeouts, 0.95),
        "timeout test: virtual time (s)": covered / 1000,
        "[1,10,100] retry test median (ms)": median(retries),
        "[1,10,100] retry test p95 (ms)": pct(retries, 0.95),
        "retry test: virtual time (s)": 111,
      },
    },
  ];
}

function median(xs: number[]): number {
  return pct(xs, 0.5);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}
