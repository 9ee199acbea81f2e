/**
 * The web UI's static files: every regular file directly in `assets/`, read once into memory
 * when the server starts. Requests are answered from this table by exact name, so no request
 * path ever reaches the file system (nothing to traverse).
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ASSETS_DIR = fileURLToPath(new URL("./assets/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
};

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

export function loadAssets(dir = ASSETS_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    const type = TYPES[extname(name)];
    if (!type || !statSync(file).isFile()) continue;
    const body = readFileSync(file);
    assets.set(name, { body, type, etag: `"${createHash("sha1").update(body).digest("base64url")}"` });
  }
  return assets;
}
