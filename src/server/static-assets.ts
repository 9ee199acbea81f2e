/**
 * The web UI's static files: every regular file directly in `assets/`, read once into memory
 * when the server starts. Requests are answered from this table by exact name, so no request
 * path ever reaches the file system (nothing to traverse). Text files are also kept brotli- and
 * gzip-encoded, for browsers that accept it.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { encode, MIN_COMPRESS, type Encoding } from "./compress.ts";
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
  /** the ETag's value without quotes or encoding suffix */
  hash: string;
  /** the body brotli- and gzip-encoded (best level, once), for text types worth it */
  encoded: Partial<Record<Exclude<Encoding, "identity">, Buffer>>;
}

const TEXT = /^text\/|^application\/json|^image\/svg/;

export function loadAssets(dir = ASSETS_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    const type = TYPES[extname(name)];
    if (!type || !statSync(file).isFile()) continue;
    const body = readFileSync(file);
    const encoded: Asset["encoded"] = {};
    if (TEXT.test(type) && body.length >= MIN_COMPRESS) {
      encoded.br = encode(body, "br", 11);
      encoded.gzip = encode(body, "gzip", 9);
    }
    assets.set(name, { body, type, hash: createHash("sha1").update(body).digest("base64url"), encoded });
  }
  return assets;
}
