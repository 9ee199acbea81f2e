/**
 * The flowctl command line. Each command lives in its own file and registers itself here;
 * `cli()` ends the process through exit.ts (the only place that calls process.exit).
 */
import { Command, CommanderError } from "commander";
import { createRequire } from "node:module";
import { cliState, EXIT, printError } from "./util.ts";
import { registerRunCommand } from "./run.ts";
import { registerConfigCommand } from "./config.ts";
import { registerRunsCommand } from "./runs.ts";
import { registerRetryCommand } from "./retry.ts";
import { registerCancelCommand } from "./cancel.ts";
import { registerDeleteCommand } from "./delete.ts";
import { registerTasksCommand } from "./tasks.ts";
import { registerServerCommand } from "./server.ts";
import { registerCacheCommand } from "./cache.ts";
import { registerConcurrencyLimitCommand } from "./concurrency-limit.ts";
import { registerWorkerCommand } from "./worker.ts";
import { registerInspectCommand } from "./inspect.ts";
import { exitAfterDraining, guardStdio } from "./exit.ts";
import { setFullTracebacks } from "../logging/traceback.ts";
import { errorJson, printJson } from "./json.ts";

const require = createRequire(import.meta.url);
const pkg = require("../../package.json") as { version: string };

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("flowctl")
    .description("Run TypeScript workflows: tasks and flows with retries, timeouts, caching, concurrency and a tracked run history.")
    .version(pkg.version, "-V, --version", "print the flowctl version")
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
  registerRunCommand(program);
  registerConfigCommand(program);
  const runs = registerRunsCommand(program);
  registerRetryCommand(runs);
  registerCancelCommand(runs);
  registerDeleteCommand(runs);
  registerTasksCommand(program);
  registerServerCommand(program);
  registerCacheCommand(program);
  registerConcurrencyLimitCommand(program);
  registerWorkerCommand(program);
  registerInspectCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--debug")) {
    cliState.debug = true;
    setFullTracebacks(true);
  }
  // before parsing: commander's own usage errors (an unknown option) honour --json too
  cliState.json = argv.slice(2).includes("--json");
  const program = buildProgram();
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
