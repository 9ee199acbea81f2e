// ProcessPoolTaskRunner against the runner conformance suite (test/fixtures/runners/suite.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ProcessPoolTaskRunner } from "../../src/index.ts";
import { isFlowctlError } from "../../src/errors.ts";
import { runnerSuite } from "../fixtures/runners/suite.ts";

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
