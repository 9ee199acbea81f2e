/**
 * flowctl as a new user gets it. `npm pack`'s tarball is unpacked into a scratch project's
 * node_modules/flowctl (a real copy, not a link to this checkout); its dependencies, and the
 * project's typescript/tsx/@types/node, are links to this checkout's node_modules, so no
 * network is needed. bullmq and ioredis (optional peers, for the Redis runner only) are left
 * out on purpose. The project's tsconfig has every strict flag a careful user turns on and no
 * skipLibCheck; its workflows use the README's API (task, flow, submit/map, decorators,
 * runtime, caching, runners). Then:
 * - `npx tsc --noEmit` reports nothing;
 * - `npx flowctl run` and `npx tsx` run a flow (the compiled CLI, the loader hooks, the worker
 *   bootstrap of a thread pool, the SQLite write thread, all from the tarball's files);
 * - using the Redis runner without bullmq fails with one line naming the package to install.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ROOT } from "../support/cli.ts";

const TIMEOUT = 180_000;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const show = (r: Result) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

function link(project: string, name: string): void {
  const at = join(project, "node_modules", name);
  mkdirSync(dirname(at), { recursive: true });
  symlinkSync(join(ROOT, "node_modules", name), at, "dir");
}

function linkBin(project: string, name: string, target: string): void {
  const at = join(project, "node_modules/.bin", name);
  mkdirSync(dirname(at), { recursive: true });
  symlinkSync(target, at);
  chmodSync(join(dirname(at), target), 0o755);
}

const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    lib: ["ES2023"],
    module: "nodenext",
    moduleResolution: "nodenext",
    strict: true,
    exactOptionalPropertyTypes: true,
    noPropertyAccessFromIndexSignature: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    noImplicitReturns: true,
    verbatimModuleSyntax: true,
    noEmit: true,
    types: ["node"],
  },
  include: ["workflows"],
};

// The README's API, as a user's project would write it.
const TASKS = `import { task, runtime, getRunLogger, INPUTS, TASK_SOURCE, taskInputHash, exponentialBackoff, type State } from "flowctl";

export const square = task(function square(n: number): number {
  return n * n;
});

export const add = task({ cachePolicy: INPUTS.add(TASK_SOURCE), cacheExpiration: 3600 }, function add(a: number, b: number) {
  return a + b;
});

export const describe = task(
  { name: "describe", tags: ["info"], taskRunName: "describe-{label}", retries: 2, retryDelaySeconds: exponentialBackoff(1), cacheKeyFn: taskInputHash },
  async function describe(label: string): Promise<string> {
    getRunLogger().info(\`describing \${label}\`);
    const name: string | undefined = runtime.taskRun.name;
    return \`\${label} in \${name ?? "?"}\`;
  },
);

// options may come from values that can be undefined (exactOptionalPropertyTypes)
const retriesFromEnv: number | undefined = process.env["SCRATCH_RETRIES"] === undefined ? undefined : Number(process.env["SCRATCH_RETRIES"]);
export const configured = task({ retries: retriesFromEnv, timeoutSeconds: undefined, tags: ["configured"] }, function configured(): number {
  return 1;
});

// a downstream of allowFailure() receives the upstream's value or its error
export const outcome = task(function outcome(value: unknown): string {
  return value instanceof Error ? \`failed: \${value.message}\` : \`ok: \${String(value)}\`;
});

export const onlyRetryTypeErrors = async (_task: unknown, _run: unknown, state: State): Promise<boolean> => {
  try {
    await state.result();
    return false;
  } catch (err) {
    return err instanceof TypeError;
  }
};

export class Shapes {
  constructor(private readonly side: number) {}

  @task
  area(): number {
    return this.side * this.side;
  }

  @task({ name: "perimeter", retries: 1, retryConditionFn: onlyRetryTypeErrors })
  static perimeter(side: number): number {
    return 4 * side;
  }
}
`;

const APP = `import { flow, isMain, tags, runtime, ThreadPoolTaskRunner, ConcurrentTaskRunner, allowFailure, unmapped, wait, FlowctlError, type TaskRunner } from "flowctl";
import type { RedisTaskRunnerOptions } from "flowctl/runners/redis";
import { add, describe, outcome, square, Shapes } from "./tasks.js";

const redisOptions: RedisTaskRunnerOptions = { queue: "scratch" };
const concurrent: TaskRunner = new ConcurrentTaskRunner();

// a subflow whose tasks run on worker threads
const squaresOf = flow({ name: "squares-of", taskRunner: new ThreadPoolTaskRunner({ maxWorkers: 2 }) }, async function squaresOf({ count }: { count: number }) {
  return square.map(Array.from({ length: count }, (_, i) => i + 1)).result();
});

export const app = flow(
  { name: "scratch-app", logPrints: true, retries: 0, taskRunner: concurrent },
  async function app({ count = 3, label = "shapes" }: { count?: number; label?: string } = {}) {
    const squares: number[] = await squaresOf({ count });
    const sum = add.submit(squares[0] ?? 0, squares[1] ?? 0);
    const both = await wait([sum], { timeoutSeconds: 60 });
    const tolerated = await outcome(allowFailure(sum));
    const text = await tags("scratch", () => describe(label));
    const area = await new Shapes(3).area();
    const perimeter = await Shapes.perimeter(3);
    const offsets = await add.map([1, 2], unmapped(10)).result();
    console.log(\`squares \${squares.join(",")} sum \${await sum.result()} done \${both.done.size} area \${area} perimeter \${perimeter} offsets \${offsets.join(",")} \${tolerated}\`);
    console.log(\`\${text} in flow \${runtime.flowRun.flowName ?? "?"}\`);
    if (!(new FlowctlError("USAGE", "unused") instanceof Error)) throw new Error("FlowctlError is an Error");
    return { squares, queue: redisOptions.queue };
  },
);

if (isMain(import.meta)) {
  const { squares } = await app({ count: 2 });
  console.log(\`direct \${squares.join(",")}\`);
}
`;

// flowctl/testing, as a user's test file would use it (run with tsx)
const HARNESS = `import { testHarness } from "flowctl/testing";
import { app } from "./app.js";
import { square } from "./tasks.js";

const h = await testHarness();
try {
  const mock = h.mock(square, (n: number) => n + 100);
  const result = await h.run(() => app({ count: 2 }));
  const runs = h.runs({ flow: "scratch-app" });
  console.log(\`harness \${result.squares.join(",")} calls \${mock.calls.length} runs \${runs.length}\`);
} finally {
  await h.close();
}
`;

const REDIS = `import { flow, task } from "flowctl";
import { RedisTaskRunner } from "flowctl/runners/redis";

const one = task(function one() {
  return 1;
});

export const remote = flow({ taskRunner: new RedisTaskRunner({ queue: "scratch-no-bullmq" }) }, async function remote() {
  return one();
});
`;

test("the packed tarball in a strict TypeScript project: tsc clean, npx flowctl run and npx tsx work", { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-scratch-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PREFECT_HOME: join(dir, "home"),
    NO_COLOR: "1",
    npm_config_offline: "true",
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
    npm_config_audit: "false",
  };
  delete env.FORCE_COLOR;
  delete env.NODE_OPTIONS;

  // npm pack: what ships (dist/ is built: the test runner builds before any test)
  const pack = spawnSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], { cwd: ROOT, env, encoding: "utf8" });
  assert.equal(pack.status, 0, pack.stderr);
  const [packed] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  const files = new Set(packed!.files.map((f) => f.path));
  for (const f of ["bin/flowctl", "dist/index.js", "dist/index.d.ts", "dist/index.js.map", "dist/runners/redis.d.ts", "dist/cli/main.js", "dist/loader/resolve-flowctl.mjs", "dist/loader/ts-probe.ts", "dist/worker/bootstrap.mjs", "dist/store/sqlite/write-worker.mjs", "dist/server/assets/index.html", "dist/store/migrations/0001-init.sql", "src/index.ts", "README.md", "package.json"]) {
    assert.ok(files.has(f), `the tarball lacks ${f}`);
  }
  for (const f of files) assert.doesNotMatch(f, /^(test|scripts|bench|workflows)\/|tsbuildinfo|build-stamp|^tsconfig/, `the tarball should not ship ${f}`);

  // the scratch project: flowctl unpacked from the tarball, its dependencies linked
  const project = join(dir, "project");
  const pkgDir = join(project, "node_modules/flowctl");
  mkdirSync(pkgDir, { recursive: true });
  const untar = spawnSync("tar", ["-xzf", join(dir, packed!.filename), "-C", pkgDir, "--strip-components=1"], { encoding: "utf8" });
  assert.equal(untar.status, 0, untar.stderr);
  const manifest = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
    peerDependencies?: Record<string, string>;
    peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  };
  assert.ok(!("bullmq" in manifest.dependencies) && manifest.peerDependenciesMeta?.["bullmq"]?.optional, "bullmq should be an optional peer dependency");
  for (const name of new Set([...Object.keys(manifest.dependencies), "typescript", "tsx", "@types/node"])) link(project, name);
  linkBin(project, "flowctl", "../flowctl/bin/flowctl");
  linkBin(project, "tsc", "../typescript/bin/tsc");
  linkBin(project, "tsx", "../tsx/dist/cli.mjs");
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "scratch", private: true, type: "module", dependencies: { flowctl: `file:../${packed!.filename}` }, devDependencies: { tsx: "*", typescript: "*", "@types/node": "*" } }, null, 2),
  );
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify(TSCONFIG, null, 2));
  mkdirSync(join(project, "workflows"));
  writeFileSync(join(project, "workflows/tasks.ts"), TASKS);
  writeFileSync(join(project, "workflows/app.ts"), APP);
  writeFileSync(join(project, "workflows/remote.ts"), REDIS);
  writeFileSync(join(project, "workflows/harness.ts"), HARNESS);

  await t.test("tsc --noEmit: zero errors under strict flags, without skipLibCheck", async () => {
    const r = await run("npx", ["--no", "--", "tsc", "--noEmit", "-p", "."], project, env);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout.trim(), "");
  });

  await t.test("npx flowctl run runs the flow from the tarball's compiled code", async () => {
    const r = await run("npx", ["--no", "--", "flowctl", "run", "workflows/app.ts", "--param", "count=3"], project, env);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stderr, /squares 1,4,9 sum 5 done 1 area 9 perimeter 12 offsets 11,12 ok: 5/);
    assert.match(r.stderr, /shapes in describe-shapes in flow scratch-app/);
    assert.match(r.stderr, /Finished in state Completed\(\)/);
    assert.doesNotMatch(r.stderr, /\/src\/|flowctl\/src/, "nothing should load flowctl's sources");
  });

  await t.test("npx tsx runs the file directly (isMain)", async () => {
    const r = await run("npx", ["--no", "--", "tsx", "workflows/app.ts"], project, env);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout + r.stderr, /direct 1,4/);
  });

  await t.test("flowctl/testing runs the flow in a harness (npx tsx)", async () => {
    const r = await run("npx", ["--no", "--", "tsx", "workflows/harness.ts"], project, env);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /harness 101,102 calls 2 runs 1/);
  });

  await t.test("flowctl --version and -v print the version", async () => {
    for (const flag of ["--version", "-v"]) {
      const r = await run("npx", ["--no", "--", "flowctl", flag], project, env);
      assert.equal(r.code, 0, show(r));
      assert.equal(r.stdout.trim(), JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
    }
  });

  await t.test("the Redis runner without bullmq installed: one line naming the package", async () => {
    const r = await run("npx", ["--no", "--", "flowctl", "run", "workflows/remote.ts"], project, env);
    // refused where the workflow file creates the runner: exit 2 (a loading error), one line
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /^flowctl: error: Loading workflows\/remote\.ts:\d+ failed: FlowctlError: RedisTaskRunner needs the 'bullmq' package: npm install bullmq \(an optional peer dependency of flowctl, for the Redis runner only\)\n$/);
  });
});
