/**
 * Admission of new task runs while the store keeps up (the writer's backpressure, `writer.ts`):
 * what waits is let go in the order it came, on a microtask, while the store is not congested.
 */
const noop = () => undefined;

export class Admission {
  constructor(private readonly congested: () => boolean) {}

  /**
   * what waits for the store to keep up (`admit`, `whenAdmitted`), first in first out (`waitHead`
   * is next): a function and its argument, two slots each (no closure per waiting task run)
   */
  private waiters: unknown[] = [];
  private waitHead = 0;
  private releaseScheduled = false;

  /**
   * Resolves when a new task run may start: at once (undefined) unless the store is congested or
   * others wait before it, in the order they came.
   */
  admit(): Promise<void> | undefined {
    if (this.admitsNow()) return undefined;
    return new Promise<void>((resolve) => this.whenAdmitted(resolve, undefined));
  }

  /** Whether a new task run may start at once (see `admit`). */
  admitsNow(): boolean {
    return this.waitHead === this.waiters.length && !this.congested();
  }

  /**
   * Call `start(arg)` (on a later microtask at the soonest) once the store keeps up and whatever
   * waited before it went. A submitted task run waits here as two array slots (one shared
   * function, its run), not as a suspended async call or a closure: a `.map` of 100,000 runs
   * holds 100,000 of them.
   */
  whenAdmitted<A>(start: (arg: A) => void, arg: A): void {
    this.waiters.push(start, arg);
    this.scheduleRelease();
  }

  /** Let waiters go while the store keeps up (each one checked after the one before it started). */
  private release = (): void => {
    this.releaseScheduled = false;
    while (this.waitHead < this.waiters.length && !this.congested()) {
      const i = this.waitHead;
      const start = this.waiters[i] as (arg: unknown) => void;
      const arg = this.waiters[i + 1];
      this.waiters[i] = noop;
      this.waiters[i + 1] = undefined;
      this.waitHead = i + 2;
      start(arg);
    }
    if (this.waitHead === this.waiters.length) {
      this.waiters = [];
      this.waitHead = 0;
    } else if (this.waitHead > 4096 && this.waitHead * 2 > this.waiters.length) {
      this.waiters = this.waiters.slice(this.waitHead);
      this.waitHead = 0;
    }
  };

  /** On a microtask: the caller's synchronous code (a `.map` loop) ends first. */
  private scheduleRelease(): void {
    if (this.releaseScheduled || this.congested()) return;
    this.releaseScheduled = true;
    queueMicrotask(this.release);
  }

  /** The store answered: let waiters go if any. */
  wake(): void {
    if (this.waitHead < this.waiters.length) this.scheduleRelease();
  }
}
