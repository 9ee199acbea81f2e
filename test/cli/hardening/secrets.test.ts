/**
 * Secret parameters: names matching PREFECT_LOGGING_REDACT_PATTERNS and values wrapped in
 * `secret()` are stored and shown as '********' — in the store file's bytes, the logs, the CLI,
 * the API and a real Chromium page — while the flow receives the real value; values of secret
 * settings never reach a log line; cache keys still use the real values.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { z } from "zod";
import * as v from "valibot";
import { runCli } from "../../support/cli.ts";
import { SqliteStore } from "../../../src/store/sqlite/sqlite-store.ts";
import { startServer } from "../../../src/server/server.ts";
import { secret } from "../../../src/index.ts";
import { secretFieldsOf } from "../../../src/logging/redact.ts";

const PASSWORD = "hunter2-real-pw";
const API_KEY = "ak-0123456789";
const OPAQUE = "opaque-value-9876";
const AUTH = "admin:s3cr3t-auth-pass";
const SECRETS = [PASSWORD, API_KEY, OPAQUE, "s3cr3t-auth-pass"];

const FLOW = `
import { flow, task, secret, getRunLogger, INPUTS } from "flowctl";

const login = task(function login(user: string, pw: string) {
  getRunLogger().info("logging in " + user + " with " + pw);
  return pw.length;
});
const check = task({ cachePolicy: INPUTS, persistResult: true }, function check(password: string) {
  return password.length;
});
const inner = flow({ name: "inner", logPrints: true }, async function inner({ opaque }: { opaque: string }) {
  if (opaque !== ${JSON.stringify(OPAQUE)}) throw new Error("inner did not receive the real value");
  console.log("inner got " + opaque);
  return opaque.length;
});

export const deploy = flow({ name: "deploy", logPrints: true }, async function deploy(
  { user = "ann", password = "", apiKey = "" }: { user?: string; password?: string; apiKey?: string } = {},
) {
  if (!password.startsWith("hunter2")) throw new Error("the flow did not receive the real password");
  getRunLogger().info("auth is " + process.env.PREFECT_API_AUTH_STRING + "; key " + apiKey);
  await login(user, password);
  await check(password);
  return inner({ opaque: secret(${JSON.stringify(OPAQUE)}) as unknown as string });
});
`;

let dir: string;
let home: string;
let file: string;
const ENV = { PREFECT_API_AUTH_STRING: AUTH, PREFECT_LOGGING_LEVEL: "DEBUG" };

function assertNoSecret(text: string, where: string, secrets = SECRETS): void {
  for (const s of secrets) assert.ok(!text.includes(s), `${where} holds '${s}'`);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "flowctl-secrets-"));
  home = join(dir, "home");
  file = join(dir, "deploy.ts");
  writeFileSync(file, FLOW);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("secret parameters are '********' in the console, the store file, runs inspect/logs and --json; the flow gets the real value", async () => {
  const r = await runCli(["run", file, "--param", `password=${PASSWORD}`, "--param", `apiKey=${API_KEY}`, "--json"], { home, cwd: dir, env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assertNoSecret(r.stderr, "the console");
  assertNoSecret(r.stdout, "run --json");
  assert.match(r.stderr, /logging in ann with \*{8}/);
  assert.match(r.stderr, /auth is \*{8}; key \*{8}/);
  assert.match(r.stderr, /inner got \*{8}/);
  const out = JSON.parse(r.stdout) as { id: string; parameters: Record<string, unknown> };
  assert.deepEqual(out.parameters, { user: "ann", password: "********", apiKey: "********" });

  // every byte of the store (database and its WAL)
  for (const name of readdirSync(home).filter((n) => n.startsWith("flowctl.db"))) {
    assertNoSecret(readFileSync(join(home, name)).toString("latin1"), name);
  }
  for (const args of [["runs", "inspect", out.id], ["runs", "logs", out.id], ["runs", "ls", "--json"], ["tasks", "ls", "--json"]]) {
    const x = await runCli(args, { home, cwd: dir, env: ENV });
    assert.equal(x.code, 0, x.stderr);
    assertNoSecret(x.stdout, args.join(" "));
  }
  const inspect = await runCli(["runs", "inspect", out.id, "--json"], { home, cwd: dir });
  assert.match(inspect.stdout, /"password": "\*{8}"/);
});

test("cache keys use the real values: the same password is a hit, another one a miss", async () => {
  const again = await runCli(["run", file, "--param", `password=${PASSWORD}`], { home, cwd: dir, env: ENV });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /Task run 'check-0' - Finished in state Cached/);
  const other = await runCli(["run", file, "--param", "password=hunter2-other"], { home, cwd: dir, env: ENV });
  assert.equal(other.code, 0, other.stderr);
  assert.match(other.stderr, /Task run 'check-0' - Finished in state Completed/);
});

test("the API and a real Chromium page show '********'", async (t) => {
  const store = new SqliteStore(join(home, "flowctl.db"));
  const server = await startServer({ store, port: 0 });
  try {
    const [run] = await store.listFlowRuns({ flowName: "deploy", limit: 1 });
    const [sub] = await store.listFlowRuns({ flowName: "inner", limit: 1 });
    for (const path of [`/api/flow-runs/${run!.id}`, `/api/flow-runs/${run!.id}/logs`, `/api/flow-runs/${sub!.id}`, "/api/flow-runs", "/api/task-runs"]) {
      const body = await (await fetch(server.url + path)).text();
      assertNoSecret(body, path);
    }
    const detail = (await (await fetch(`${server.url}/api/flow-runs/${run!.id}`)).json()) as { flowRun: { parameters: Record<string, unknown> } };
    assert.equal(detail.flowRun.parameters.password, "********");
    const subDetail = (await (await fetch(`${server.url}/api/flow-runs/${sub!.id}`)).json()) as { flowRun: { parameters: Record<string, unknown> } };
    assert.equal(subDetail.flowRun.parameters.opaque, "********");

    if (!existsSync("/usr/bin/chromium")) return t.skip("no /usr/bin/chromium");
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage();
      await page.goto(`${server.url}/runs/${run!.id}`);
      await page.locator(".logs .log-msg", { hasText: "logging in ann with" }).first().waitFor({ timeout: 30_000 });
      const text = await page.locator("body").innerText();
      assertNoSecret(text, "the run page");
      assert.match(text, /\*{8}/);
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
    await store.close();
  }
});

test("a field marked secret() in the flow's parameter schema is '********' in the console, --json and the store", async () => {
  const h = join(dir, "schema-home");
  const r = await runCli(["run", "test/fixtures/hardening/secret-schema.ts", "--param", "user=ann", "--param", "pin=98765432", "--json"], { home: h });
  assert.equal(r.code, 0, r.stderr);
  assertNoSecret(r.stderr + r.stdout, "run --json", ["98765432"]);
  assert.match(r.stderr, /pin for ann is \*{8}/);
  assert.deepEqual((JSON.parse(r.stdout) as { parameters: unknown }).parameters, { user: "ann", pin: "********" });
  for (const name of readdirSync(h).filter((n) => n.startsWith("flowctl.db"))) assertNoSecret(readFileSync(join(h, name)).toString("latin1"), name, ["98765432"]);
});

test("secret() marks fields of zod and valibot schemas, and wraps values", () => {
  assert.deepEqual([...secretFieldsOf(z.object({ user: z.string(), password: secret(z.string()), token: secret(z.string().optional()) }))], ["password", "token"]);
  assert.deepEqual([...secretFieldsOf(v.object({ user: v.string(), pin: secret(v.string()) }))], ["pin"]);
  assert.deepEqual([...secretFieldsOf(secret(z.object({ a: z.string() })), ["a"])], ["a"]);
  const w = secret("x-value");
  assert.equal(String(w), "********");
  assert.equal(JSON.stringify({ w }), '{"w":"********"}');
  assert.equal(w.value, "x-value");
});
