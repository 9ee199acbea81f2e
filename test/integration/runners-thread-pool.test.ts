// ThreadPoolTaskRunner against the runner conformance suite (test/fixtures/runners/suite.ts).
import { isMainThread } from "node:worker_threads";
import { test } from "node:test";
import assert from "node:assert/strict";
import { ThreadPoolTaskRunner } from "../../src/index.ts";
import { isFlowctlError } from "../../src/errors.ts";
import { runnerSuite } from "../fixtures/runners/suite.ts";

runnerSuite({
  name: "ThreadPoolTaskRunner",
  make: (maxWorkers) => new ThreadPoolTaskRunner({ maxWorkers }),
  makeLowMemory: () => new ThreadPoolTaskRunner({ maxWorkers: 1, resourceLimits: { maxOldGenerationSizeMb: 32 } }),
  ranElsewhere: (w) => isMainThread && w.pid === process.pid && w.threadId !== 0,
});

test("ThreadPoolTaskRunner: bad options are refused at construction, naming the option", () => {
  assert.throws(() => new ThreadPoolTaskRunner({ maxWorkers: 0 }), (e: unknown) =>
    isFlowctlError(e, "INVALID_OPTION") && (e as Error).message === "ThreadPoolTaskRunner: expected `maxWorkers` to be a positive integer, got 0");
  assert.throws(() => new ThreadPoolTaskRunner({ maxWorkers: 1.5 }), /positive integer, got 1.5/);
  assert.throws(() => new ThreadPoolTaskRunner({ resourceLimits: 5 as never }), /`resourceLimits` to be an object, got number/);
  assert.ok(new ThreadPoolTaskRunner().maxWorkers >= 1);
});
