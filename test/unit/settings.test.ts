import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveSettings, getSettings, resetSettings } from "../../src/settings/index.ts";
import { isFlowctlError } from "../../src/errors.ts";

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** A temp root with `home/` (PREFECT_HOME) and `proj/sub/` (the working directory). */
function sandbox() {
  const root = mkdtempSync(join(tmpdir(), "flowctl-settings-"));
  roots.push(root);
  const home = join(root, "home");
  const proj = join(root, "proj");
  const cwd = join(proj, "sub");
  mkdirSync(home);
  mkdirSync(cwd, { recursive: true });
  const resolve = (env: Record<string, string> = {}, problems?: string[]) =>
    resolveSettings({ env: { PREFECT_HOME: home, ...env }, cwd, stopDir: root, problems });
  return { root, home, proj, cwd, resolve };
}

function configError(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isFlowctlError(err, "CONFIG_ERROR"), `expected CONFIG_ERROR, got ${String(err)}`);
    assert.match((err as Error).message, pattern);
    return true;
  };
}

test("defaults chain off PREFECT_HOME", () => {
  const s = sandbox();
  const { settings, sources } = s.resolve();
  assert.equal(settings.PREFECT_TASK_DEFAULT_RETRIES, 0);
  assert.equal(settings.PREFECT_LOCAL_STORAGE_PATH, join(s.home, "storage"));
  assert.equal(settings.PREFECT_API_DATABASE_CONNECTION_URL, `sqlite://${join(s.home, "flowctl.db")}`);
  assert.equal(sources.get("PREFECT_LOGGING_LEVEL")?.source, "default");
});

test("environment beats project file beats profile beats default", () => {
  const s = sandbox();
  writeFileSync(join(s.home, "profile.json"), JSON.stringify({ PREFECT_TASK_DEFAULT_RETRIES: 1, PREFECT_FLOW_DEFAULT_RETRIES: 1, PREFECT_LOGGING_LEVEL: "debug" }));
  writeFileSync(join(s.proj, ".prefectrc.json"), JSON.stringify({ PREFECT_TASK_DEFAULT_RETRIES: 2, PREFECT_FLOW_DEFAULT_RETRIES: 2 }));
  const { settings, sources } = s.resolve({ PREFECT_TASK_DEFAULT_RETRIES: "3" });
  assert.equal(settings.PREFECT_TASK_DEFAULT_RETRIES, 3);
  assert.equal(sources.get("PREFECT_TASK_DEFAULT_RETRIES")?.source, "env");
  assert.equal(settings.PREFECT_FLOW_DEFAULT_RETRIES, 2);
  assert.deepEqual(sources.get("PREFECT_FLOW_DEFAULT_RETRIES"), {
    key: "PREFECT_FLOW_DEFAULT_RETRIES", value: 2, source: "project", origin: join(s.proj, ".prefectrc.json"),
  });
  assert.equal(settings.PREFECT_LOGGING_LEVEL, "DEBUG");
  assert.equal(sources.get("PREFECT_LOGGING_LEVEL")?.source, "profile");
  assert.equal(settings.PREFECT_TASKS_REFRESH_CACHE, false);
});

test("an empty environment variable counts as unset", () => {
  const s = sandbox();
  writeFileSync(join(s.home, "profile.json"), JSON.stringify({ PREFECT_TASK_DEFAULT_RETRIES: 4 }));
  assert.equal(s.resolve({ PREFECT_TASK_DEFAULT_RETRIES: "" }).settings.PREFECT_TASK_DEFAULT_RETRIES, 4);
});

test("project files: YAML, package.json key, TypeScript and ESM modules; the nearest folder wins", () => {
  const s = sandbox();
  writeFileSync(join(s.proj, "package.json"), JSON.stringify({ name: "x", prefect: { PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS: [1, 10, 100] } }));
  assert.deepEqual(s.resolve().settings.PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS, [1, 10, 100]);

  writeFileSync(join(s.proj, ".prefectrc.yaml"), "PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS: 5\n");
  assert.equal(s.resolve().settings.PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS, 5, ".prefectrc.yaml is read before package.json");

  writeFileSync(join(s.cwd, "prefect.config.ts"), "const delay: number[] = [2, 4];\nexport default { PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS: delay };\n");
  const r = s.resolve();
  assert.deepEqual(r.settings.PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS, [2, 4]);
  assert.equal(r.sources.get("PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS")?.origin, join(s.cwd, "prefect.config.ts"));

  const t = sandbox();
  writeFileSync(join(t.cwd, "prefect.config.mjs"), "export default { PREFECT_LOGGING_LOG_PRINTS: true };\n");
  assert.equal(t.resolve().settings.PREFECT_LOGGING_LOG_PRINTS, true);
});

test("a package.json without a prefect key is skipped, and the search goes on upward", () => {
  const s = sandbox();
  writeFileSync(join(s.cwd, "package.json"), JSON.stringify({ name: "inner" }));
  writeFileSync(join(s.proj, ".prefectrc"), "PREFECT_SERVER_API_PORT: 4300\n");
  assert.equal(s.resolve().settings.PREFECT_SERVER_API_PORT, 4300);
});

test("relative paths in a project file are relative to that file; PREFECT_HOME there moves the profile", () => {
  const s = sandbox();
  writeFileSync(join(s.proj, ".prefectrc.json"), JSON.stringify({ PREFECT_HOME: "./.flowctl", PREFECT_LOCAL_STORAGE_PATH: "results" }));
  mkdirSync(join(s.proj, ".flowctl"));
  writeFileSync(join(s.proj, ".flowctl", "profile.json"), JSON.stringify({ PREFECT_FLOW_DEFAULT_RETRIES: 6 }));
  const { settings } = resolveSettings({ env: {}, cwd: s.cwd, stopDir: s.root });
  assert.equal(settings.PREFECT_HOME, join(s.proj, ".flowctl"));
  assert.equal(settings.PREFECT_LOCAL_STORAGE_PATH, join(s.proj, "results"));
  assert.equal(settings.PREFECT_FLOW_DEFAULT_RETRIES, 6);
});

test("bad values name the source, the key, the expected type and what arrived", () => {
  const s = sandbox();
  assert.throws(() => s.resolve({ PREFECT_TASK_DEFAULT_RETRIES: "two" }),
    configError(/^Invalid value for 'PREFECT_TASK_DEFAULT_RETRIES' from the environment: expected a non-negative integer, got 'two'\.$/));
  writeFileSync(join(s.proj, ".prefectrc.json"), '{\n  "PREFECT_LOGGING_LEVEL": "INFO",\n  "PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS": [1, "x"]\n}\n');
  assert.throws(() => s.resolve(), configError(
    new RegExp(`^Invalid value for 'PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS' in ${join(s.proj, ".prefectrc.json")}:3: expected .*list.*, got \\[1,"x"\\]\\.$`)));
});

test("unknown keys in a file are errors with the closest name", () => {
  const s = sandbox();
  writeFileSync(join(s.home, "profile.json"), '{\n  "PREFECT_TASK_DEFAULT_RETRIS": 2\n}\n');
  assert.throws(() => s.resolve(), configError(/Unknown setting name 'PREFECT_TASK_DEFAULT_RETRIS' in .*profile\.json:2\. Did you mean 'PREFECT_TASK_DEFAULT_RETRIES'\?/));
});

test("corrupt files name the path and line", () => {
  const s = sandbox();
  writeFileSync(join(s.home, "profile.json"), '{\n  "PREFECT_TASK_DEFAULT_RETRIES": 2,\n}\n');
  assert.throws(() => s.resolve(), configError(new RegExp(`^Corrupt profile ${join(s.home, "profile.json")}:3:1: .*not valid JSON`)));

  const t = sandbox();
  writeFileSync(join(t.proj, ".prefectrc.yml"), "PREFECT_TASK_DEFAULT_RETRIES: 1\n  oops: [\n");
  assert.throws(() => t.resolve(), configError(new RegExp(`^Corrupt project file ${join(t.proj, ".prefectrc.yml")}:2:\\d+: .*not valid YAML`)));

  const u = sandbox();
  writeFileSync(join(u.cwd, "prefect.config.ts"), "export default {\n  PREFECT_TASK_DEFAULT_RETRIES: ,\n};\n");
  assert.throws(() => u.resolve(), configError(new RegExp(`^Cannot load project file ${join(u.cwd, "prefect.config.ts")}:2:\\d+: `)));

  const v = sandbox();
  writeFileSync(join(v.proj, ".prefectrc.json"), "[1, 2]");
  assert.throws(() => v.resolve(), configError(/expected a JSON object of settings, got an array/));
});

test("with a problems list, every problem is collected and resolution goes on", () => {
  const s = sandbox();
  writeFileSync(join(s.home, "profile.json"), JSON.stringify({ PREFECT_TASK_DEFAULT_RETRIES: 2, PREFECT_HOME: "/elsewhere" }));
  writeFileSync(join(s.proj, ".prefectrc.json"), JSON.stringify({ PREFECT_TASK_DEFAULT_RETRIES: -1, PREFECT_NOPE: 1 }));
  const problems: string[] = [];
  const { settings } = s.resolve({ PREFECT_LOGGING_LEVEL: "loud" }, problems);
  assert.equal(problems.length, 4, problems.join("\n"));
  assert.equal(settings.PREFECT_TASK_DEFAULT_RETRIES, 2, "falls through to the profile");
  assert.equal(settings.PREFECT_LOGGING_LEVEL, "INFO");
  assert.ok(problems.some((p) => /'PREFECT_HOME' in .*profile\.json:1 has no effect/.test(p)));
});

test("getSettings() is cached until resetSettings(), errors included", () => {
  const saved = { home: process.env.PREFECT_HOME, retries: process.env.PREFECT_TASK_DEFAULT_RETRIES };
  const restore = (k: string, v: string | undefined) => (v === undefined ? delete process.env[k] : (process.env[k] = v));
  try {
    process.env.PREFECT_HOME = sandbox().home;
    resetSettings();
    process.env.PREFECT_TASK_DEFAULT_RETRIES = "5";
    const first = getSettings();
    assert.equal(first.PREFECT_TASK_DEFAULT_RETRIES, 5);
    process.env.PREFECT_TASK_DEFAULT_RETRIES = "6";
    assert.equal(getSettings(), first, "same object: no second resolution");
    resetSettings();
    process.env.PREFECT_TASK_DEFAULT_RETRIES = "bad";
    assert.throws(() => getSettings(), configError(/PREFECT_TASK_DEFAULT_RETRIES/));
    process.env.PREFECT_TASK_DEFAULT_RETRIES = "1";
    assert.throws(() => getSettings(), configError(/got 'bad'/));
    resetSettings();
    assert.equal(getSettings().PREFECT_TASK_DEFAULT_RETRIES, 1);
  } finally {
    restore("PREFECT_HOME", saved.home);
    restore("PREFECT_TASK_DEFAULT_RETRIES", saved.retries);
    resetSettings();
  }
});
