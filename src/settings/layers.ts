/**
 * The file layers of settings: the project file (found from the working directory upward,
 * see project-file.ts) and the user profile under PREFECT_HOME. Strongest first.
 */
import { join } from "node:path";
import { readJsonObjectFile } from "./file-io.ts";
import { findProjectFile } from "./project-file.ts";

export interface FileLayer {
  source: "project" | "profile";
  path: string;
  values: Record<string, unknown>;
}

export function profilePath(home: string): string {
  return join(home, "profile.json");
}

export function readProjectLayer(cwd: string, stopDir?: string): FileLayer | undefined {
  const found = findProjectFile(cwd, stopDir);
  return found && { source: "project", path: found.path, values: found.values };
}

/** The profile's settings, or undefined when there is no profile yet. */
export function readProfile(path: string): FileLayer | undefined {
  const values = readJsonObjectFile(path, "profile");
  return values && { source: "profile", path, values };
}
