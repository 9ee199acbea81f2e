/**
 * States: one point in a run's history. A run moves through
 *   Pending → Running → Completed | Failed | Cancelled | Crashed
 * and, on retries, Running → AwaitingRetry (SCHEDULED) → Retrying (RUNNING) → …
 * Named states share a type with their base (Cached is COMPLETED, TimedOut is FAILED,
 * NotReady is PENDING), as in Prefect.
 */
import { FlowctlError, coerceError } from "../errors.ts";
import { clock } from "../clock.ts";
import { packTime, unpackTime } from "./times.ts";
import type { StateType } from "../store/types.ts";

export type { StateType };

const FINAL: ReadonlySet<StateType> = new Set(["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]);

export interface StateInit<T = unknown> {
  name?: string;
  message?: string;
  /** The run's value (Completed) */
  data?: T;
  /** The error that ended the run (Failed, Crashed, Cancelled, NotReady) */
  error?: unknown;
  /** When an AwaitingRetry or Scheduled run is due */
  scheduledTime?: Date;
  timestamp?: Date;
}

/** What few states carry (a message, a due time, an error), and the Date of the time once asked for. */
interface StateDetail {
  message: string | undefined;
  scheduledTime: Date | undefined;
  error: Error | undefined;
  date: Date | undefined;
}

const NO_INIT: StateInit<never> = Object.freeze({});

export class State<T = unknown> {
  readonly type: StateType;
  readonly name: string;
  /** when the run entered this state (`packTime`: no number box per state) */
  private readonly at: number;
  /** @internal the value of a Completed state */
  readonly data: T | undefined;
  /**
   * the rest, in an object of its own only when there is some: most states (Pending, Running,
   * Completed) have none, and a list of finished runs keeps three states per run
   */
  private detail: StateDetail | undefined;

  constructor(type: StateType, init: StateInit<T> = NO_INIT) {
    this.type = type;
    this.name = init.name ?? defaultName(type);
    const timestamp = init.timestamp;
    this.at = packTime(timestamp ? timestamp.getTime() : clock().now());
    this.data = init.data;
    const { message, scheduledTime } = init;
    const error = init.error === undefined ? undefined : coerceError(init.error);
    if (message !== undefined || scheduledTime !== undefined || error !== undefined || timestamp) {
      this.detail = { message, scheduledTime, error, date: timestamp };
    }
  }

  get message(): string | undefined {
    return this.detail?.message;
  }

  /** When an AwaitingRetry or Scheduled run is due */
  get scheduledTime(): Date | undefined {
    return this.detail?.scheduledTime;
  }

  /** @internal the error carried by a Failed/Crashed/Cancelled/NotReady state */
  get error(): Error | undefined {
    return this.detail?.error;
  }

  /** when the run entered this state, ms since the epoch */
  get ts(): number {
    return unpackTime(this.at);
  }

  get timestamp(): Date {
    const d = (this.detail ??= { message: undefined, scheduledTime: undefined, error: undefined, date: undefined });
    return (d.date ??= new Date(this.ts));
  }

  isCompleted(): boolean { return this.type === "COMPLETED"; }
  isFailed(): boolean { return this.type === "FAILED"; }
  isCrashed(): boolean { return this.type === "CRASHED"; }
  isCancelled(): boolean { return this.type === "CANCELLED"; }
  isRunning(): boolean { return this.type === "RUNNING"; }
  isPending(): boolean { return this.type === "PENDING"; }
  isScheduled(): boolean { return this.type === "SCHEDULED"; }
  isPaused(): boolean { return this.type === "PAUSED"; }
  isFinal(): boolean { return FINAL.has(this.type); }

  /**
   * The run's value. Rejects with the thrown error for a Failed (or Crashed/Cancelled) state
   * and with a clear error for a state that is not final.
   */
  result(): Promise<T> {
    if (this.type === "COMPLETED") return Promise.resolve(this.data as T);
    if (this.error) return Promise.reject(this.error);
    if (this.isFinal()) {
      return Promise.reject(new FlowctlError("NOT_FINAL", `${this.name} state has no result: ${this.message ?? "no message"}`));
    }
    return Promise.reject(
      new FlowctlError("NOT_FINAL", `State ${this.toString()} is not final; its result is not available yet.`),
    );
  }

  /** `Completed()`, `Failed('boom')`, `Cached(type=COMPLETED)` */
  toString(): string {
    const parts: string[] = [];
    if (this.message) parts.push(`'${this.message}'`);
    if (this.name.toUpperCase() !== this.type) parts.push(`type=${this.type}`);
    return `${this.name}(${parts.join(", ")})`;
  }

  /** How `console.log` and `util.inspect` show a state: its fields as they read, not how they are kept. */
  [Symbol.for("nodejs.util.inspect.custom")](
    depth: number,
    options: { depth?: number | null; stylize(text: string, style: string): string },
    inspect: (v: unknown, o: object) => string,
  ): string {
    if (depth < 0) return options.stylize(`[State ${this.toString()}]`, "special");
    const shown: Record<string, unknown> = { type: this.type, name: this.name, timestamp: this.timestamp };
    if (this.message !== undefined) shown.message = this.message;
    if (this.scheduledTime !== undefined) shown.scheduledTime = this.scheduledTime;
    if (this.error !== undefined) shown.error = this.error;
    if (this.data !== undefined) shown.data = this.data;
    return `State ${inspect(shown, { ...options, depth: options.depth === null || options.depth === undefined ? options.depth : options.depth - 1 })}`;
  }

  toJSON(): Record<string, unknown> {
    return {
      type: this.type,
      name: this.name,
      message: this.message,
      timestamp: this.timestamp.toISOString(),
      scheduledTime: this.scheduledTime?.toISOString(),
    };
  }
}

function defaultName(type: StateType): string {
  switch (type) {
    case "SCHEDULED": return "Scheduled";
    case "PENDING": return "Pending";
    case "RUNNING": return "Running";
    case "COMPLETED": return "Completed";
    case "FAILED": return "Failed";
    case "CANCELLED": return "Cancelled";
    case "CRASHED": return "Crashed";
    case "PAUSED": return "Paused";
    case "CANCELLING": return "Cancelling";
  }
}

export function isState(value: unknown): value is State {
  return value instanceof State;
}

type Init<T> = Omit<StateInit<T>, "name"> & { name?: string };

export const Pending = <T = unknown>(init?: Init<T>) => new State<T>("PENDING", init);
export const Scheduled = <T = unknown>(init?: Init<T>) => new State<T>("SCHEDULED", init);
export const Running = <T = unknown>(init?: Init<T>) => new State<T>("RUNNING", init);
export const Completed = <T = unknown>(init?: Init<T>) => new State<T>("COMPLETED", init);
export const Failed = <T = unknown>(init?: Init<T>) => new State<T>("FAILED", init);
export const Cancelled = <T = unknown>(init?: Init<T>) => new State<T>("CANCELLED", init);
export const Crashed = <T = unknown>(init?: Init<T>) => new State<T>("CRASHED", init);
export const Cancelling = <T = unknown>(init?: Init<T>) => new State<T>("CANCELLING", init);
export const Paused = <T = unknown>(init?: Init<T>) => new State<T>("PAUSED", init);

export const AwaitingRetry = (scheduledTime: Date) =>
  new State("SCHEDULED", { name: "AwaitingRetry", scheduledTime });
export const Retrying = () => new State("RUNNING", { name: "Retrying" });
export const Cached = <T>(data: T) => new State<T>("COMPLETED", { name: "Cached", data });
export const TimedOut = (message: string, error: unknown) =>
  new State("FAILED", { name: "TimedOut", message, error });
export const NotReady = (message: string, error: unknown) =>
  new State("PENDING", { name: "NotReady", message, error });
