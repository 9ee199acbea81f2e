/**
 * The console line: `HH:MM:SS.mmm | LEVEL   | SOURCE - message`, local time. Colors by level
 * and by state name when the stream is a terminal.
 */
import { Chalk, supportsColor, supportsColorStderr, type ChalkInstance } from "chalk";
import type { LogRecord } from "./record.ts";
import { levelName } from "./levels.ts";
import { sanitize } from "./sanitize.ts";

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

export function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${pad3(d.getMilliseconds())}`;
}

/** Plain line; the source and message are user data as well as ours: control characters escaped. */
export function formatPlain(rec: LogRecord): string {
  return `${formatTime(rec.timestamp)} | ${levelName(rec.level).padEnd(7)} | ${sanitize(rec.source)} - ${sanitize(rec.message, true)}`;
}

const STATE_COLORS: Record<string, (c: ChalkInstance) => ChalkInstance> = {
  Completed: (c) => c.green,
  Cached: (c) => c.green,
  Failed: (c) => c.red,
  TimedOut: (c) => c.red,
  Crashed: (c) => c.hex("#ff8700"),
  Cancelled: (c) => c.gray,
  Cancelling: (c) => c.gray,
  Running: (c) => c.blue,
  Retrying: (c) => c.blue,
  Pending: (c) => c.yellow,
  NotReady: (c) => c.yellow,
  Scheduled: (c) => c.yellow,
  AwaitingRetry: (c) => c.yellow,
  Paused: (c) => c.gray,
};
const STATE_RE = new RegExp(`\\b(${Object.keys(STATE_COLORS).join("|")})\\(`, "g");

const LEVEL_COLORS: Record<string, (c: ChalkInstance) => ChalkInstance> = {
  DEBUG: (c) => c.dim,
  INFO: (c) => c.cyan,
  WARNING: (c) => c.yellow,
  ERROR: (c) => c.red,
  CRITICAL: (c) => c.bgRed.white,
};

export function formatColored(rec: LogRecord, chalk: ChalkInstance): string {
  const name = levelName(rec.level);
  const level = LEVEL_COLORS[name]!(chalk)(name.padEnd(7));
  const source = sanitize(rec.source).replace(/'([^']*)'/, (_m, n: string) => `'${chalk.bold(n)}'`);
  const message = sanitize(rec.message, true).replace(STATE_RE, (_m, s: string) => `${STATE_COLORS[s]!(chalk)(s)}(`);
  return `${chalk.dim(formatTime(rec.timestamp))} | ${level} | ${source} - ${message}`;
}

/**
 * How many colors `stream` takes, by chalk's own detection (FORCE_COLOR, --color/--no-color,
 * the terminal, CI providers whose logs render ANSI such as GitHub Actions), NO_COLOR winning
 * over all of it. 0 is none.
 */
export function colorLevel(stream: NodeJS.WriteStream): 0 | 1 | 2 | 3 {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "") return 0;
  const detected = stream === process.stdout ? supportsColor : stream === process.stderr ? supportsColorStderr : stream.isTTY ? { level: 2 as const } : false;
  return detected ? detected.level : 0;
}

/** A chalk at `level` (true: 256 colors); false or 0: plain. */
export function makeChalk(enabled: boolean | number): ChalkInstance {
  const level = enabled === true ? 2 : enabled === false ? 0 : Math.max(0, Math.min(3, enabled));
  return new Chalk({ level: level as 0 | 1 | 2 | 3 });
}
