/**
 * Content negotiation for answers: brotli or gzip (node:zlib) when the request's Accept-Encoding
 * allows it, by its q-values (brotli preferred on a tie); nothing below MIN_COMPRESS bytes, where
 * the framing outweighs the gain. An encoded answer has an ETag of its own (`"…-br"`), as a
 * strong validator must.
 */
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

export type Encoding = "br" | "gzip" | "identity";

/** Bodies shorter than this go as they are. */
export const MIN_COMPRESS = 1024;

/** The encoding to answer with, from an Accept-Encoding header (`gzip, deflate, br;q=0.9`). */
export function pickEncoding(header: string | string[] | undefined): Encoding {
  const text = Array.isArray(header) ? header.join(",") : (header ?? "");
  const q = new Map<string, number>();
  for (const part of text.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    if (!name) continue;
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const value = qp === undefined ? 1 : Number(qp.slice(2));
    q.set(name, Number.isFinite(value) ? value : 0);
  }
  const of = (name: string) => q.get(name) ?? q.get("*") ?? 0;
  const br = of("br");
  const gzip = of("gzip");
  if (br > 0 && br >= gzip) return "br";
  if (gzip > 0) return "gzip";
  return "identity";
}

/**
 * `body` in that encoding. `quality`: brotli's 0..11 (an answer made per request uses a fast
 * level; static assets, encoded once, the best).
 */
export function encode(body: Buffer, encoding: Encoding, quality = 5): Buffer {
  if (encoding === "br") {
    return brotliCompressSync(body, {
      params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_SIZE_HINT]: body.length },
    });
  }
  if (encoding === "gzip") return gzipSync(body, { level: quality >= 9 ? 9 : 6 });
  return body;
}

export const etagFor = (base: string, encoding: Encoding) => (encoding === "identity" ? `"${base}"` : `"${base}-${encoding === "br" ? "br" : "gz"}"`);
