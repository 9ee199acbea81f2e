/**
 * Settings resolution. Sources, strongest first:
 *   environment variable → project file (cosmiconfig, from the working directory up)
 *   → user profile (written by `flowctl config set`, under PREFECT_HOME) → default.
 * Explicit task/flow options sit above all of these; the engine applies them.
 *
 * PREFECT_HOME resolves first (environment, project file or default): the profile lives under
 * it, so the profile itself cannot move it. Relative paths in a project file are relative to
 * that file's folder.
 *
 * Resolved on first use and cached (an error too); `resetSettings()` drops the cache.
 * `currentSettings()` — what a run uses when it starts — first checks that no source changed
 * since: the PREFECT_* environment variables, the working directory, and the size, mtime and
 * inode of every project-file candidate and of the profile (stat calls; a file is read again
 * only when one of them differs).
 */
import { dirname, resolve } from "node:path";
import { UsageError, isFlowctlError } from "../errors.ts";
import { SETTINGS, SETTINGS_BY_KEY, SettingValueError, parseSettingValue, type SettingSpec, type Settings, type SettingKey } from "./schema.ts";
import { profilePath, readProfile, readProjectLayer, type FileLayer } from "./layers.ts";
import { locate } from "./file-io.ts";
import { statSync } from "node:fs";
import { projectCandidates } from "./project-file.ts";
import { unknownSettingMessage } from "./assignments.ts";

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
  /** the last folder searched for a project file (default: the home directory, or the root outside it) */
  stopDir?: string;
  /**
   * Collect every problem here instead of throwing at the first one (`flowctl config
   * validate`); a bad value then falls through to the next source.
   */
  problems?: string[];
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

  const guard = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      if (!opts.problems || !isFlowctlError(err, "CONFIG_ERROR")) throw err;
      opts.problems.push(err.message);
      return undefined;
    }
  };

  const settle = (spec: SettingSpec, layers: FileLayer[]): void => {
    const raw = env[spec.key];
    if (raw !== undefined && raw !== "") {
      const value = guard(() => parseFrom(spec, raw, () => "from the environment"));
      if (value !== undefined) {
        out[spec.key] = value;
        sources.set(spec.key, { key: spec.key, value, source: "env" });
        return;
      }
    }
    for (const layer of layers) {
      if (!Object.prototype.hasOwnProperty.call(layer.values, spec.key)) continue;
      let value = guard(() => parseFrom(spec, layer.values[spec.key], () => `in ${locate(layer.path, spec.key)}`));
      if (value === undefined) continue;
      if (spec.type === "path" && layer.source === "project") value = resolve(dirname(layer.path), String(value));
      out[spec.key] = value;
      sources.set(spec.key, { key: spec.key, value, source: layer.source, origin: layer.path });
      return;
    }
    out[spec.key] = spec.default(out);
    sources.set(spec.key, { key: spec.key, value: out[spec.key], source: "default" });
  };

  const project = guard(() => readProjectLayer(cwd, opts.stopDir));
  const homeSpec = SETTINGS_BY_KEY.get("PREFECT_HOME")!;
  settle(homeSpec, project ? [project] : []);
  const profile = guard(() => readProfile(profilePath(String(out.PREFECT_HOME))));
  const layers = [project, profile].filter((l): l is FileLayer => l !== undefined);
  for (const layer of layers) for (const key of Object.keys(layer.values)) guard(() => checkKey(layer, key));
  for (const spec of SETTINGS) if (spec !== homeSpec) settle(spec, layers);
  return { settings: out as unknown as Settings, sources, layers };
}

/** `where` is only worked out for an error (finding the line reads the file again). */
function parseFrom(spec: SettingSpec, raw: unknown, where: () => string): unknown {
  try {
    return parseSettingValue(spec, raw);
  } catch (err) {
    if (!(err instanceof SettingValueError)) throw err;
    throw new UsageError(`Invalid value for '${spec.key}' ${where()}: expected ${err.expected}, got ${err.received}.`, "CONFIG_ERROR");
  }
}

/** A key in a settings file must be a known setting (keys starting with `$`, like `$schema`, are ignored). */
function checkKey(layer: FileLayer, key: string): void {
  if (key.startsWith("$")) return;
  const spec = SETTINGS_BY_KEY.get(key);
  if (!spec) {
    throw new UsageError(unknownSettingMessage(key, locate(layer.path, key)), "CONFIG_ERROR");
  }
  if (spec.settable === false && layer.source === "profile") {
    throw new UsageError(`'${key}' in ${locate(layer.path, key)} has no effect: the profile lives under it. Set it in the environment.`, "CONFIG_ERROR");
  }
}

let cached: ({ settings: Settings } | { error: unknown }) & { print?: string } | undefined;
const listeners: (() => void)[] = [];

/** The settings in force for this process (resolved on first use; later calls are a field read). */
export function getSettings(): Settings {
  if (!cached) {
    try {
      cached = { settings: resolveSettings().settings };
    } catch (error) {
      cached = { error };
    }
  }
  if ("error" in cached) throw cached.error;
  return cached.settings;
}

/**
 * The settings as they are now: re-resolved when a source changed since they were last
 * resolved (SPEC: settings are resolved when a run starts). Runs call this as they start.
 */
export function currentSettings(): Settings {
  if (cached) {
    const print = fingerprint();
    if (cached.print === undefined) cached.print = print;
    else if (cached.print !== print) {
      cached = undefined;
      for (const fn of listeners) fn();
    }
  }
  const settings = getSettings();
  cached!.print ??= fingerprint();
  return settings;
}

/** Called when `currentSettings()` found a source changed (cached derived values go stale). */
export function onSettingsChanged(fn: () => void): void {
  listeners.push(fn);
}

/**
 * What the sources look like now: the environment, the project files that exist (path and
 * stamp: an edit changes only the file) and the profile. A project file appearing or
 * disappearing changes its directory's mtime, so each directory on the way up is stat'ed, and
 * the candidates are listed again when one changed.
 */
function fingerprint(): string {
  const env = process.env;
  const cwd = process.cwd();
  const parts: string[] = [cwd];
  for (const spec of SETTINGS) parts.push(env[spec.key] ?? "");
  const home = cached && "settings" in cached ? cached.settings.PREFECT_HOME : env.PREFECT_HOME;
  const stamp = (path: string) => {
    const st = statSync(path, { throwIfNoEntry: false });
    return st ? `${st.mtimeMs}:${st.size}:${st.ino}` : "";
  };
  const dirs = projectDirs(cwd);
  const dirStamps = dirs.map(stamp).join("\0");
  // the candidates that exist: listed again only when a directory changed. A directory's stamp
  // is not part of the print itself: any file made or removed beside the project (in /tmp, say,
  // by another process) changes it, and the settings would be resolved again for nothing
  if (existingFor?.key !== cwd + dirStamps) {
    existingFor = { key: cwd + dirStamps, files: projectCandidates(cwd).filter((f) => statSync(f, { throwIfNoEntry: false }) !== undefined) };
  }
  for (const f of existingFor.files) parts.push(f, stamp(f));
  if (home) parts.push(stamp(profilePath(String(home))));
  return parts.join("\0");
}

let existingFor: { key: string; files: string[] } | undefined;

function projectDirs(cwd: string): string[] {
  const out: string[] = [];
  for (const f of projectCandidates(cwd)) {
    const d = dirname(f);
    if (out[out.length - 1] !== d) out.push(d);
  }
  return out;
}

export function getSetting<K extends SettingKey>(key: K): Settings[K] {
  return getSettings()[key];
}

/** Forget the cached settings, so the next `getSettings()` reads every source again. */
export function resetSettings(): void {
  cached = undefined;
}

export { SETTINGS, type Settings, type SettingKey } from "./schema.ts";

/**
 * Settings made of the defaults and `values` alone: no environment variable, project file or
 * profile is read (a test harness's settings). A bad value or an unknown name throws a
 * UsageError (CONFIG_ERROR) saying where it came from (`where`).
 */
export function settingsFrom(values: Readonly<Record<string, unknown>>, where: string): Settings {
  for (const key of Object.keys(values)) {
    if (!SETTINGS_BY_KEY.has(key)) throw new UsageError(unknownSettingMessage(key, where), "CONFIG_ERROR");
  }
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    const raw = values[spec.key];
    out[spec.key] = raw === undefined ? spec.default(out) : parseFrom(spec, raw, () => `in ${where}`);
  }
  return out as unknown as Settings;
}
