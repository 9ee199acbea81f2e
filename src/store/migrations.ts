/** Numbered SQL migrations (`migrations/0001-init.sql`, …), shared by every backend. */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const dir = fileURLToPath(new URL("./migrations/", import.meta.url));
let cache: Migration[] | undefined;

export function loadMigrations(): Migration[] {
  cache ??= readdirSync(dir)
    .filter((f) => /^\d{4}-.+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 4)), name: f.replace(/\.sql$/, ""), sql: readFileSync(dir + f, "utf8") }));
  return cache;
}
