/**
 * The one table of every PREFECT_* setting: its type, default, description and parser.
 * Parsing, validation, `flowctl config view`, help text and `.prefectrc.example` all read it.
 */
import { homedir } from "node:os";
import { join } from "node:path";

export type SettingType = "int" | "number" | "number-list" | "boolean" | "string" | "path" | "log-level" | "url" | "regex";

export interface SettingSpec<V = unknown> {
  key: string;
  type: SettingType;
  description: string;
  /** The default, computed from the settings resolved so far (so defaults can chain off PREFECT_HOME). */
  default: (resolved: Record<string, unknown>) => V;
  /** May `flowctl config set` write it? (PREFECT_HOME may not: the profile lives under it.) */
  settable?: boolean;
  /** Accepted words, for enumerations */
  choices?: readonly string[];
  minimum?: number;
  maximum?: number;
  /** The range in words, when `minimum`/`maximum` alone would say it badly ("a positive number"). */
  expected?: string;
  /** Shown masked by `flowctl config view` and `config set`. */
  secret?: boolean;
}

export const LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/** Order matters: a default may read only the keys above it. */
export const SETTINGS: readonly SettingSpec[] = [
  {
    key: "PREFECT_HOME",
    type: "path",
    description: "Folder for flowctl's database, profile and result storage.",
    default: () => join(homedir(), ".flowctl"),
    settable: false,
  },
  {
    key: "PREFECT_API_DATABASE_CONNECTION_URL",
    type: "url",
    description: "Run store: a SQLite file path or sqlite:// URL, or a postgresql:// URL.",
    default: (r) => `sqlite://${join(String(r.PREFECT_HOME), "flowctl.db")}`,
  },
  {
    key: "PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS",
    type: "number",
    minimum: 0.1,
    maximum: 86_400,
    expected: "a positive number of seconds from 0.1 to 86400",
    description: "Seconds a write to a SQLite run store waits while another process holds it locked (after 2 s flowctl says which process), before failing.",
    default: () => 30,
  },
  {
    key: "PREFECT_LOCAL_STORAGE_PATH",
    type: "path",
    description: "Folder where persisted task results (the cache) are written, one file per key.",
    default: (r) => join(String(r.PREFECT_HOME), "storage"),
  },
  {
    key: "PREFECT_TASK_DEFAULT_RETRIES",
    type: "int",
    minimum: 0,
    description: "Retries for tasks that do not set `retries`.",
    default: () => 0,
  },
  {
    key: "PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS",
    type: "number-list",
    minimum: 0,
    description: "Seconds between task retries for tasks that do not set `retryDelaySeconds` (a number or a list).",
    default: () => 0,
  },
  {
    key: "PREFECT_FLOW_DEFAULT_RETRIES",
    type: "int",
    minimum: 0,
    description: "Retries for flows that do not set `retries`.",
    default: () => 0,
  },
  {
    key: "PREFECT_FLOW_DEFAULT_RETRY_DELAY_SECONDS",
    type: "number-list",
    minimum: 0,
    description: "Seconds between flow retries for flows that do not set `retryDelaySeconds`.",
    default: () => 0,
  },
  {
    key: "PREFECT_LOGGING_LEVEL",
    type: "log-level",
    choices: LOG_LEVELS,
    description: "Lowest level of log line shown and stored (DEBUG, INFO, WARNING, ERROR, CRITICAL).",
    default: () => "INFO",
  },
  {
    key: "PREFECT_LOGGING_LOG_PRINTS",
    type: "boolean",
    description: "Route console.log/warn/error inside runs into the run's log, for runs that do not set `logPrints`.",
    default: () => false,
  },
  {
    key: "PREFECT_LOGGING_REDACT_PATTERNS",
    type: "regex",
    description: "Parameters whose names match this regular expression (case-insensitive) are stored and shown as '********'; the flow still receives the real value.",
    default: () => "password|secret|token|api[_-]?key|credential",
  },
  {
    key: "PREFECT_STORE_MAX_VALUE_BYTES",
    type: "int",
    minimum: 1024,
    maximum: 64 * 1024 * 1024,
    description: "Longest parameter value, state message, error text or log line stored or served, in bytes; longer ones are cut, with a marker saying how much.",
    default: () => 64 * 1024,
  },
  {
    key: "PREFECT_LOGGING_COLORS",
    type: "boolean",
    description: "Color console log lines when the stream is a terminal (NO_COLOR and --no-color turn colors off).",
    default: () => true,
  },
  {
    key: "PREFECT_RESULTS_PERSIST_BY_DEFAULT",
    type: "boolean",
    description: "Persist task results for tasks that leave `persistResult` unset.",
    default: () => false,
  },
  {
    key: "PREFECT_RESULTS_KEEP_FOR_RETRY",
    type: "boolean",
    description:
      "Keep the result of every completed task run of a flow run (small ones in the run store, larger ones as result files under PREFECT_LOCAL_STORAGE_PATH/runs) so that `flowctl runs retry` can reuse them; removed by `runs prune` and `runs delete`.",
    default: () => true,
  },
  {
    key: "PREFECT_TASKS_REFRESH_CACHE",
    type: "boolean",
    description: "Run every cached task anyway and overwrite its cached result.",
    default: () => false,
  },
  {
    key: "PREFECT_TASK_RUNNER_MAX_CONCURRENCY",
    type: "int",
    minimum: 0,
    description: "Most task runs the default task runner executes at once (0 = no limit).",
    default: () => 0,
  },
  {
    key: "PREFECT_TASK_RUN_TAG_CONCURRENCY_SLOT_WAIT_SECONDS",
    type: "number",
    minimum: 0.01,
    maximum: 3600,
    expected: "a positive number of seconds from 0.01 to 3600",
    description: "Longest pause, in seconds, between attempts to take a tag concurrency slot while a limit is full (the pause grows to it from 0.05).",
    default: () => 1,
  },
  {
    key: "PREFECT_TASK_RUN_TAG_CONCURRENCY_LEASE_SECONDS",
    type: "number",
    minimum: 0.1,
    maximum: 86_400,
    expected: "a positive number of seconds from 0.1 to 86400",
    description: "Seconds a tag concurrency slot stays held without renewal; a live process renews it, so only the slots of a process that died expire.",
    default: () => 30,
  },
  {
    key: "PREFECT_RUNS_MAX_NESTING_DEPTH",
    type: "int",
    minimum: 1,
    maximum: 1_000_000,
    description:
      "Most levels runs may nest (subflows, tasks called inside tasks); a call deeper fails its run with one error instead of exhausting memory.",
    default: () => 10_000,
  },
  {
    key: "PREFECT_API_AUTH_STRING",
    type: "string",
    secret: true,
    description: "Credentials the web UI and its API require on every request (needed to bind beyond 127.0.0.1).",
    default: () => "",
  },
  {
    key: "PREFECT_SERVER_API_HOST",
    type: "string",
    description: "Address `flowctl server start` binds to.",
    default: () => "127.0.0.1",
  },
  {
    key: "PREFECT_SERVER_API_PORT",
    type: "int",
    minimum: 0,
    maximum: 65_535,
    expected: "a port number from 1 to 65535 (or 0: any free port)",
    description: "Port `flowctl server start` listens on.",
    default: () => 4200,
  },
  {
    key: "PREFECT_REDIS_URL",
    type: "url",
    description: "Redis for the distributed task runner and `flowctl worker`.",
    default: () => "redis://127.0.0.1:6379",
  },
];

export const SETTINGS_BY_KEY: ReadonlyMap<string, SettingSpec> = new Map(SETTINGS.map((s) => [s.key, s]));

/** The resolved settings, one typed field per key. */
export interface Settings {
  PREFECT_HOME: string;
  PREFECT_API_DATABASE_CONNECTION_URL: string;
  PREFECT_SQLITE_LOCK_TIMEOUT_SECONDS: number;
  PREFECT_LOCAL_STORAGE_PATH: string;
  PREFECT_TASK_DEFAULT_RETRIES: number;
  PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS: number | number[];
  PREFECT_FLOW_DEFAULT_RETRIES: number;
  PREFECT_FLOW_DEFAULT_RETRY_DELAY_SECONDS: number | number[];
  PREFECT_LOGGING_LEVEL: LogLevelName;
  PREFECT_LOGGING_LOG_PRINTS: boolean;
  PREFECT_LOGGING_COLORS: boolean;
  PREFECT_LOGGING_REDACT_PATTERNS: string;
  PREFECT_STORE_MAX_VALUE_BYTES: number;
  PREFECT_RESULTS_PERSIST_BY_DEFAULT: boolean;
  PREFECT_RESULTS_KEEP_FOR_RETRY: boolean;
  PREFECT_TASKS_REFRESH_CACHE: boolean;
  PREFECT_TASK_RUNNER_MAX_CONCURRENCY: number;
  PREFECT_TASK_RUN_TAG_CONCURRENCY_SLOT_WAIT_SECONDS: number;
  PREFECT_TASK_RUN_TAG_CONCURRENCY_LEASE_SECONDS: number;
  PREFECT_RUNS_MAX_NESTING_DEPTH: number;
  PREFECT_API_AUTH_STRING: string;
  PREFECT_SERVER_API_HOST: string;
  PREFECT_SERVER_API_PORT: number;
  PREFECT_REDIS_URL: string;
}

export type SettingKey = keyof Settings;

export class SettingValueError extends Error {
  constructor(readonly key: string, readonly expected: string, readonly received: string) {
    super(`Invalid value for '${key}': expected ${expected}, got ${received}.`);
    this.name = "SettingValueError";
  }
}

export function expectedText(spec: SettingSpec): string {
  if (spec.expected) return spec.expected;
  const range = spec.maximum !== undefined ? ` from ${spec.minimum ?? "-∞"} to ${spec.maximum}` : "";
  switch (spec.type) {
    case "int": return (spec.minimum === 0 ? "a non-negative integer" : spec.minimum === 1 ? "a positive integer" : "an integer") + range;
    case "number": return (spec.minimum !== undefined && spec.minimum > 0 ? "a positive number" : spec.minimum === 0 ? "a non-negative number" : "a number") + range;
    case "number-list": return "a non-negative number or a list of them, like 5, [1, 10, 100] or 1,10,100";
    case "boolean": return "a boolean (true/false)";
    case "log-level": return `one of ${(spec.choices ?? []).join(", ")}`;
    case "path": return "a path";
    case "url": return "a URL or path";
    case "string": return "a string";
    case "regex": return "a regular expression";
  }
}

function outOfRange(spec: SettingSpec, n: number): boolean {
  return (spec.minimum !== undefined && n < spec.minimum) || (spec.maximum !== undefined && n > spec.maximum);
}

/** Parse a raw value (a string from the environment or the command line, or a value from a config file). */
export function parseSettingValue(spec: SettingSpec, raw: unknown): unknown {
  const shown = typeof raw === "string" ? `'${raw}'` : JSON.stringify(raw) ?? String(raw);
  const fail = (): never => {
    throw new SettingValueError(spec.key, expectedText(spec), shown);
  };
  switch (spec.type) {
    case "int": {
      const n = typeof raw === "number" ? raw : typeof raw === "string" && /^\s*[+-]?\d+\s*$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n) || outOfRange(spec, n)) fail();
      return n;
    }
    case "number": {
      const n = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
      if (!Number.isFinite(n) || outOfRange(spec, n)) fail();
      return n;
    }
    case "number-list": {
      let value: unknown = raw;
      if (typeof raw === "string") {
        const text = raw.trim();
        if (text === "") fail();
        const inner = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
        const items = inner.split(",").map((s) => s.trim());
        if (items.some((s) => s === "")) fail();
        const nums = items.map(Number);
        value = text.startsWith("[") || nums.length > 1 ? nums : nums[0];
      }
      const check = (n: unknown) => typeof n === "number" && Number.isFinite(n) && n >= 0;
      if (Array.isArray(value)) {
        if (value.length === 0 || !value.every(check)) fail();
        return value as number[];
      }
      if (!check(value)) fail();
      return value as number;
    }
    case "boolean": {
      if (typeof raw === "boolean") return raw;
      if (typeof raw === "string") {
        const t = raw.trim().toLowerCase();
        if (["true", "1", "yes", "on"].includes(t)) return true;
        if (["false", "0", "no", "off", ""].includes(t)) return false;
      }
      return fail();
    }
    case "log-level": {
      const t = typeof raw === "string" ? raw.trim().toUpperCase() : "";
      const word = t === "WARN" ? "WARNING" : t;
      if (!spec.choices?.includes(word)) fail();
      return word;
    }
    case "path": {
      if (typeof raw !== "string") fail();
      // `~` is the shell's; files and quoted values get the same meaning
      const text = raw as string;
      return text === "~" ? homedir() : text.startsWith("~/") ? join(homedir(), text.slice(2)) : text;
    }
    case "url":
    case "string": {
      if (typeof raw !== "string") fail();
      return raw;
    }
    case "regex": {
      if (typeof raw !== "string") fail();
      try {
        new RegExp(raw as string, "i");
      } catch (err) {
        throw new SettingValueError(spec.key, `a regular expression (${(err as Error).message.replace(/^Invalid regular expression: /, "")})`, shown);
      }
      return raw;
    }
  }
}

/** How a value is written back as text (profile file, `config view`). */
export function formatSettingValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.join(", ")}]`;
  return String(value);
}
