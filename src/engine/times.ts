/**
 * Times (ms since the epoch) as the records of runs keep them. V8 keeps a number that is not a
 * small integer in a 16-byte box of its own, one per field, and a timestamp is never small: the
 * records of a `.map` list's finished runs would carry six boxes each (their states' times,
 * created, started, ended). A whole-ms time is kept instead as its offset from when this module
 * loaded, a small integer for ±24 days, stored inline; any other time (a virtual clock's
 * fraction of a ms) is kept as it is. `unpackTime(packTime(t)) === t` for every time a Date can
 * hold (±8.64e15 ms) and every fraction.
 */
const BASE = Date.now();

export function packTime(ms: number): number {
  return Number.isInteger(ms) ? ms - BASE : ms;
}

export function unpackTime(packed: number): number {
  return Number.isInteger(packed) ? packed + BASE : packed;
}
