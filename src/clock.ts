/**
 * Time, injectable: the engine reads the time, sleeps and arms its time limits only through
 * the current clock, so tests can replace it (a virtual clock) and assert exact retry delays
 * and timeouts without waiting for them.
 *
 * The current clock is the process's (`setClock`), unless a scoped clock applies: a test
 * harness installs a resolver that picks the clock of the harness a run belongs to, so two
 * harnesses in one process keep separate times. Without a resolver `clock()` is a field read.
 */
import { onAbort } from "./abort-fanout.ts";

export interface Clock {
  now(): number;
  /** Resolve after `ms`; reject with the signal's reason if it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Call `fn` once after `ms`; the returned function cancels it. */
  timeout(fn: () => void, ms: number): () => void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        off?.();
        resolve();
      }, ms);
      // one listener per signal however many runs sleep on it (see abort-fanout.ts)
      const off = signal
        ? onAbort(signal, () => {
            clearTimeout(timer);
            reject(signal.reason);
          })
        : undefined;
    });
  },
  timeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

let current: Clock = realClock;
let scoped: (() => Clock | undefined) | undefined;

export function clock(): Clock {
  if (scoped === undefined) return current;
  return scoped() ?? current;
}

/** Replace the clock (tests); returns a function that puts the previous one back. */
export function setClock(c: Clock): () => void {
  const prev = current;
  current = c;
  return () => {
    current = prev;
  };
}

/** Install the resolver of scoped clocks (once; the test harness does this). */
export function setScopedClockResolver(resolve: () => Clock | undefined): void {
  scoped = resolve;
}
