/**
 * Run ids: UUIDv7 (RFC 9562) — 48 bits of milliseconds, then random bits. Ids made later sort
 * later, so the store's B-trees grow at their end instead of being written all over, which
 * roughly halves the cost of inserting a run's rows.
 */
import { randomFillSync } from "node:crypto";

const POOL = 16 * 256;
let pool = Buffer.allocUnsafe(POOL);
let offset = POOL;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function newId(now: number = Date.now()): string {
  if (offset >= POOL) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL));
    offset = 0;
  }
  const b = pool;
  const o = offset;
  offset += 16;
  // 48-bit big-endian timestamp
  const hi = Math.floor(now / 2 ** 16);
  const lo = now % 2 ** 16;
  const ts =
    HEX[(hi >>> 24) & 0xff]! + HEX[(hi >>> 16) & 0xff]! + HEX[(hi >>> 8) & 0xff]! + HEX[hi & 0xff]! + HEX[(lo >>> 8) & 0xff]! + HEX[lo & 0xff]!;
  const version = HEX[(b[o + 6]! & 0x0f) | 0x70]! + HEX[b[o + 7]!]!;
  const variant = HEX[(b[o + 8]! & 0x3f) | 0x80]! + HEX[b[o + 9]!]!;
  return `${ts.slice(0, 8)}-${ts.slice(8)}-${version}-${variant}-${HEX[b[o + 10]!]}${HEX[b[o + 11]!]}${HEX[b[o + 12]!]}${HEX[b[o + 13]!]}${HEX[b[o + 14]!]}${HEX[b[o + 15]!]}`;
}
