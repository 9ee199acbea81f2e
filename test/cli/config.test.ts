/**
 * `flowctl config`, through the real bin/flowctl: PREFECT_HOME and the working directory are temp
 * dirs, and no PREFECT_* variable leaks in from the outer environment.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../support/cli.ts";
import { SETTINGS } from "../../src/settings/schema.ts";

// every setting but PREFECT_HOME (which runCli points at the sandbox) is cleared
const CLEAN_ENV = Object.fromEntries(
  SETTINGS.filter((s) => s.key !== "PREFECT_HOME").map((s) => [s.key, undefined]),
) as Record<string, string | undefined>;

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** home/ is PREFECT_HOME; proj/ may hold a project file; proj/work/ is the working directory. */
function sandbox() {
  const root = mkdtempSync(join(tmpdir(), "flowctl-config-"));
  roots.push(root);
  const home = join(root, "home");
  const proj = join(root, "proj");
  const cwd = join(proj, "work");
  mkdirSync(home);
  mkdirSync(cwd, { recursive: true });
  const profile = join(home, "profile.json");
  const run = (args: string[], env: Record<string, string> = {}) =>
    runCli(["config", ...args], { home, cwd, env: { ...CLEAN_ENV, ...env } });
  const view = async (env: Record<string, string> = {}) => {
    const r = await run(["view", "--json"], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, { value: unknown; source: string; origin?: string }>;
  };
  return { root, home, proj, cwd, profile, run, view };
}

describe("flowctl config", { concurrency: 4 }, () => {
  test("set works as the seed writes it, and view shows both values with their source", async () => {
    const s = sandbox();
    const a = await s.run(["set", "PREFECT_TASK_DEFAULT_RETRIES=2"]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, `Set 'PREFECT_TASK_DEFAULT_RETRIES' to '2'.\nUpdated profile ${s.profile}.\n`);
    const b = await s.run(["set", "PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS", "=", "[1,", "10,", "100]"]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /^Set 'PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS' to '\[1, 10, 100\]'\.$/m);
    assert.deepEqual(JSON.parse(readFileSync(s.profile, "utf8")), {
      PREFECT_TASK_DEFAULT_RETRIES: 2,
      PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS: [1, 10, 100],
    });
    const v = await s.run(["view"]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^PREFECT_TASK_DEFAULT_RETRIES='2' \(from profile\)$/m);
    assert.match(v.stdout, /^PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS='\[1, 10, 100\]' \(from profile\)$/m);
    assert.match(v.stdout, /^PREFECT_HOME='.*' \(from env\)$/m);
    assert.doesNotMatch(v.stdout, /PREFECT_LOGGING_LEVEL/, "defaults only with --show-defaults");
  });

  test("environment beats project file beats profile beats default", async () => {
    const s = sandbox();
    const key = "PREFECT_FLOW_DEFAULT_RETRIES";
    assert.deepEqual((await s.view())[key], undefined);
    assert.deepEqual((await s.view())[key], undefined);
    const all = JSON.parse((await s.run(["view", "--json", "--show-defaults"])).stdout);
    assert.deepEqual(all[key], { value: 0, source: "default" });

    assert.equal((await s.run(["set", `${key}=1`])).code, 0);
    assert.deepEqual((await s.view())[key], { value: 1, source: "profile", origin: s.profile });

    const projectFile = join(s.proj, ".prefectrc.yaml");
    writeFileSync(projectFile, `${key}: 2\n`);
    assert.deepEqual((await s.view())[key], { value: 2, source: "project", origin: projectFile });

    assert.deepEqual((await s.view({ [key]: "3" }))[key], { value: 3, source: "env" });
  });

  test("--local writes .prefectrc.json in the working directory, which then wins over the profile", async () => {
    const s = sandbox();
    await s.run(["set", "PREFECT_LOGGING_LEVEL=ERROR"]);
    const r = await s.run(["set", "--local", "PREFECT_LOGGING_LEVEL=debug", "PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS=1,10,100"]);
    assert.equal(r.code, 0, r.stderr);
    const local = join(s.cwd, ".prefectrc.json");
    assert.deepEqual(JSON.parse(readFileSync(local, "utf8")), { PREFECT_LOGGING_LEVEL: "DEBUG", PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS: [1, 10, 100] });
    assert.deepEqual((await s.view()).PREFECT_LOGGING_LEVEL, { value: "DEBUG", source: "project", origin: local });
    const u = await s.run(["unset", "--local", "PREFECT_LOGGING_LEVEL"]);
    assert.equal(u.code, 0, u.stderr);
    assert.equal(u.stdout.split("\n")[0], "Unset 'PREFECT_LOGGING_LEVEL'.");
    assert.deepEqual((await s.view()).PREFECT_LOGGING_LEVEL, { value: "ERROR", source: "profile", origin: s.profile });
  });

  test("a variable in the environment is reported as overriding what was just set", async () => {
    const s = sandbox();
    const r = await s.run(["set", "PREFECT_TASK_DEFAULT_RETRIES=2"], { PREFECT_TASK_DEFAULT_RETRIES: "5" });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: 'PREFECT_TASK_DEFAULT_RETRIES' is also set in the environment \(PREFECT_TASK_DEFAULT_RETRIES='5'\), which overrides/);
  });

  test("every bad input exits 2 with one error line and changes no file", async () => {
    const s = sandbox();
    writeFileSync(s.profile, '{\n  "PREFECT_TASK_DEFAULT_RETRIES": 1\n}\n');
    const snapshot = () => readdirSync(s.home).concat(readdirSync(s.cwd)).map((f) => {
      const p = existsSync(join(s.home, f)) ? join(s.home, f) : join(s.cwd, f);
      return `${f}:${readFileSync(p, "utf8")}`;
    }).sort();
    const cases: [string[], RegExp][] = [
      [["set", "PREFECT_TASK_DEFAULT_RETRIS=2"], /^Unknown setting name 'PREFECT_TASK_DEFAULT_RETRIS'\. Did you mean 'PREFECT_TASK_DEFAULT_RETRIES'\?$/],
      [["set", "PREFECT_LOGGING_LEVEL=INFO", "PREFECT_TASK_DEFAULT_RETRIES=-1"], /^Invalid value for 'PREFECT_TASK_DEFAULT_RETRIES': expected a non-negative integer, got '-1'\.$/],
      [["set", "PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS", "=", "[1,", "x]"], /^Invalid value for 'PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS': expected .*list.*, got '\[1, x\]'\.$/],
      [["set", "--local", "PREFECT_LOGGING_LEVEL=loud"], /^Invalid value for 'PREFECT_LOGGING_LEVEL': expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'loud'\.$/],
      [["set", "PREFECT_HOME=/elsewhere"], /^'PREFECT_HOME' cannot be set with 'flowctl config set'.*environment/],
      [["set", "retries"], /^Expected KEY=VALUE, got 'retries'/],
      [["unset", "PREFECT_LOGGING_LEVEL"], /^'PREFECT_LOGGING_LEVEL' is not set in the profile /],
      [["unset", "PREFECT_TASK_DEFAULT_RETRIES", "PREFECT_LOGIN_LEVEL"], /^Unknown setting name 'PREFECT_LOGIN_LEVEL'\. Did you mean 'PREFECT_LOGGING_LEVEL'\?$/],
      [["unset", "--local", "PREFECT_TASK_DEFAULT_RETRIES"], /is not set in the project file /],
    ];
    const before = snapshot();
    for (const [args, message] of cases) {
      const r = await s.run(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "", args.join(" "));
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^flowctl: error: /);
      assert.match(lines[0]!.slice("flowctl: error: ".length), message, args.join(" "));
      assert.deepEqual(snapshot(), before, `${args.join(" ")} changed a file`);
    }
  });

  test("a corrupt profile or project file stops set, unset, view with its path and line, unchanged", async () => {
    const s = sandbox();
    const corrupt = '{\n  "PREFECT_TASK_DEFAULT_RETRIES": 1,\n}\n';
    writeFileSync(s.profile, corrupt);
    for (const args of [["set", "PREFECT_LOGGING_LEVEL=DEBUG"], ["unset", "PREFECT_TASK_DEFAULT_RETRIES"], ["view"], ["validate"]]) {
      const r = await s.run(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`^flowctl: error: Corrupt profile ${s.profile}:3:1: .*\\n$`));
      assert.equal(readFileSync(s.profile, "utf8"), corrupt);
    }
    writeFileSync(s.profile, "{}\n");
    const project = join(s.proj, ".prefectrc.yaml");
    writeFileSync(project, "PREFECT_TASK_DEFAULT_RETRIES: 1\n  x: [\n");
    for (const args of [["set", "PREFECT_LOGGING_LEVEL=DEBUG"], ["set", "--local", "PREFECT_LOGGING_LEVEL=DEBUG"]]) {
      const r = await s.run(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`^flowctl: error: Corrupt project file ${project}:2:\\d+: .*\\n$`));
    }
    assert.equal(readFileSync(s.profile, "utf8"), "{}\n");
    assert.ok(!existsSync(join(s.cwd, ".prefectrc.json")));
  });

  test("validate: exit 0 when every source is sound, else exit 2 listing each problem", async () => {
    const s = sandbox();
    const ok = await s.run(["validate"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^Settings are valid\./);
    writeFileSync(s.profile, JSON.stringify({ PREFECT_TASK_DEFAULT_RETRIS: 2 }));
    writeFileSync(join(s.proj, ".prefectrc.json"), '{\n  "PREFECT_SERVER_API_PORT": "http"\n}\n');
    const bad = await s.run(["validate"], { PREFECT_LOGGING_LOG_PRINTS: "maybe" });
    assert.equal(bad.code, 2);
    const lines = bad.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 3, bad.stderr);
    assert.ok(lines.every((l) => l.startsWith("flowctl: error: ")));
    assert.match(bad.stderr, /'PREFECT_SERVER_API_PORT' in .*\.prefectrc\.json:2: expected a port number from 1 to 65535 \(or 0: any free port\), got 'http'/);
    assert.match(bad.stderr, /Unknown setting name 'PREFECT_TASK_DEFAULT_RETRIS' in .*profile\.json/);
    assert.match(bad.stderr, /'PREFECT_LOGGING_LOG_PRINTS' from the environment: expected a boolean/);
  });

  test("concurrent sets of different keys all land in the profile", async () => {
    const s = sandbox();
    const keys = ["PREFECT_TASK_DEFAULT_RETRIES=1", "PREFECT_FLOW_DEFAULT_RETRIES=2", "PREFECT_LOGGING_LEVEL=DEBUG",
      "PREFECT_SERVER_API_PORT=4300", "PREFECT_TASKS_REFRESH_CACHE=true", "PREFECT_LOGGING_LOG_PRINTS=true"];
    const results = await Promise.all(keys.map((kv) => s.run(["set", kv])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.equal(Object.keys(JSON.parse(readFileSync(s.profile, "utf8"))).length, keys.length);
    assert.deepEqual(readdirSync(s.home), ["profile.json"], "no temp or lock file left");
  });

  test("view: --hide-sources, --show-defaults lists every key, secrets masked; set --help lists the settings", async () => {
    const s = sandbox();
    await s.run(["set", "PREFECT_API_AUTH_STRING=hunter2"]);
    const plain = await s.run(["view", "--hide-sources", "--show-defaults"]);
    assert.equal(plain.code, 0, plain.stderr);
    const lines = plain.stdout.trimEnd().split("\n");
    assert.deepEqual(lines.map((l) => l.split("=")[0]), SETTINGS.map((x) => x.key));
    assert.ok(lines.includes("PREFECT_API_AUTH_STRING='********'"));
    const help = await s.run(["set", "--help"]);
    assert.equal(help.code, 0);
    for (const x of SETTINGS) assert.ok(help.stdout.includes(x.key), x.key);
  });
});
