/**
 * The flowctl command line. Each command lives in its own file and registers itself here;
 * `cli()` ends the process through exit.ts (the only place that calls process.exit).
 */
import { Command, CommanderError } from "commander";
import { createRequire } from "node:module";
import { cliState, EXIT, printError } from "./util.ts";
import { exitAfterDraining, guardStdio } from "./exit.ts";
import { setFullTracebacks } from "../logging/traceback.ts";
import { errorJson, printJson } from "./json.ts";

type Register = (program: Command) => void;

/**
 * Each command's module, by command name. Only the command the command line names is loaded
 * (with what it imports: the engine, the store, the server…), so `flowctl --version` or
 * `flowctl runs ls` do not pay for the others; help and unknown commands load them all.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  run: async () => (await import("./run.ts")).registerRunCommand,
  config: async () => (await import("./config.ts")).registerConfigCommand,
  // `runs` and its subcommands that live in files of their own
  runs: async () => {
    const [{ registerRunsCommand }, ...subcommands] = await Promise.all([
      import("./runs.ts"),
      import("./retry.ts").then((m) => m.registerRetryCommand),
      import("./cancel.ts").then((m) => m.registerCancelCommand),
      import("./delete.ts").then((m) => m.registerDeleteCommand),
      import("./sync.ts").then((m) => m.registerSyncCommand),
    ]);
    return (program) => {
      const runs = registerRunsCommand(program);
      for (const register of subcommands) register(runs);
    };
  },
  tasks: async () => (await import("./tasks.ts")).registerTasksCommand,
  server: async () => (await import("./server.ts")).registerServerCommand,
  cache: async () => (await import("./cache.ts")).registerCacheCommand,
  "concurrency-limit": async () => (await import("./concurrency-limit.ts")).registerConcurrencyLimitCommand,
  worker: async () => (await import("./worker.ts")).registerWorkerCommand,
  inspect: async () => (await import("./inspect.ts")).registerInspectCommand,
};

const require = createRequire(import.meta.url);
const pkg = require("../../package.json") as { version: string };

/** The program with every command (`argv` given: only the command it names, when it names one). */
export async function buildProgram(argv?: string[]): Promise<Command> {
  const program = new Command();
  program
    .name("flowctl")
    .description("Run TypeScript workflows: tasks and flows with retries, timeouts, caching, concurrency and a tracked run history.")
    .version(pkg.version, "-v, --version", "print the flowctl version")
    .option("--debug", "show stack traces for errors")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(s.startsWith("error:") ? `flowctl: ${s}` : s),
    })
    .hook("preAction", (cmd) => {
      if (cmd.opts().debug) cliState.debug = true;
    });
  const args = argv?.slice(2) ?? [];
  const named = args.find((a) => !a.startsWith("-"));
  const versionOnly = argv !== undefined && named === undefined && args.some((a) => a === "-v" || a === "--version") && !args.some((a) => a === "-h" || a === "--help");
  const wanted = versionOnly ? [] : named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS);
  for (const register of await Promise.all(wanted.map((name) => COMMANDS[name]!()))) register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--debug")) {
    cliState.debug = true;
    setFullTracebacks(true);
  }
  // before parsing: commander's own usage errors (an unknown option) honour --json too
  cliState.json = argv.slice(2).includes("--json");
  // -V, the version flag of earlier releases, still works before any command
  const first = argv.slice(2).findIndex((a) => !a.startsWith("-"));
  argv = argv.map((a, i) => (i >= 2 && (first < 0 || i < first + 2) && a === "-V" ? "--version" : a));
  let program: Command;
  try {
    program = await buildProgram(argv);
  } catch (err) {
    printError(err);
    return EXIT.FAILED;
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with code 0 and have printed already
      if (err.exitCode === 0) return EXIT.OK;
      if (cliState.json) printJson(errorJson("USAGE", err.message.replace(/^error: /, ""), EXIT.USAGE));
      return EXIT.USAGE;
    }
    printError(err);
    return EXIT.FAILED;
  }
  return cliState.exitCode;
}

/** The program: run the command line, then flush, drain the output streams and exit. */
export async function cli(argv: string[]): Promise<never> {
  guardStdio();
  return exitAfterDraining(await main(argv));
}
