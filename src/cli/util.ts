/**
 * Shared CLI plumbing: how a command reports errors and exit codes. Commands return an exit
 * code (or nothing for 0); only `exit.ts` calls process.exit.
 */
import { InvalidArgumentError } from "commander";
import { isFlowctlError, ParameterError, UsageError } from "../errors.ts";
import { sanitize } from "../logging/sanitize.ts";
import { errorJson, printJson } from "./json.ts";
import { SettingValueError, LOG_LEVELS, type LogLevelName, type Settings } from "../settings/schema.ts";
import { getSettings, resetSettings } from "../settings/index.ts";
import { configureLogging } from "../logging/logger.ts";
import { storeWriter } from "../store/writer.ts";
import { currentJournal } from "../store/index.ts";
import { describeCounts } from "../store/journal.ts";
import { registerSecretValue, urlPassword } from "../logging/redact.ts";

export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;

export interface CliState {
  debug: boolean;
  /** `--json` was asked for: errors are also printed as a JSON object on stdout */
  json: boolean;
  /** exit code the program ends with */
  exitCode: number;
}

export const cliState: CliState = { debug: false, json: false, exitCode: 0 };

/** Errors that mean "the user's input was wrong": exit 2. */
export function isUsageError(err: unknown): boolean {
  if (err instanceof SettingValueError) return true;
  return isFlowctlError(err) && ["USAGE", "LOAD_ERROR", "CONFIG_ERROR", "INVALID_OPTION", "INVALID_ARGUMENT", "STORE_INCOMPATIBLE", "INVALID_PARAMETERS"].includes(err.code);
}

/**
 * One line on stderr (the stack too with --debug); with --json also `{ "error": … }` on stdout
 * (docs/json-output.md), so a script reading stdout always gets JSON.
 */
export function printError(err: unknown, exitCode: number = isUsageError(err) ? EXIT.USAGE : EXIT.FAILED): void {
  const message = err instanceof Error ? err.message : String(err);
  const firstLine = cliState.debug ? message : message.split("\n")[0];
  process.stderr.write(`flowctl: error: ${sanitize(firstLine ?? "", false)}\n`);
  if (cliState.debug && err instanceof Error && err.stack) process.stderr.write(`${sanitize(err.stack, true)}\n`);
  if (cliState.json) {
    const code = isFlowctlError(err) ? err.code : err instanceof SettingValueError ? "CONFIG_ERROR" : exitCode === EXIT.USAGE ? "USAGE" : "ERROR";
    printJson(errorJson(code, message, exitCode, err instanceof ParameterError ? err.problems : undefined));
  }
}

/**
 * Wrap a commander action: the action returns an exit code; a thrown usage error prints one
 * line and exits 2; anything else prints one line (stack with --debug) and exits 1.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void> | number | void) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await fn(...args);
      cliState.exitCode = code ?? 0;
    } catch (err) {
      cliState.exitCode = isUsageError(err) ? EXIT.USAGE : EXIT.FAILED;
      printError(err, cliState.exitCode);
    }
  };
}

/** Parse a whole number option, with a clear error. */
export function parseIntOption(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      // commander's own class, so commander reports it as a usage error (exit 2)
      throw new InvalidArgumentError(`${name} expects a whole number ≥ ${min}, got '${value}'`);
    }
    return n;
  };
}

/** `--log-level` and `--no-color`, for the commands that run workflow code. */
export function applyLoggingOptions(opts: { logLevel?: string | undefined; color: boolean }): void {
  if (opts.logLevel !== undefined) {
    const level = opts.logLevel.toUpperCase() === "WARN" ? "WARNING" : opts.logLevel.toUpperCase();
    if (!(LOG_LEVELS as readonly string[]).includes(level)) {
      throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got '${opts.logLevel}'`);
    }
    process.env.PREFECT_LOGGING_LEVEL = level;
    resetSettings();
    configureLogging({ level: level as LogLevelName });
  }
  if (!opts.color) configureLogging({ colors: false });
}

/** The settings in force; a bad one is a usage error (exit 2). */
export function settingsOrUsageError(): Settings {
  try {
    const settings = getSettings();
    // values of secret settings never appear in log lines
    registerSecretValue(settings.PREFECT_API_AUTH_STRING);
    registerSecretValue(settings.PREFECT_API_AUTH_STRING.split(":").slice(1).join(":"));
    for (const url of [settings.PREFECT_API_DATABASE_CONNECTION_URL, settings.PREFECT_REDIS_URL]) registerSecretValue(urlPassword(url));
    return settings;
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError((err as Error).message, "CONFIG_ERROR");
  }
}

/** Open the run store now, so that a store that cannot be opened is a usage error (exit 2). */
export async function openStoreOrUsageError(): Promise<void> {
  try {
    await storeWriter.open();
  } catch (err) {
    sayJournalWaiting();
    throw new UsageError((err as Error).message, "CONFIG_ERROR");
  }
}

/** The store cannot be reached: one line saying what waits in its journal, if anything does. */
export function sayJournalWaiting(): void {
  const journal = currentJournal();
  const waiting = journal?.pending();
  if (!journal || !waiting) return;
  process.stderr.write(`flowctl: ${describeCounts(waiting)} wait in the journal ${journal.path}; \`flowctl runs sync\` writes them once the run store answers\n`);
}
