/**
 * Test support: a fresh PREFECT_HOME (its own SQLite store and result storage) for in-process
 * engine tests, and a way to read what the store holds.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resetSettings } from "../../src/settings/index.ts";
import { closeStore, getStore } from "../../src/store/index.ts";
import { storeWriter } from "../../src/store/writer.ts";
import { resetLogging, logHub, type LogSink } from "../../src/logging/logger.ts";
import type { LogRecord } from "../../src/logging/record.ts";

export interface TempHome {
  dir: string;
  /** log records emitted while the home is in use */
  logs: LogRecord[];
  /** log lines at INFO and above as `SOURCE - message` */
  lines(): string[];
  cleanup(): Promise<void>;
}

/** Point PREFECT_HOME at a new temp dir and capture log records; call `cleanup()` after. */
export async function useTempHome(env: Record<string, string> = {}): Promise<TempHome> {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-test-"));
  const saved: Record<string, string | undefined> = {};
  const set = { PREFECT_HOME: dir, PREFECT_LOGGING_LEVEL: "DEBUG", ...env };
  for (const [k, v] of Object.entries(set)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  await storeWriter.flush().catch(() => undefined);
  await closeStore();
  storeWriter.resetStore();
  resetSettings();
  resetLogging();
  const logs: LogRecord[] = [];
  const sink: LogSink = { write: (r) => logs.push(r) };
  logHub.extraSinks.push(sink);
  // keep the console quiet unless asked
  if (!process.env.FLOWCTL_TEST_VERBOSE) logHub.consoleSink = { write: () => undefined, setColors: () => undefined } as never;
  return {
    dir,
    logs,
    // INFO and above, as a user sees them (the engine's DEBUG decisions are in `logs`)
    lines: () => logs.filter((r) => r.level >= 20).map((r) => `${r.source} - ${r.message}`),
    async cleanup() {
      await storeWriter.flush().catch(() => undefined);
      await closeStore();
      storeWriter.resetStore();
      const i = logHub.extraSinks.indexOf(sink);
      if (i >= 0) logHub.extraSinks.splice(i, 1);
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      resetSettings();
      resetLogging();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Flush pending writes and return the store. */
export async function flushedStore() {
  await storeWriter.flush();
  return getStore();
}
