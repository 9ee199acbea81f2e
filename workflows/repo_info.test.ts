// Testing a flow with flowctl/testing: workflows/repo_info.ts without the network, on virtual
// time. The same file runs under Node's test runner and under vitest:
//
//   node --import tsx --test workflows/repo_info.test.ts
//   npx vitest run workflows/repo_info.test.ts
import assert from "node:assert/strict";
import { testHarness } from "flowctl/testing";
import { getRepoInfo, getUrl } from "./repo_info.ts";

// one file, two runners: vitest sets VITEST in its workers; both take `test(name, async fn)`
type Test = (name: string, fn: () => Promise<void>) => unknown;
const { test } = (process.env.VITEST ? await import("vitest") : await import("node:test")) as unknown as { test: Test };

const API = "https://api.example.test";

test("prints the repository's statistics", async () => {
  const h = await testHarness();
  const fetchMock = h.mock(getUrl).returns({ stargazers_count: 42, forks_count: 7 });

  await h.run(() => getRepoInfo({ repoName: "acme/rockets", apiUrl: API }));

  assert.deepEqual(fetchMock.calls.map((c) => [c.args[0], c.taskRunName]), [[`${API}/repos/acme/rockets`, "getUrl-0"]]);
  const printed = h.logs().map((l) => l.message);
  assert.ok(printed.includes("Stars 🌠 : 42"));
  assert.ok(printed.includes("Forks 🍴 : 7"));
  await h.close();
});

test("a failing API is retried by the flow, 5 virtual seconds apart", async () => {
  const h = await testHarness();
  const fetchMock = h.mock(getUrl).failTimes(2, new Error("HTTP 503 Service Unavailable")).returns({ stargazers_count: 1, forks_count: 0 });
  const started = h.clock.now();

  await h.run(() => getRepoInfo({ apiUrl: API }));

  const [run] = h.runs();
  assert.equal(run!.state.name, "Completed");
  assert.deepEqual(run!.stateNames, ["Pending", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying", "Completed"]);
  // each flow attempt made a new task run
  assert.deepEqual(fetchMock.calls.map((c) => c.taskRunName), ["getUrl-0", "getUrl-1", "getUrl-2"]);
  assert.equal(h.clock.now() - started, 10_000);
  await h.close();
});

test("runs through the CLI path: exit code 1 once the retries are spent", async () => {
  const h = await testHarness();
  h.mock(getUrl).throws(new Error("HTTP 404 Not Found"));

  const { exitCode, state, output } = await h.runFile("workflows/repo_info.ts", { params: { apiUrl: API } });

  assert.equal(exitCode, 1);
  assert.equal(state?.name, "Failed");
  assert.match(output, /Flow run failed in state Failed\(.*\) - Retry 3\/3 will start 5 second\(s\) from now/);
  await h.close();
});
