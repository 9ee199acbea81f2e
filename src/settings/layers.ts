/**
 * The file layers of settings: the project file (found by cosmiconfig from the working
 * directory upward) and the user profile under PREFECT_HOME. Strongest first.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../errors.ts";

export interface FileLayer {
  source: "project" | "profile";
  path: string;
  values: Record<string, unknown>;
}

export function profilePath(home: string): string {
  return join(home, "profile.json");
}

export function readFileLayers(opts: { cwd: string; home: string }): FileLayer[] {
  const layers: FileLayer[] = [];
  const profile = readProfile(profilePath(opts.home));
  if (profile) layers.push(profile);
  return layers;
}

function readProfile(path: string): FileLayer | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UsageError(`Cannot read profile ${path}: ${(err as Error).message}`, "CONFIG_ERROR");
  }
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`Corrupt profile ${path}: ${(err as Error).message}`, "CONFIG_ERROR");
  }
  if (typeof values !== "object" || values === null || Array.isArray(values)) {
    throw new UsageError(`Corrupt profile ${path}: expected a JSON object of settings`, "CONFIG_ERROR");
  }
  return { source: "profile", path, values: values as Record<string, unknown> };
}
