/**
 * Bad inputs answered well: settings checked by their true ranges at `config set` and
 * `config validate`, a corrupt package.json with its whole reason, a thrown non-Error named for
 * what it is, and a Host header parsed by the URL standard (userinfo and lists refused).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request } from "node:http";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, ROOT, runCli } from "../../support/cli.ts";

function temp() {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-messages-"));
  return { dir, home: join(dir, "home"), done: () => rmSync(dir, { recursive: true, force: true }) };
}

test("settings by their true ranges: config set refuses, config validate reports, nothing written", async () => {
  const t = temp();
  try {
    const cases: [string, string][] = [
      ["PREFECT_SERVER_API_PORT=70000", "Invalid value for 'PREFECT_SERVER_API_PORT': expected a port number from 1 to 65535 (or 0: any free port), got '70000'."],
      ["PREFECT_TASK_RUN_TAG_CONCURRENCY_LEASE_SECONDS=0", "Invalid value for 'PREFECT_TASK_RUN_TAG_CONCURRENCY_LEASE_SECONDS': expected a positive number of seconds from 0.1 to 86400, got '0'."],
      ["PREFECT_STORE_MAX_VALUE_BYTES=10", "Invalid value for 'PREFECT_STORE_MAX_VALUE_BYTES': expected an integer from 1024 to 67108864, got '10'."],
      ["PREFECT_LOGGING_REDACT_PATTERNS=pass(", "Invalid value for 'PREFECT_LOGGING_REDACT_PATTERNS': expected a regular expression (/pass(/i: Unterminated group), got 'pass('."],
    ];
    for (const [assignment, message] of cases) {
      const r = await runCli(["config", "set", assignment], { home: t.home, cwd: t.dir });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim(), `flowctl: error: ${message}`);
    }
    assert.equal(existsSync(join(t.home, "profile.json")), false);
    const v = await runCli(["config", "validate"], { home: t.home, cwd: t.dir, env: { PREFECT_SERVER_API_PORT: "70000" } });
    assert.equal(v.code, 2, v.stderr);
    assert.match(v.stderr, /'PREFECT_SERVER_API_PORT' from the environment: expected a port number from 1 to 65535 \(or 0: any free port\), got '70000'/);
    const ok = await runCli(["config", "set", "PREFECT_SERVER_API_PORT=8080"], { home: t.home, cwd: t.dir });
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    t.done();
  }
});

test("a corrupt package.json says why; a thrown string says it was a string", async () => {
  const t = temp();
  try {
    writeFileSync(join(t.dir, "package.json"), '{\n  "prefect": { "PREFECT_LOGGING_LEVEL": "INFO", }\n}\n');
    const c = await runCli(["config", "validate"], { home: t.home, cwd: t.dir });
    assert.equal(c.code, 2);
    assert.equal(c.stderr.trim(), `flowctl: error: Corrupt project file ${join(t.dir, "package.json")}:2:49: Expected double-quoted property name (not valid JSON)`);
    const w = join(t.home + "-w");
    writeFileSync(join(t.dir, "package.json"), "{}\n");
    writeFileSync(join(t.dir, "t.ts"), 'throw "plain text";\n');
    const r = await runCli(["run", "t.ts"], { home: w, cwd: t.dir });
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), 'flowctl: error: Loading t.ts failed: it threw a string: "plain text"');
  } finally {
    t.done();
  }
});

function rawStatus(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/api/health", headers: { Host: host }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on("error", reject);
    req.end();
  });
}

test("the UI's Host check parses the header by the URL standard: userinfo and lists are refused", async () => {
  const t = temp();
  const child = spawn(process.execPath, [BIN, "server", "start", "--port", "0"], { cwd: ROOT, env: { ...process.env, PREFECT_HOME: t.home, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        const m = /flowctl UI: http:\/\/[^:]+:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on("exit", (code) => reject(new Error(`server exited ${code}`)));
    });
    for (const good of [`127.0.0.1:${port}`, `localhost:${port}`, "localhost"]) assert.equal(await rawStatus(port, good), 200, good);
    for (const bad of [`127.0.0.1:${port}@evil.example`, `user@127.0.0.1:${port}`, `127.0.0.1:${port}, evil.example`, "evil.example", `127.0.0.1:${port}/x`, "127.1"]) {
      assert.equal(await rawStatus(port, bad), 403, bad);
    }
  } finally {
    child.kill("SIGTERM");
    t.done();
  }
});
