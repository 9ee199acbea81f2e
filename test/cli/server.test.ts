/**
 * `flowctl server start` through the real bin/flowctl: it serves the store of its PREFECT_HOME,
 * stops cleanly on SIGINT, and refuses unsafe or impossible binds with one line (exit 2).
 * Only 127.0.0.1 is ever bound here.
 */
import { after, describe, test } from "node:test";
import type { ChildProcess } from "node:child_process";
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, spawnCli } from "../support/cli.ts";

const HELLO = join(process.cwd(), "workflows/hello.ts");
const CLEAN = { PREFECT_API_AUTH_STRING: undefined, PREFECT_SERVER_API_HOST: undefined, PREFECT_SERVER_API_PORT: undefined, PREFECT_API_DATABASE_CONNECTION_URL: undefined };

function home() {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-server-cli-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill("SIGKILL");
});

/** Start the server; resolves with its URL once it has printed it and its notes on stderr. */
async function start(dir: string, args: string[], env: Record<string, string> = {}) {
  const child = spawnCli(["server", "start", "--port", "0", ...args], { home: dir, env: { ...CLEAN, ...env } as unknown as Record<string, string> });
  running.add(child);
  const closed = once(child, "close") as Promise<[number | null, NodeJS.Signals | null]>;
  void closed.then(() => running.delete(child));
  let out = "";
  let err = "";
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /^flowctl UI: (http:\/\/127\.0\.0\.1:\d+)$/m.exec(out);
      if (m && err.includes("Press Ctrl-C to stop.")) resolve(m[1]!);
    };
    child.stdout.on("data", (d) => { out += d; check(); });
    child.stderr.on("data", (d) => { err += d; check(); });
    child.on("close", (code) => reject(new Error(`server exited ${code} before listening: ${err}`)));
  });
  return { child, url, closed, stderr: () => err };
}

describe("flowctl server start", { concurrency: 3 }, () => {
  test("serves the runs of its store and the UI, and stops on SIGINT with exit 0", async () => {
    const h = home();
    try {
      const run = await runCli(["run", HELLO, "--param", "name=Server"], { home: h.dir, env: CLEAN });
      assert.equal(run.code, 0, run.stderr);
      const s = await start(h.dir, []);
      const health = await (await fetch(`${s.url}/api/health`)).json();
      assert.equal(health.ok, true);
      assert.equal(health.store, "sqlite");
      const { flowRuns } = await (await fetch(`${s.url}/api/flow-runs`)).json();
      assert.equal(flowRuns.length, 1);
      assert.deepEqual(flowRuns[0].parameters, { name: "Server" });
      const page = await fetch(`${s.url}/runs/${flowRuns[0].id}`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<main id="app"/);
      assert.match(s.stderr(), /Reading runs from the sqlite store at .*flowctl\.db\. Press Ctrl-C to stop\./);

      s.child.kill("SIGINT");
      const [code] = await s.closed;
      assert.equal(code, 0, s.stderr());
      assert.match(s.stderr(), /received SIGINT; stopping the server\./);
      await assert.rejects(fetch(`${s.url}/api/health`));
    } finally {
      h.cleanup();
    }
  });

  test("with PREFECT_API_AUTH_STRING every request needs the credentials", async () => {
    const h = home();
    try {
      const s = await start(h.dir, ["--host", "127.0.0.1"], { PREFECT_API_AUTH_STRING: "admin:pw" });
      assert.match(s.stderr(), /Every request must carry PREFECT_API_AUTH_STRING as HTTP Basic credentials\./);
      assert.equal((await fetch(`${s.url}/`)).status, 401);
      assert.equal((await fetch(`${s.url}/api/flow-runs`)).status, 401);
      const ok = await fetch(`${s.url}/api/flow-runs`, { headers: { Authorization: `Basic ${Buffer.from("admin:pw").toString("base64")}` } });
      assert.equal(ok.status, 200);
      s.child.kill("SIGTERM");
      assert.equal((await s.closed)[0], 0);
    } finally {
      h.cleanup();
    }
  });

  test("refuses to bind beyond loopback without an auth string, and bad ports, with one line", async () => {
    const h = home();
    const busy = createServer();
    busy.listen(0, "127.0.0.1");
    await once(busy, "listening");
    const busyPort = (busy.address() as { port: number }).port;
    try {
      const cases: [string[], RegExp][] = [
        [["--host", "0.0.0.0"], /^flowctl: error: Refusing to bind 0\.0\.0\.0 without PREFECT_API_AUTH_STRING: anyone who can reach it could read every run\. Set PREFECT_API_AUTH_STRING=user:password, or bind 127\.0\.0\.1\.\n$/],
        [["--port", "70000"], /^flowctl: error: --port expects a port number from 0 to 65535, got '70000'\n$/],
        [["--port", "http"], /--port expects a port number/],
        [["--port", String(busyPort)], new RegExp(`^flowctl: error: Port ${busyPort} on 127\\.0\\.0\\.1 is already in use; pick another with --port\\.\\n$`)],
      ];
      for (const [args, re] of cases) {
        const r = await runCli(["server", "start", ...args], { home: h.dir, env: CLEAN });
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, re);
        assert.equal(r.stdout, "");
      }
      const env = await runCli(["server", "start"], { home: h.dir, env: { ...CLEAN, PREFECT_SERVER_API_HOST: "0.0.0.0" } });
      assert.equal(env.code, 2);
      assert.match(env.stderr, /Refusing to bind 0\.0\.0\.0 without PREFECT_API_AUTH_STRING/);
    } finally {
      busy.close();
      h.cleanup();
    }
  });
});
