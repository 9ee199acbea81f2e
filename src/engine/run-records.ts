/**
 * Run records: the in-memory truth about each flow run and task run while it executes.
 * The engine mutates them through `setState`; every change is handed to the batched store
 * writer. `TaskRun` and `FlowRun` are the read-only views users see (hooks, futures,
 * `retryConditionFn`).
 */
import { errorToData, type ErrorData } from "../errors.ts";
import { redactKeyPattern, storedJson, storedText, type RecordLimits } from "../logging/redact.ts";
import { newId } from "./ids.ts";
import { Logger } from "../logging/logger.ts";
import { clock } from "../clock.ts";
import { packTime, unpackTime } from "./times.ts";
import { StateRowData, TaskRunRowData } from "./run-rows.ts";
import type { RunEnv } from "./env.ts";
import type { FlowRunRow, TaskRunRow } from "../store/types.ts";
import { packStates } from "../store/packed-states.ts";
import type { State } from "./states.ts";
import type { RunProgress } from "./progress.ts";
import type { Settings } from "../settings/schema.ts";

export interface TaskRun {
  readonly id: string;
  readonly name: string;
  readonly taskName: string;
  readonly taskKey: string;
  readonly flowRunId: string | undefined;
  readonly parentTaskRunId: string | undefined;
  readonly parameters: Record<string, unknown>;
  readonly tags: readonly string[];
  readonly runCount: number;
  readonly state: State;
  readonly states: readonly State[];
  readonly startTime: Date | undefined;
  readonly endTime: Date | undefined;
  readonly cacheKey: string | undefined;
  /** upstream task runs whose results this run took as inputs, by parameter */
  readonly inputs: readonly { parameter: string; taskRunId: string }[];
}

export interface FlowRun {
  readonly id: string;
  readonly name: string;
  readonly flowName: string;
  readonly parameters: Record<string, unknown>;
  readonly tags: readonly string[];
  readonly runCount: number;
  readonly parentFlowRunId: string | undefined;
  readonly parentTaskRunId: string | undefined;
  readonly state: State;
  readonly states: readonly State[];
  readonly startTime: Date | undefined;
  readonly endTime: Date | undefined;
}

const limitsBySettings = new WeakMap<Settings, RecordLimits>();

/** The record limits a set of settings asks for (redact patterns, longest value). */
export function recordLimits(settings: Settings): RecordLimits {
  let l = limitsBySettings.get(settings);
  if (!l) {
    l = { maxValueBytes: settings.PREFECT_STORE_MAX_VALUE_BYTES, redactKey: redactKeyPattern(settings.PREFECT_LOGGING_REDACT_PATTERNS) };
    limitsBySettings.set(settings, l);
  }
  return l;
}

function storedErrorData(e: ErrorData, limits: RecordLimits): ErrorData {
  const out: ErrorData = { ...e, message: storedText(e.message, limits) };
  if (e.stack !== undefined) out.stack = storedText(e.stack, limits);
  if (e.cause !== undefined) out.cause = storedErrorData(e.cause, limits);
  return out;
}

const NO_TAGS = "[]";
export function tagsText(tags: readonly string[]): string {
  return tags.length === 0 ? NO_TAGS : JSON.stringify(tags);
}

export const isFinalType = (t: string): boolean => t === "COMPLETED" || t === "FAILED" || t === "CANCELLED" || t === "CRASHED";

const NO_STATES: readonly State[] = Object.freeze([]);
const NO_INPUTS: readonly { parameter: string; taskRunId: string }[] = Object.freeze([]);

function appended(states: readonly State[], state: State): State[] {
  const n = states.length;
  const out = new Array<State>(n + 1);
  for (let i = 0; i < n; i++) out[i] = states[i]!;
  out[n] = state;
  return out;
}

export abstract class RunRecordBase {
  readonly id: string;
  name: string;
  parameters: Record<string, unknown>;
  tags: readonly string[];
  runCount = 0;
  /**
   * the states of this process's part of the run (a resumed run's earlier ones are in the store).
   * Replaced by a copy one longer on each change: a pushed-to array reserves 17 slots, and the
   * records of finished runs a user keeps (a list of futures) would carry that slack each.
   */
  states: readonly State[] = NO_STATES;
  /** when the run was created (`packTime`) */
  private createdAt = packTime(clock().now());
  /** where the run's records and logs go */
  abstract readonly env: RunEnv;
  /**
   * The run's abort signal's controller once asked for; or, aborted before anyone asked, the
   * reason. One slot where three (controller, reason, a flag) were: most runs are never aborted.
   */
  private abortBox: AbortController | { reason: unknown } | undefined;

  constructor(name: string, parameters: Record<string, unknown>, tags: readonly string[], id?: string) {
    this.id = id ?? newId();
    this.name = name;
    this.parameters = parameters;
    this.tags = tags;
  }

  /** how many states the run had in the store before this process took it up (a resumed flow run's) */
  protected get seqBase(): number {
    return 0;
  }

  /** ms since the epoch */
  get created(): number {
    return unpackTime(this.createdAt);
  }

  set created(ms: number) {
    this.createdAt = packTime(ms);
  }

  /** ms since the epoch of the first Running state and of the final state */
  abstract get startMs(): number | undefined;
  abstract get endMs(): number | undefined;

  get startTime(): Date | undefined {
    return this.startMs === undefined ? undefined : new Date(this.startMs);
  }

  get endTime(): Date | undefined {
    return this.endMs === undefined ? undefined : new Date(this.endMs);
  }

  get state(): State {
    return this.states[this.states.length - 1]!;
  }

  /** Aborted on timeout or cancellation (created on first use). */
  get signal(): AbortSignal {
    const box = this.abortBox;
    if (box instanceof AbortController) return box.signal;
    const controller = new AbortController();
    if (box) controller.abort(box.reason);
    this.abortBox = controller;
    return controller.signal;
  }

  /** The current attempt was aborted (timeout or cancellation). */
  get aborted(): boolean {
    const box = this.abortBox;
    return box instanceof AbortController ? box.signal.aborted : box !== undefined;
  }

  /** A new attempt starts with a fresh, unaborted signal. */
  newAttempt(): void {
    if (this.aborted) this.abortBox = undefined;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    const box = this.abortBox;
    if (box instanceof AbortController) box.abort(reason);
    else this.abortBox = { reason };
  }

  protected abstract readonly kind: "flow" | "task";

  abstract toRow(): FlowRunRow | TaskRunRow;

  /** Parameter names marked secret for this run (by `secret()`); names matching the redact patterns are secret too. */
  secretKeys: ReadonlySet<string> | undefined;
  private paramsText: { of: Record<string, unknown>; text: string } | undefined;

  /**
   * What the store, logs, CLI and API may hold of these limits (settings of the run's environment):
   * resolved once per run (SPEC: settings are resolved when a run starts), or once for the runs of
   * one call site (a `.map`); each state and row asks, and checking the settings' sources costs a
   * dozen stat calls.
   */
  abstract limits(): RecordLimits;

  /** The parameters as stored and shown: secrets as `********`, long values cut (computed once). */
  storedParameters(): string {
    if (this.paramsText?.of !== this.parameters) {
      this.paramsText = { of: this.parameters, text: storedJson(this.parameters, this.limits(), this.secretKeys) };
    }
    return this.paramsText.text;
  }

  protected forgetStoredParameters(): void {
    this.paramsText = undefined;
  }

  toJSON(): Record<string, unknown> {
    return { ...this.toRow(), parameters: this.parameters, tags: this.tags, states: this.states.map((s) => s.toJSON()) };
  }
  protected abstract touch(): void;

  /** The store's row of its state number `seq` (made when the writer takes it: `addStateOf`). */
  stateRow(seq: number): StateRowData {
    const state = this.states[seq - this.seqBase]!;
    const t = state.type;
    const { message, scheduledTime, error } = state;
    return new StateRowData(
      this.id,
      seq,
      this.kind,
      t,
      state.name,
      message == null ? null : storedText(message, this.limits()),
      state.ts,
      scheduledTime ? scheduledTime.getTime() : null,
      error && (t === "FAILED" || t === "CRASHED" || t === "CANCELLED" || state.name === "NotReady")
        ? JSON.stringify(storedErrorData(errorToData(error), this.limits()))
        : null,
    );
  }

  setState(state: State): void {
    const seq = this.seqBase + this.states.length;
    this.states = appended(this.states, state);
    const t = state.type;
    if (t === "RUNNING") this.runCount++;
    this.recordState(state, seq);
    this.touch();
  }

  /**
   * Hand the writer the new state: its row is made when the writer takes the batch (a pair waits
   * meanwhile, not a row); a state with an error now, as the error is then (its data read from
   * an object its code may change).
   */
  protected recordState(state: State, seq: number): void {
    if (state.error === undefined) this.env.writer.addStateOf(this, seq);
    else this.env.writer.addState(this.stateRow(seq));
  }
}

type SettledWaiter = (state: State, run: TaskRunRecord) => void;

/** The runs of one `.map` call. */
export interface MapGroup {
  readonly taskName: string;
  /** tags whose "waiting for a slot" line this group has logged at INFO */
  readonly waitLogged: Set<string>;
  /** what its runs share (made with the first) */
  scope?: TaskRunScope;
}

/**
 * What the task runs of one call share, kept once rather than in every record: the runs of a
 * `.map` call share one (a list of 100,000 finished runs carries it once, not 100,000 times).
 */
export class TaskRunScope {
  /** the settings' record limits (`RunRecordBase.limits`) */
  limits: RecordLimits | undefined;

  constructor(
    /** where the runs' records and logs go */
    readonly env: RunEnv,
    readonly taskName: string,
    readonly taskKey: string,
    readonly flowRunId: string | undefined,
    /** the settings the runs started with (their flow run's), if the caller has them at hand */
    readonly settings: Settings | undefined,
    /** the top-level flow run's progress counts the runs are part of */
    readonly progress: RunProgress | undefined,
    /** shared by the runs of one `.map` call: their per-run lines are logged at DEBUG */
    readonly mapGroup: MapGroup | undefined,
  ) {
    this.limits = settings ? recordLimits(settings) : undefined;
  }
}

export class TaskRunRecord extends RunRecordBase implements TaskRun {
  // getters, not fields: what every record holds is kept to what differs between records
  protected get kind(): "task" {
    return "task";
  }
  /** what it shares with the other runs of its call (its task, flow run, environment) */
  readonly scope: TaskRunScope;
  parentTaskRunId: string | undefined;
  cacheKey: string | undefined;
  /** the identity of the call's inputs (`keep-result.ts`), or why it has none */
  inputsKey: string | undefined;
  inputsProblem: string | undefined;
  private inputList: { parameter: string; taskRunId: string }[] | undefined;
  /** its final state (or NotReady) is recorded, its hooks ran and it was logged */
  finished = false;
  /** set by the engine: ends the current attempt at once with the given state */
  interrupt: ((state: State) => void) | undefined;
  private runLogger: Logger | undefined;
  /**
   * Before the run is done: who waits for it (a function, or several), if anyone; after: its
   * final (or NotReady) state. One slot, and no promise per run unless someone asks for one: a
   * `.map` list's `result()` waits on all of its runs through one shared function.
   */
  private doneSlot: State | SettledWaiter | SettledWaiter[] | undefined;

  constructor(init: {
    scope: TaskRunScope;
    name: string;
    parentTaskRunId: string | undefined;
    parameters: Record<string, unknown>;
    tags: readonly string[];
  }) {
    super(init.name, init.parameters, init.tags);
    this.scope = init.scope;
    this.parentTaskRunId = init.parentTaskRunId;
  }

  get env(): RunEnv {
    return this.scope.env;
  }

  get taskName(): string {
    return this.scope.taskName;
  }

  get taskKey(): string {
    return this.scope.taskKey;
  }

  get flowRunId(): string | undefined {
    return this.scope.flowRunId;
  }

  /** the top-level flow run's progress counts this run is part of */
  get progress(): RunProgress | undefined {
    return this.scope.progress;
  }

  /** shared by the runs of one `.map` call: their per-run lines are logged at DEBUG */
  get mapGroup(): MapGroup | undefined {
    return this.scope.mapGroup;
  }

  limits(): RecordLimits {
    const scope = this.scope;
    return (scope.limits ??= recordLimits(scope.env.settings()));
  }

  // read from its states (a task run's are all here): two slots and two number boxes less per run
  get startMs(): number | undefined {
    for (const s of this.states) if (s.type === "RUNNING") return s.ts;
    return undefined;
  }

  get endMs(): number | undefined {
    const states = this.states;
    for (let i = states.length - 1; i >= 0; i--) if (isFinalType(states[i]!.type)) return states[i]!.ts;
    return undefined;
  }

  /** The run's logger (made on first use: most runs of a quiet flow never log). */
  get logger(): Logger {
    return (this.runLogger ??= new Logger(`Task run '${this.name}'`, this.flowRunId, this.id, this.env.logHub));
  }

  rename(name: string): void {
    this.name = name;
    this.runLogger = undefined;
  }

  /** @internal The run is done (final state recorded, hooks run, logged): tell who waits. */
  settle(state: State): void {
    const w = this.doneSlot;
    this.doneSlot = state;
    if (typeof w === "function") w(state, this);
    else if (Array.isArray(w)) for (const f of w) f(state, this);
  }

  /** @internal Its final (or NotReady) state once done (`settle`), else undefined. */
  get settled(): State | undefined {
    const w = this.doneSlot;
    return w === undefined || typeof w === "function" || Array.isArray(w) ? undefined : w;
  }

  /** @internal Call `fn(state)` when the run is done: at once if it is already. */
  onSettled(fn: SettledWaiter): void {
    const w = this.doneSlot;
    if (w === undefined) this.doneSlot = fn;
    else if (typeof w === "function") this.doneSlot = [w, fn];
    else if (Array.isArray(w)) w.push(fn);
    else fn(w, this);
  }

  /** @internal A promise of the state `settle` gives (made on demand: most runs of a `.map` never need one). */
  whenSettled(): Promise<State> {
    const s = this.settled;
    return s ? Promise.resolve(s) : new Promise<State>((resolve) => this.onSettled(resolve));
  }

  override setState(state: State): void {
    const prev = this.states.length > 0 ? this.state : undefined;
    super.setState(state);
    this.progress?.transition(this.taskName, prev, state);
  }

  get inputs(): readonly { parameter: string; taskRunId: string }[] {
    return this.inputList ?? NO_INPUTS;
  }

  addInput(parameter: string, upstreamId: string): void {
    const list = (this.inputList ??= []);
    if (list.some((i) => i.parameter === parameter && i.taskRunId === upstreamId)) return;
    list.push({ parameter, taskRunId: upstreamId });
    this.env.writer.addInput({ taskRunId: this.id, upstreamTaskRunId: upstreamId, parameter });
  }

  protected touch(): void {
    this.env.writer.touchTaskRun(this);
  }

  /** A state without error data goes with the run's row (`packedStates`), which `touch` hands the writer. */
  protected override recordState(state: State, seq: number): void {
    if (state.error !== undefined) super.recordState(state, seq);
  }

  /** Its states for its row (store/packed-states.ts): those with error data are rows of their own. */
  private packedStates(): string {
    return packStates(this.states, (m) => storedText(m, this.limits()));
  }

  toRow(): TaskRunRow {
    // a constructor, no spread of shared columns: this runs for every task run in every batch (run-rows.ts)
    const s = this.state;
    const parameters = this.storedParameters();
    // a finished run's row is taken once more at most: the text is not kept with the record
    // (the runs a user's list of futures holds would each carry it)
    if (this.finished) this.forgetStoredParameters();
    const message = s.message;
    return new TaskRunRowData(
      this, parameters, tagsText(this.tags), s.type, s.name, message == null ? null : storedText(message, this.limits()), s.ts, this.packedStates(),
    );
  }

}

export type { FlowRunRecord, ResumedRun, ReuseSource, Reused } from "./flow-run-record.ts";
