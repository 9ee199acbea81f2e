/**
 * The project settings file, found from the working directory upward (up to
 * and including the home directory, or up to the root when outside it). The first directory
 * holding one of PROJECT_FILES wins, and within it the first name in that list. cosmiconfig
 * reads them, loaded on first need (a package.json's "prefect" key is read directly).
 *
 * Everything loads synchronously, so `getSettings()` stays sync: JSON and YAML directly, and
 * `prefect.config.{ts,mts,js,mjs,cjs}` through tsx's scoped `require()`, which compiles ESM and
 * TypeScript to CommonJS on the fly (so those files cannot use top-level await).
 */
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import { homedir } from "node:os";
import type { cosmiconfigSync as CosmiconfigSync, LoaderSync } from "cosmiconfig";
import { UsageError } from "../errors.ts";
import { parseJsonObject } from "./file-io.ts";

/**
 * Searched in this order in each directory. TypeScript comes before JavaScript because tsx
 * resolves `x.js` to a sibling `x.ts` when both exist.
 */
export const PROJECT_FILES = [
  ".prefectrc",
  ".prefectrc.json",
  ".prefectrc.yaml",
  ".prefectrc.yml",
  "prefect.config.ts",
  "prefect.config.mts",
  "prefect.config.js",
  "prefect.config.mjs",
  "prefect.config.cjs",
  "package.json",
] as const;

export interface ProjectFile {
  path: string;
  values: Record<string, unknown>;
}

const require = createRequire(import.meta.url);

// cosmiconfig (and the YAML parser it brings) loads only when a project file other than a
// package.json is there to read: most runs have none, and start sooner.
type Cosmiconfig = typeof import("cosmiconfig");
let cosmiconfig: Cosmiconfig | undefined;
const loadCosmiconfig = (): Cosmiconfig => (cosmiconfig ??= require("cosmiconfig") as Cosmiconfig);

const loadJson: LoaderSync = (path, content) => parseJsonObject(content, path, "project file");

const loadYaml: LoaderSync = (path, content) => {
  try {
    return loadCosmiconfig().defaultLoadersSync[".yaml"]!(path, content);
  } catch (err) {
    const e = err as { reason?: string; mark?: { line: number; column: number }; message: string };
    const where = e.mark ? `${path}:${e.mark.line + 1}:${e.mark.column + 1}` : path;
    throw new UsageError(`Corrupt project file ${where}: ${e.reason ?? firstLine(e.message)} (not valid YAML)`, "CONFIG_ERROR");
  }
};

const loadModule: LoaderSync = (path) => {
  let mod: unknown;
  try {
    const tsx = require("tsx/cjs/api") as { require: (id: string, from: string) => unknown };
    mod = tsx.require(path, import.meta.url);
  } catch (err) {
    // esbuild reports "file:line:col: ERROR: reason" on the line after its summary
    const message = err instanceof Error ? err.message : String(err);
    const at = /:(\d+):(\d+): ERROR: (.*)/.exec(message);
    const detail = at ? `${path}:${at[1]}:${at[2]}: ${at[3]}` : `${path}: ${firstLine(message)}`;
    throw new UsageError(`Cannot load project file ${detail}`, "CONFIG_ERROR");
  }
  const m = mod as { default?: unknown; __esModule?: boolean } | null;
  return m !== null && typeof m === "object" && "default" in m ? m.default : m;
};

const LOADERS = {
  ".json": loadJson,
  ".yaml": loadYaml,
  ".yml": loadYaml,
  noExt: loadYaml,
  ".ts": loadModule,
  ".mts": loadModule,
  ".js": loadModule,
  ".mjs": loadModule,
  ".cjs": loadModule,
};

/** The nearest project file with settings in it, or undefined. Throws CONFIG_ERROR when one is corrupt. */
export function findProjectFile(cwd: string, stopDir: string = homedir()): ProjectFile | undefined {
  const stop = resolve(stopDir);
  let dir = resolve(cwd);
  for (;;) {
    for (const name of PROJECT_FILES) {
      const path = join(dir, name);
      if (!isFile(path)) continue;
      const found = loadOne(path);
      if (found) return found;
    }
    const parent = dirname(dir);
    if (dir === stop || parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Every path `findProjectFile` would look at, nearest first: a settings snapshot is still
 * good while none of them appeared, disappeared or changed.
 */
export function projectCandidates(cwd: string, stopDir: string = homedir()): string[] {
  const out: string[] = [];
  const stop = resolve(stopDir);
  let dir = resolve(cwd);
  for (;;) {
    for (const name of PROJECT_FILES) out.push(join(dir, name));
    const parent = dirname(dir);
    if (dir === stop || parent === dir) return out;
    dir = parent;
  }
}

/** Load one project file by path (`config validate`, `config set --local`). */
export function loadProjectFile(path: string): ProjectFile | undefined {
  return loadOne(path);
}

let explorer: ReturnType<typeof CosmiconfigSync> | undefined;

function loadOne(path: string): ProjectFile | undefined {
  let result;
  try {
    if (basename(path) === "package.json") {
      // what cosmiconfig does with a package.json (its "prefect" key), without loading it
      const text = readFileSync(path, "utf8");
      result = text.trim() === "" ? undefined : { config: parseJsonObject(text, path, "project file")["prefect"], isEmpty: false };
    } else {
      explorer ??= loadCosmiconfig().cosmiconfigSync("prefect", { loaders: LOADERS, searchStrategy: "none", cache: false });
      result = explorer.load(path);
    }
  } catch (err) {
    if ((err as { code?: unknown }).code === "CONFIG_ERROR") throw err;
    throw new UsageError(`Cannot read project file ${path}: ${firstLine((err as Error).message)}`, "CONFIG_ERROR");
  }
  // a package.json without a "prefect" key, or an empty file, holds no settings
  if (!result || result.isEmpty || result.config === undefined || result.config === null) return undefined;
  const config: unknown = result.config;
  if (typeof config !== "object" || Array.isArray(config)) {
    const what = path.endsWith("package.json") ? `the "prefect" key of ${path}` : `project file ${path}`;
    throw new UsageError(
      `Expected ${what} to hold an object of settings (KEY: value), got ${Array.isArray(config) ? "a list" : JSON.stringify(config)}`,
      "CONFIG_ERROR",
    );
  }
  return { path, values: config as Record<string, unknown> };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function firstLine(text: string): string {
  return text.split("\n").find((l) => l.trim() !== "")?.trim() ?? text;
}
