/**
 * Loggers and where their lines go. A hub holds the threshold and the sinks: the process's
 * hub prints to the console (stderr) and stores through the batched writer; a test harness
 * makes a hub of its own (captured, printed only when asked). A line below the threshold costs
 * one comparison and is neither printed nor stored.
 */
import { format } from "node:util";
import { FlowctlError } from "../errors.ts";
import { getSettings, onSettingsChanged } from "../settings/index.ts";
import { LEVELS, type LogLevelName } from "./levels.ts";
import { colorLevel, formatColored, formatPlain, makeChalk } from "./format.ts";
import type { LogRecord } from "./record.ts";
import { boundText, scrubSecrets } from "./redact.ts";
import type { ChalkInstance } from "chalk";

export interface LogSink {
  write(rec: LogRecord): void;
}

class ConsoleSink implements LogSink {
  private chalk: ChalkInstance | undefined;
  /** `colors`: a chalk level (0: plain), or true for 256 colors */
  constructor(private readonly stream: NodeJS.WriteStream, colors: boolean | number) {
    this.chalk = colors ? makeChalk(colors) : undefined;
  }
  setColors(on: boolean): void {
    this.chalk = on ? makeChalk(true) : undefined;
  }
  write(rec: LogRecord): void {
    this.stream.write((this.chalk ? formatColored(rec, this.chalk) : formatPlain(rec)) + "\n");
  }
}

/** The color level of the console (0: plain): chalk's detection, NO_COLOR, then PREFECT_LOGGING_COLORS unless FORCE_COLOR. */
function colorsWanted(stream: NodeJS.WriteStream): number {
  const level = colorLevel(stream);
  if (level === 0) return 0;
  const force = process.env.FORCE_COLOR;
  if (force !== undefined && force !== "" && force !== "0" && force !== "false") return level;
  let setting = true;
  try {
    setting = getSettings().PREFECT_LOGGING_COLORS;
  } catch {
    // a bad setting is reported by whoever resolves settings for real
  }
  return setting ? level : 0;
}

export interface LogHubOptions {
  /** lowest level kept (a LEVELS number) */
  threshold: number;
  /** the time of a line, ms since the epoch */
  now: () => number;
  /** print plain lines to this stream too */
  console?: NodeJS.WriteStream | undefined;
}

export class LogHub {
  threshold: number | undefined;
  /** the threshold was set explicitly (--log-level): a settings change does not move it */
  thresholdExplicit = false;
  consoleSink: ConsoleSink | undefined;
  readonly extraSinks: LogSink[] = [];
  storeSink: LogSink | undefined;
  /** false: no console sink is made on demand (a harness hub prints only when asked) */
  private readonly processConsole: boolean;
  readonly now: () => number;

  constructor(opts?: LogHubOptions) {
    this.processConsole = opts === undefined;
    this.now = opts?.now ?? Date.now;
    if (opts) {
      this.threshold = opts.threshold;
      if (opts.console) this.consoleSink = new ConsoleSink(opts.console, false);
    }
  }

  getThreshold(): number {
    if (this.threshold === undefined) {
      let name: LogLevelName = "INFO";
      try {
        name = getSettings().PREFECT_LOGGING_LEVEL;
      } catch {
        // fall back to INFO; the settings error surfaces where settings are resolved
      }
      this.threshold = LEVELS[name];
    }
    return this.threshold;
  }

  private maxBytes: number | undefined;

  /** Longest message kept (PREFECT_STORE_MAX_VALUE_BYTES); longer ones are cut with a marker. */
  getMaxMessageBytes(): number {
    if (this.maxBytes === undefined) {
      let n = 64 * 1024;
      try {
        n = getSettings().PREFECT_STORE_MAX_VALUE_BYTES;
      } catch {
        // the settings error surfaces where settings are resolved
      }
      this.maxBytes = n;
    }
    return this.maxBytes;
  }

  /** Forget what was read from the settings. */
  resetFromSettings(): void {
    this.threshold = undefined;
    this.maxBytes = undefined;
  }

  forgetMaxMessageBytes(): void {
    this.maxBytes = undefined;
  }

  emit(rec: LogRecord): void {
    if (this.consoleSink) this.consoleSink.write(rec);
    else if (this.processConsole) (this.consoleSink = new ConsoleSink(process.stderr, colorsWanted(process.stderr))).write(rec);
    if (rec.flowRunId !== undefined || rec.taskRunId !== undefined) this.storeSink?.write(rec);
    for (const s of this.extraSinks) s.write(rec);
  }
}

export const logHub = new LogHub();
// PREFECT_LOGGING_LEVEL changed between runs: the next line reads it again (unless --log-level set it)
onSettingsChanged(() => {
  if (!logHub.thresholdExplicit) logHub.threshold = undefined;
  logHub.forgetMaxMessageBytes();
});

/** Set the threshold and colors explicitly (CLI flags, tests). `undefined` keeps the current one. */
export function configureLogging(opts: { level?: LogLevelName; colors?: boolean }): void {
  if (opts.level !== undefined) {
    logHub.threshold = LEVELS[opts.level];
    logHub.thresholdExplicit = true;
  }
  if (opts.colors !== undefined) {
    logHub.consoleSink ??= new ConsoleSink(process.stderr, opts.colors);
    logHub.consoleSink.setColors(opts.colors);
  }
}

/** Forget the threshold and colors so they are read from the settings again. */
export function resetLogging(): void {
  logHub.resetFromSettings();
  logHub.thresholdExplicit = false;
  logHub.consoleSink = undefined;
}

export class Logger {
  constructor(
    readonly source: string,
    readonly flowRunId?: string,
    readonly taskRunId?: string,
    readonly hub: LogHub = logHub,
  ) {}

  isEnabledFor(level: number): boolean {
    return level >= this.hub.getThreshold();
  }

  log(level: number, message: string, ...args: unknown[]): void {
    const hub = this.hub;
    if (level < hub.getThreshold()) return;
    hub.emit({
      level,
      source: this.source,
      // secrets never reach a sink; a huge line is cut before it is printed or stored
      message: boundText(scrubSecrets(args.length > 0 ? format(message, ...args) : message), hub.getMaxMessageBytes()),
      timestamp: hub.now(),
      flowRunId: this.flowRunId,
      taskRunId: this.taskRunId,
    });
  }

  debug(message: string, ...args: unknown[]): void { this.log(10, message, ...args); }
  info(message: string, ...args: unknown[]): void { this.log(20, message, ...args); }
  warning(message: string, ...args: unknown[]): void { this.log(30, message, ...args); }
  warn(message: string, ...args: unknown[]): void { this.log(30, message, ...args); }
  error(message: string, ...args: unknown[]): void { this.log(40, message, ...args); }
  critical(message: string, ...args: unknown[]): void { this.log(50, message, ...args); }
}

export const engineLogger = new Logger("flowctl.engine");

export function missingContext(): FlowctlError {
  return new FlowctlError(
    "MISSING_CONTEXT",
    "There is no active flow or task run: getRunLogger() works only inside a task or flow.",
  );
}
