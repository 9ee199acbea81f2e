/**
 * The run store: where flow runs, task runs, their state histories, upstream links and logs
 * are kept. The engine never writes to it directly; it hands changes to the batched writer
 * (`writer.ts`), which calls `writeBatch`. Readers (`flowctl runs`, the UI) use the query
 * methods. Backends: SQLite (embedded, default) and PostgreSQL.
 */
/** The kind of a state (a run's state names map onto these, as in Prefect). */
export type StateType =
  | "SCHEDULED"
  | "PENDING"
  | "RUNNING"
  | "COMPLETED"
  | "FAILED"
  | "CANCELLED"
  | "CRASHED"
  | "PAUSED"
  | "CANCELLING";

export interface FlowRunRow {
  id: string;
  name: string;
  flowName: string;
  flowVersion: string | null;
  parentFlowRunId: string | null;
  parentTaskRunId: string | null;
  /** JSON text */
  parameters: string;
  /** JSON text of string[] */
  tags: string;
  stateType: StateType;
  stateName: string;
  stateMessage: string | null;
  runCount: number;
  created: number;
  startTime: number | null;
  endTime: number | null;
  updated: number;
  /** `<absolute file path>:<flow name>` for runs started by `flowctl run` (what `runs retry` loads) */
  entrypoint?: string | null;
  /** liveness: the process running the run (pid, host) and its last heartbeat (ms); see liveness.ts */
  pid?: number | null;
  host?: string | null;
  heartbeat?: number | null;
}

export interface TaskRunRow {
  id: string;
  name: string;
  taskName: string;
  taskKey: string;
  flowRunId: string | null;
  parentTaskRunId: string | null;
  parameters: string;
  tags: string;
  stateType: StateType;
  stateName: string;
  stateMessage: string | null;
  runCount: number;
  cacheKey: string | null;
  created: number;
  startTime: number | null;
  endTime: number | null;
  updated: number;
  /**
   * Its states packed into its row (`packed-states.ts`), written with it; absent in rows read
   * back (`getStates` reads them) and in rows older flowctl versions journalled.
   */
  states?: string | null;
}

export interface StateRow {
  runId: string;
  seq: number;
  runKind: "flow" | "task";
  type: StateType;
  name: string;
  message: string | null;
  timestamp: number;
  scheduledTime: number | null;
  /** JSON text of ErrorData */
  error: string | null;
}

export interface InputRow {
  taskRunId: string;
  upstreamTaskRunId: string;
  parameter: string;
}

export interface LogRow {
  id?: number;
  flowRunId: string | null;
  taskRunId: string | null;
  level: number;
  source: string;
  message: string;
  timestamp: number;
}

/**
 * The result a completed task run left for `runs retry` to reuse. Kept small ones are `payload`
 * here; larger ones are a result file (`kind: "file"`); one that could not be kept says why.
 */
export interface KeptResultRow {
  taskRunId: string;
  /** the top-level flow run (subflows' task runs are kept under it) */
  flowRunId: string;
  /** the call's inputs in canonical form (or their hash); null when they could not be hashed */
  inputsKey: string | null;
  /** the task's source hash (TASK_SOURCE) */
  sourceHash: string;
  /** `reused`: the call reused an earlier run's result; `message` is that task run's id */
  kind: "value" | "file" | "unkept" | "reused";
  payload: Uint8Array | null;
  message: string | null;
  created: number;
}

/**
 * What one attempt of a task body came to, recorded by the Redis worker that ran it before it
 * replies through Redis (see RedisTaskRunner): the flow's process reads it when Redis lost the
 * reply. The first row recorded for an attempt is kept.
 */
export interface AttemptOutcomeRow {
  /** `<task run id>.<run count>` (the job id) */
  attemptId: string;
  taskRunId: string;
  /** what the body came to: COMPLETED, FAILED (it threw), or the type of a State it returned */
  stateType: StateType;
  /** the worker's reply, JSON text (the runner's envelope; values inside are encoded) */
  outcome: string;
  created: number;
}

/** The state message of a task run `markCrashed` finds completed by a worker (see AttemptOutcomeRow). */
export const COMPLETED_ELSEWHERE =
  "Completed on a Redis worker, which recorded its outcome in the run store; the flow run's process ended before it heard of it";

/** How a flow run whose process is gone is marked Crashed (`RunStore.markCrashed`). */
export interface CrashMark {
  /** the Crashed state's message: why the run is judged dead */
  message: string;
  /** when it was judged dead (the state's timestamp) */
  timestamp: number;
  /** its last sign of life (heartbeat or last write): the end time; rows written after it still win */
  lastSeen: number;
}

/** One transaction's worth of changes. Runs are upserts (the latest snapshot wins). */
export interface WriteBatch {
  flowRuns: FlowRunRow[];
  taskRuns: TaskRunRow[];
  states: StateRow[];
  inputs: InputRow[];
  logs: LogRow[];
  /** kept results (inserted once; a row already there is replaced) */
  results?: KeptResultRow[];
  /**
   * Rows replayed from the journal (`journal.ts`), which the store may hold already, in part or
   * in full: a state or kept result already stored is kept, a log line already stored (same
   * run, time, level, source and message) is not added again, and a run stored in a final state
   * is not moved back to one that is not. Replaying a batch twice so changes nothing.
   */
  replayed?: boolean;
  /**
   * Rows sent again after a write that failed: the store may have taken that write and only its
   * answer got lost (a connection dropped during COMMIT, the write thread gone after its commit).
   * Every other row is written idempotently already; a log line already stored is not added again.
   */
  resent?: boolean;
}

export interface FlowRunFilter {
  state?: string[];
  flowName?: string;
  tag?: string;
  since?: number;
  until?: number;
  parentFlowRunId?: string | null;
  limit?: number;
  offset?: number;
}

export interface TaskRunFilter {
  flowRunId?: string;
  state?: string[];
  taskName?: string;
  tag?: string;
  limit?: number;
}

export interface LogFilter {
  flowRunId?: string;
  taskRunId?: string;
  /** include the logs of a flow run's task runs too */
  includeTasks?: boolean;
  minLevel?: number;
  afterId?: number;
  /** only lines older than this id (paging back from the tail) */
  beforeId?: number;
  /** newest first (the tail of a long log); oldest first otherwise */
  newestFirst?: boolean;
  /** most lines returned (default 100,000) */
  limit?: number;
  /** lines skipped first, in the listing's order (default 0) */
  offset?: number;
}

/**
 * The task runs of one task key within a flow run: a `.map` call's runs (or every call of one
 * task), counted by state type.
 */
export interface TaskRunGroupRow {
  taskKey: string;
  /** the task's name (the least, should runs of one key carry several) */
  taskName: string;
  total: number;
  counts: Partial<Record<StateType, number>>;
  /** runs that ran more than once (retried) */
  retried: number;
  /** the creation time of its first run: groups are listed in this order */
  firstCreated: number;
  /** earliest start and latest end among its runs; null when none started (ended) */
  start: number | null;
  end: number | null;
  /** with `TaskRunGroupOptions.startBuckets`: its started runs counted by start bucket and state type */
  starts?: Partial<Record<StateType, number>>[];
}

export interface TaskRunGroupOptions {
  /**
   * Also count each group's started runs by when they started: `count` buckets of `bucketMs`
   * from `from` (bucket `trunc((startTime − from) / bucketMs)`, clamped into 0..count−1), in the
   * same read.
   */
  startBuckets?: { from: number; bucketMs: number; count: number };
}

/** One page of a flow run's task runs, oldest first (created, then write order). */
export interface TaskRunPageFilter {
  flowRunId: string;
  /** one group's runs */
  taskKey?: string;
  /** state types or names, as in `TaskRunFilter` */
  state?: string[];
  /** only runs that did not end Completed or that ran more than once */
  notable?: boolean;
  limit: number;
  offset?: number;
  /** skip counting them all (`total` is then only what is known: offset + rows returned); a page is cheap, a count reads every match */
  noTotal?: boolean;
}

export interface TaskRunPage {
  taskRuns: TaskRunRow[];
  /** every run the filter selects, not only this page's (with `noTotal`, offset + this page's) */
  total: number;
}



/** A flow run with how many of its task runs are in each state type (all of its task runs, nested ones included). */
export interface FlowRunWithTaskCounts extends FlowRunRow {
  taskCounts: Partial<Record<StateType, number>>;
}

/** What `pruneOlderThan` removed. `cacheKeys`: the cache keys of pruned task runs that no remaining task run uses. */
export interface PruneResult {
  /** the ids of the flow runs removed (their result files go with them) */
  flowRunIds?: string[];
  flowRuns: number;
  taskRuns: number;
  states: number;
  logs: number;
  cacheKeys: string[];
}

/** Raw figures for the dashboard, over the runs created since a time. */
export interface RunStatsRows {
  /** flow runs per time bucket and state type; `bucket` is the bucket's start (since + k × bucketMs) */
  flowRuns: { bucket: number; stateType: StateType; count: number }[];
  /** task runs per state type */
  taskRuns: { stateType: StateType; count: number }[];
  /** task names whose finished runs took longest on average (end − start), slowest first */
  slowestTasks: { taskName: string; runs: number; meanMs: number; maxMs: number }[];
}

/** A tag concurrency limit (`flowctl concurrency-limit`). */
export interface ConcurrencyLimitRow {
  tag: string;
  /** most task runs carrying the tag that run at once, across processes; 0 = none may run */
  limit: number;
  created: number;
  updated: number;
  /** slots held now (leases not expired) */
  active: number;
}

/** One slot taken under a tag's limit. */
export interface ConcurrencySlotRow {
  tag: string;
  /** the task run holding the slot */
  holderId: string;
  /** the process holding it for the run (it renews the lease while it lives) */
  owner: string;
  /** ms epoch; past it the slot counts as free and the next acquirer deletes it */
  leaseExpires: number;
  acquired: number;
}

export interface SlotRequest {
  /** the run's tags; those without a limit are ignored */
  tags: readonly string[];
  holderId: string;
  owner: string;
  leaseMs: number;
}

/** What `tryAcquireSlots` did: all the slots were taken, or none was. */
export interface SlotAcquisition {
  acquired: boolean;
  /** the run's tags that have a limit (the slots taken, when acquired) */
  tags: string[];
  /** not acquired: the first tag whose limit is full (in tag order) */
  full?: { tag: string; limit: number; active: number };
  /** not acquired: a tag whose limit is 0, so the run can never take it */
  limit0?: string;
}

export interface RunStore {
  readonly kind: "sqlite" | "postgres" | "memory";
  /** a printable location (file path or URL without password) */
  readonly location: string;
  writeBatch(batch: WriteBatch): Promise<void>;
  /** The synchronous form, for backends that can (SQLite): used when the process is exiting. */
  writeBatchSync?(batch: WriteBatch): void;
  /**
   * Settle now the `writeBatch` promises of batches the store has applied, where it can know
   * without an event-loop turn (SQLite's write thread: a counter in shared memory). A flow whose
   * task runs go on microtasks alone sees its writes answered only here, not by messages.
   */
  pollWrites?(): void;

  listFlowRuns(filter?: FlowRunFilter): Promise<FlowRunRow[]>;
  /** by id, or by exact name (the newest run of that name) */
  getFlowRun(idOrName: string): Promise<FlowRunRow | undefined>;
  listTaskRuns(filter?: TaskRunFilter): Promise<TaskRunRow[]>;
  getTaskRun(idOrName: string): Promise<TaskRunRow | undefined>;
  /**
   * Every run that `ref` could name, newest first, at most `limit` (default 20) of each kind:
   * the run whose id is `ref`, runs whose id starts with `ref`, runs named `ref`. The shared
   * run lookup (`run-lookup.ts`) decides between them.
   */
  findRuns(ref: string, opts?: { limit?: number }): Promise<{ flowRuns: FlowRunRow[]; taskRuns: TaskRunRow[] }>;
  getStates(runId: string): Promise<StateRow[]>;
  /**
   * Liveness: set `heartbeat = beat.at` on these flow runs and return their rows as they are
   * now (one round trip; the rows carry whatever other processes set on them meanwhile).
   */
  beat(flowRunIds: readonly string[], beat: { at: number; pid: number; host: string }): Promise<FlowRunRow[]>;
  /**
   * Mark a flow run whose process is gone Crashed, in one transaction, unless it is final by
   * now: a Crashed state appended to it and to each of its task runs not final, their rows
   * moved to Crashed (end time `lastSeen`, `updated` just past it) — except a task run whose
   * current attempt has a COMPLETED outcome recorded (a worker ran its body to the end): that one
   * is moved to Completed (COMPLETED_ELSEWHERE, end time the outcome's). Returns whether it did.
   */
  markCrashed(flowRunId: string, mark: CrashMark): Promise<boolean>;
  /**
   * Ask the process running a flow run to cancel it (`flowctl runs cancel`); a second request
   * keeps the first. The process polls `getCancellation` while the run is active.
   */
  requestCancellation(flowRunId: string, message: string, at: number): Promise<void>;
  getCancellation(flowRunId: string): Promise<{ message: string; requested: number } | undefined>;
  /** The kept results of a top-level flow run's task runs (its subflows' included). */
  getKeptResults(flowRunId: string): Promise<KeptResultRow[]>;
  /** Record an attempt's outcome; a row already recorded for the attempt is kept (returns false). */
  putAttemptOutcome(row: AttemptOutcomeRow): Promise<boolean>;
  /** The outcomes recorded for these attempts (those that have one, in no particular order). */
  getAttemptOutcomes(attemptIds: readonly string[]): Promise<AttemptOutcomeRow[]>;
  /** Forget these attempts' outcomes (none recorded is fine). */
  deleteAttemptOutcomes(attemptIds: readonly string[]): Promise<void>;
  getInputs(taskRunId: string): Promise<InputRow[]>;
  getLogs(filter: LogFilter): Promise<LogRow[]>;
  /** How many lines `getLogs(filter)` would return with no limit and no offset. */
  countLogs(filter: LogFilter): Promise<number>;
  /*
   * The web UI's reads of one flow run's task runs, a bounded piece at a time whatever their
   * number (each is answered from an index on flow_run_id).
   */
  /** The flow run's task runs grouped by task key, in order of their first run (one read). */
  taskRunGroups(flowRunId: string, opts?: TaskRunGroupOptions): Promise<TaskRunGroupRow[]>;
  /** One page of the flow run's task runs (see `TaskRunPageFilter`) and how many there are. */
  pageTaskRuns(filter: TaskRunPageFilter): Promise<TaskRunPage>;
  /**
   * The flow run's task runs whose `updated` is after `since`, least recently updated first
   * (ties in write order), at most `limit`; and the greatest `updated` of all its task runs
   * (0 when it has none).
   */
  taskRunsUpdatedSince(flowRunId: string, since: number, limit: number): Promise<{ taskRuns: TaskRunRow[]; maxUpdated: number }>;
  /** `listFlowRuns` (same filter, same order) with each run's task-run counts by state type. */
  listFlowRunsWithTaskCounts(filter?: FlowRunFilter): Promise<FlowRunWithTaskCounts[]>;
  /**
   * Dashboard figures over the flow and task runs created at or after `since` (ms): flow runs
   * bucketed by `created` into `bucketMs` slices, task runs by state, and the `slowest` (default
   * 10) task names by mean duration.
   */
  statsSince(since: number, opts: { bucketMs: number; slowest?: number }): Promise<RunStatsRows>;
  /**
   * Delete, in one transaction, every run whose last activity is before `cutoff` (ms): flow runs
   * whose own `updated`, every task run's and every direct subflow run's `updated` are before it
   * (with all their task runs),
   * and standalone task runs (no flow run) updated before it; plus their states, upstream links
   * and logs, and logs of no run older than the cutoff. Stored results are not touched: the
   * caller deletes the entries of the returned `cacheKeys`.
   */
  pruneOlderThan(cutoff: number): Promise<PruneResult>;
  /**
   * Delete these flow runs with their subflow runs (at any depth), in one transaction, and
   * everything recorded about them (as pruning does); `flowRunIds` lists every flow run removed.
   */
  deleteFlowRuns(ids: readonly string[]): Promise<PruneResult>;

  /*
   * Tag concurrency limits, shared by every process using the store. Each method is atomic
   * (one transaction); slots whose lease expired count as free everywhere.
   */
  /** Create the tag's limit, or change it when it exists (slots held stay held). */
  createConcurrencyLimit(tag: string, limit: number): Promise<{ created: boolean }>;
  /** Every limit, ordered by tag, with the slots held now. */
  listConcurrencyLimits(): Promise<ConcurrencyLimitRow[]>;
  /** One limit and the slots held now (oldest first), or undefined when the tag has none. */
  getConcurrencyLimit(tag: string): Promise<(ConcurrencyLimitRow & { slots: ConcurrencySlotRow[] }) | undefined>;
  /** Delete the tag's limit and its slots; false when it had none. */
  deleteConcurrencyLimit(tag: string): Promise<boolean>;
  /** Free every slot of the tag, keeping the limit: how many were held (expired ones too), or undefined when it has no limit. */
  resetConcurrencyLimit(tag: string): Promise<number | undefined>;
  /**
   * Take one slot of every limited tag in `tags` for `holderId`, all or nothing: fails when a
   * tag's limit is 0 (`limit0`); deletes the expired slots of those tags, then fails on the first
   * full tag in tag order (`full`); else inserts one slot per limited tag, leased until now +
   * leaseMs. A slot the holder already has is kept (its lease renewed), not taken twice.
   */
  tryAcquireSlots(req: SlotRequest): Promise<SlotAcquisition>;
  /** Push the lease of every slot `owner` holds to now + leaseMs; how many it holds. */
  renewLeases(owner: string, leaseMs: number): Promise<number>;
  /** Free every slot the task run holds (none is fine). */
  releaseSlots(holderId: string): Promise<void>;

  close(): Promise<void>;
}
