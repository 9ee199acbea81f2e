/** A clock for retry tests: sleeps return at once, recording their length and moving time on. */
import { realClock, setClock, type Clock } from "../../src/clock.ts";

export interface FakeClock extends Clock {
  /** every sleep asked for, in ms */
  sleeps: number[];
  restore(): void;
}

export function installFakeClock(start = Date.now()): FakeClock {
  let now = start;
  const sleeps: number[] = [];
  const c: FakeClock = {
    sleeps,
    now: () => now,
    sleep(ms, signal) {
      sleeps.push(ms);
      now += ms;
      if (signal?.aborted) return Promise.reject(signal.reason);
      return Promise.resolve();
    },
    // time limits stay real here: these tests move time only through sleeps
    timeout: realClock.timeout,
    restore: () => undefined,
  };
  c.restore = setClock(c);
  return c;
}
