/** Test support: spawn the real `bin/flowctl` with its own PREFECT_HOME. */
import { spawn, type SpawnOptions } from "node:child_process";
import { fileURLToPath } from "node:url";
import { distProblem } from "../../scripts/dist-check.mjs";

export const BIN = fileURLToPath(new URL("../../bin/flowctl", import.meta.url));
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

// bin/flowctl runs dist/: refuse to test a stale one (scripts/run-tests.mjs builds first)
const stale = distProblem();
if (stale) throw new Error(stale);

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  opts: { home: string; cwd?: string; env?: Record<string, string | undefined>; input?: string; timeoutMs?: number } ,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, PREFECT_HOME: opts.home, NO_COLOR: "1", FORCE_COLOR: undefined, ...opts.env };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    const spawnOpts: SpawnOptions = { cwd: opts.cwd ?? ROOT, env: env as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] };
    const child = spawn(process.execPath, [BIN, ...args], spawnOpts);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

/** Start the CLI and return the child (for signal tests). */
export function spawnCli(args: string[], opts: { home: string; cwd?: string; env?: Record<string, string> }) {
  const env: Record<string, string | undefined> = { ...process.env, PREFECT_HOME: opts.home, NO_COLOR: "1", FORCE_COLOR: undefined, ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: env as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] });
}
