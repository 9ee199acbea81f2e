/**
 * Backpressure between the engine and the store writer: while too many rows wait for the store
 * (`congested`), new task runs are held back, first in first out, and let go one after another
 * as acknowledgements come in, each checked after the one before it started.
 *
 * A held-back run waits here as one function, not as a suspended async call: a `.map` of
 * 100,000 runs holds 100,000 of them. (Every held-back run waiting on one shared promise and
 * re-checking on each acknowledgement made a large `.map` quadratic.)
 */
const noop = () => undefined;

export class Admission {
  /** what waits, in order (`head` is next) */
  private waiters: (() => void)[] = [];
  private head = 0;
  private releaseScheduled = false;

  /** `congested`: whether the store is behind (rows unacknowledged past the writer's limit) */
  constructor(private readonly congested: () => boolean) {}

  /**
   * Resolves when a new task run may start: at once (undefined) unless the store is congested or
   * others wait before it, in the order they came.
   */
  admit(): Promise<void> | undefined {
    if (this.head === this.waiters.length && !this.congested()) return undefined;
    return new Promise<void>((resolve) => this.whenAdmitted(resolve));
  }

  /** Call `start` (on a later microtask at the soonest) once the store keeps up and whatever waited before it went. */
  whenAdmitted(start: () => void): void {
    this.waiters.push(start);
    this.scheduleRelease();
  }

  /** The store acknowledged rows: let waiters go if any. */
  acknowledged(): void {
    if (this.head < this.waiters.length) this.scheduleRelease();
  }

  /** Let waiters go while the store keeps up (each one checked after the one before it started). */
  private release = (): void => {
    this.releaseScheduled = false;
    while (this.head < this.waiters.length && !this.congested()) {
      const start = this.waiters[this.head]!;
      this.waiters[this.head++] = noop;
      start();
    }
    if (this.head === this.waiters.length) {
      this.waiters = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.waiters.length) {
      this.waiters = this.waiters.slice(this.head);
      this.head = 0;
    }
  };

  /** On a microtask: the caller's synchronous code (a `.map` loop) ends first. */
  private scheduleRelease(): void {
    if (this.releaseScheduled || this.congested()) return;
    this.releaseScheduled = true;
    queueMicrotask(this.release);
  }
}
