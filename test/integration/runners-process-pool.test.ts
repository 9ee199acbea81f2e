// ProcessPoolTaskRunner against the runner conformance suite (test/fixtures/runners/suite.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ProcessPoolTaskRunner, flow, type State } from "../../src/index.ts";
import { isFlowctlError } from "../../src/errors.ts";
import { runnerSuite } from "../fixtures/runners/suite.ts";
import * as t from "../fixtures/runners/tasks.ts";
import { useTempHome } from "../support/home.ts";

runnerSuite({
  name: "ProcessPoolTaskRunner",
  make: (maxWorkers) => new ProcessPoolTaskRunner({ maxWorkers }),
  makeLowMemory: () => new ProcessPoolTaskRunner({ maxWorkers: 1, execArgv: ["--max-old-space-size=32"] }),
  ranElsewhere: (w) => w.pid !== process.pid,
});

test("ProcessPoolTaskRunner: bad options are refused at construction, naming the option", () => {
  assert.throws(() => new ProcessPoolTaskRunner({ maxWorkers: -1 }), (e: unknown) =>
    isFlowctlError(e, "INVALID_OPTION") && (e as Error).message === "ProcessPoolTaskRunner: expected `maxWorkers` to be a positive integer, got -1");
  assert.throws(() => new ProcessPoolTaskRunner({ execArgv: "--inspect" as never }), /`execArgv` to be an array of strings, got "--inspect"/);
});

test("ProcessPoolTaskRunner: a worker killed by a signal (a native crash) ends its task run Crashed naming it; the flow goes on", { timeout: 60_000 }, async () => {
  const home = await useTempHome();
  try {
    let s: State | undefined;
    const f = flow({ name: "native-crash", taskRunner: new ProcessPoolTaskRunner({ maxWorkers: 1 }) }, async function nativeCrash() {
      s = await t.segfault.with({ returnState: true })();
      return t.add(20, 22);
    });
    assert.equal(await f(), 42);
    assert.equal(s?.type, "CRASHED");
    assert.match(s?.message ?? "", /^Task run 'segfault-0' crashed: its ProcessPoolTaskRunner worker \(worker process \d+\) was killed by SIGSEGV \(a native crash\)$/);
  } finally {
    await home.cleanup();
  }
});
