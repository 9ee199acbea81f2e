// The seed's retry section, in TypeScript, against a local flaky HTTP service (runs offline):
// - getDataTask: retries: 2 with a delay — the service fails twice with 503, then answers;
// - myApiCallTask: the seed's retryConditionFn — retries a 503, never a 401 or a 404;
// - backoffTask: exponentialBackoff with jitter (delays scaled down so the example is quick).
//
//   npx flowctl run workflows/retries.ts
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { exponentialBackoff, flow, isMain, runtime, task, type State } from "flowctl";

class HttpStatusError extends Error {
  constructor(readonly status: number, url: string) {
    super(`HTTP ${status} for ${url}`);
    this.name = "HttpStatusError";
  }
}

async function httpGet(url: string): Promise<unknown> {
  const response = await fetch(url, { signal: runtime.taskRun.signal });
  if (!response.ok) throw new HttpStatusError(response.status, url);
  return response.json();
}

/** A brittle service: /flaky fails with 503 `failures` times per key, then answers; /status/N answers N. */
async function startBrittleService(failures: number) {
  const seen = new Map<string, number>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    if (status) {
      res.writeHead(Number(status[1]), { "content-type": "application/json" }).end(JSON.stringify({ status: Number(status[1]) }));
      return;
    }
    const key = url.searchParams.get("key") ?? "default";
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    if (n <= failures) res.writeHead(503).end(JSON.stringify({ error: "try again" }));
    else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, attempts: n }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export const getDataTask = task({ retries: 2, retryDelaySeconds: 0.5 }, async function getDataTask(url: string) {
  // any non-2xx throws; flowctl catches it and retries the run
  return httpGet(url);
});

/** The seed's custom retry handler: retry on anything but 401 and 404. */
async function retryHandler(_task: unknown, _taskRun: unknown, state: State): Promise<boolean> {
  try {
    await state.result();
  } catch (exc) {
    if (exc instanceof HttpStatusError) return ![401, 404].includes(exc.status);
    if (exc instanceof TypeError) return false; // fetch's connection errors: do not retry
    return true;
  }
  return true;
}

export const myApiCallTask = task({ retries: 1, retryConditionFn: retryHandler }, async function myApiCallTask(url: string) {
  return httpGet(url);
});

// exponentialBackoff(0.1) with jitter: up to 0.2, 0.4 and 0.8 seconds (the seed uses a factor of 10)
export const backoffTask = task(
  { retries: 3, retryDelaySeconds: exponentialBackoff(0.1), retryJitterFactor: 1 },
  async function backoffTask(url: string) {
    return httpGet(url);
  },
);

export const retriesFlow = flow({ name: "retries", logPrints: true }, async function retriesFlow() {
  const service = await startBrittleService(2);
  try {
    const data = await getDataTask(`${service.url}/flaky?key=data`);
    console.log(`getDataTask answered after retries: ${JSON.stringify(data)}`);
    const attempts: Record<number, number> = {};
    for (const status of [503, 401, 404]) {
      const future = myApiCallTask.submit(`${service.url}/status/${status}`);
      const state = await future.wait();
      attempts[status] = future.taskRun.runCount;
      console.log(`status ${status}: ${state.name} after ${future.taskRun.runCount} attempt(s)`);
    }
    const backoff = await backoffTask(`${service.url}/flaky?key=backoff`);
    console.log(`backoffTask answered: ${JSON.stringify(backoff)}`);
    // returning a value makes the flow Completed even though the 401/404/503 calls failed on purpose
    return { data, attempts, backoff };
  } finally {
    await service.close();
  }
});

if (isMain(import.meta)) {
  await retriesFlow();
}
