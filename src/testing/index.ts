// flowctl/testing: test flows in-process, in memory, on virtual time. Named exports only.
export { testHarness, TestHarness, type HarnessOptions, type HarnessClock } from "./harness.ts";
export { TaskMock, type MockCall } from "./mocks.ts";
export type { FlowRunView, TaskRunView, LogLine } from "./views.ts";
export type { RunFileOptions, RunFileResult } from "./run-file.ts";
export type { Duration } from "./duration.ts";
