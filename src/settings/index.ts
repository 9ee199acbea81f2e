/**
 * Settings resolution. Sources, strongest first:
 *   environment variable → project file (cosmiconfig, from the working directory up)
 *   → user profile (written by `flowctl config set`, under PREFECT_HOME) → default.
 * Explicit task/flow options sit above all of these; the engine applies them.
 *
 * Resolved once per process and cached; `resetSettings()` drops the cache (tests, `config set`).
 */
import { SETTINGS, parseSettingValue, type Settings, type SettingKey } from "./schema.ts";
import { readFileLayers, type FileLayer } from "./layers.ts";

export type SettingSource = "env" | "project" | "profile" | "default";

export interface ResolvedSetting {
  key: string;
  value: unknown;
  source: SettingSource;
  /** the file it came from, for project and profile values */
  origin?: string;
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface ResolvedSettings {
  settings: Settings;
  sources: Map<string, ResolvedSetting>;
  layers: FileLayer[];
}

/** Resolve every setting from all sources. Throws a UsageError (CONFIG_ERROR) on a bad value or file. */
export function resolveSettings(opts: ResolveOptions = {}): ResolvedSettings {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const out: Record<string, unknown> = {};
  const sources = new Map<string, ResolvedSetting>();
  // PREFECT_HOME decides where the profile lives, so it resolves from env/default first.
  const homeSpec = SETTINGS[0]!;
  const envHome = env.PREFECT_HOME;
  out.PREFECT_HOME = envHome !== undefined && envHome !== "" ? envHome : homeSpec.default(out);
  const layers = readFileLayers({ cwd, home: String(out.PREFECT_HOME) });
  for (const spec of SETTINGS) {
    const raw = env[spec.key];
    if (raw !== undefined && raw !== "") {
      out[spec.key] = parseSettingValue(spec, raw);
      sources.set(spec.key, { key: spec.key, value: out[spec.key], source: "env" });
      continue;
    }
    let found = false;
    for (const layer of layers) {
      if (spec.key === "PREFECT_HOME" && layer.source === "profile") continue;
      if (Object.prototype.hasOwnProperty.call(layer.values, spec.key)) {
        out[spec.key] = parseSettingValue(spec, layer.values[spec.key]);
        sources.set(spec.key, { key: spec.key, value: out[spec.key], source: layer.source, origin: layer.path });
        found = true;
        break;
      }
    }
    if (!found) {
      out[spec.key] = spec.key === "PREFECT_HOME" ? out.PREFECT_HOME : spec.default(out);
      sources.set(spec.key, { key: spec.key, value: out[spec.key], source: "default" });
    }
  }
  return { settings: out as unknown as Settings, sources, layers };
}

let cached: Settings | undefined;

/** The settings in force for this process (resolved on first use). */
export function getSettings(): Settings {
  cached ??= resolveSettings().settings;
  return cached;
}

export function getSetting<K extends SettingKey>(key: K): Settings[K] {
  return getSettings()[key];
}

/** Forget the cached settings, so the next `getSettings()` reads every source again. */
export function resetSettings(): void {
  cached = undefined;
}

export { SETTINGS, type Settings, type SettingKey } from "./schema.ts";
