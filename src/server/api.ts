/**
 * The JSON API under `/api`, read-only (GET and HEAD; there are no actions). Every answer is
 * JSON; errors are `{ "error": "…" }` with 400 (bad query), 404 (no such run or route) or 500.
 *
 *   GET /api/health                      { ok, version, store }
 *   GET /api/flow-runs                   { flowRuns: FlowRunView[] (newest first, with taskCounts), limit, offset }
 *        ?state=Failed,COMPLETED  (state types or names)  &flow=NAME &tag=T
 *        &since=MS &until=MS (creation time)  &limit=1..1000 (50) &offset=N
 *   GET /api/flow-runs/:idOrName         FlowRunDetailPage (run-detail.ts) { flowRun (with taskCounts), states,
 *        taskRunPage: { offset, limit, total, nextOffset }, taskRuns (that page, oldest first, listed as in
 *        /task-runs), subflowRunPage: { offset, limit, nextOffset }, subflowRuns (newest first), parentFlowRun }
 *        ?limit=1..1000 (200) &offset=N &taskKey=K &state=Failed,RUNNING  &subflowLimit=1..1000 (100) &subflowOffset=N
 *   GET /api/flow-runs/:idOrName/overview   FlowRunOverview (flow-run-page.ts): history, task-run groups, the
 *        task runs that did not complete, a capped timeline with lanes, a cursor
 *        ?since=CURSOR &level=  → FlowRunChanges: { unchanged: true, cursor } when nothing moved, else
 *        the changed task runs, new log lines (at that level or above) and a new overview
 *   GET /api/flow-runs/:idOrName/task-runs  { taskRuns: TaskRunListView[], total, offset, limit }, oldest first
 *        ?offset=N &limit=1..500 (100) &taskKey=K (one group) &state=Failed,RUNNING
 *   GET /api/flow-runs/:idOrName/logs    { logs: LogView[], more? } of the run and its task runs, oldest first
 *        ?level=INFO|20 (lowest shown) &after=LOG_ID (only newer lines, for following) &limit=1..10000 (1000)
 *        &tail=1 (the newest `limit` lines) &before=LOG_ID (the `limit` lines before it); with either,
 *        `more` says whether older lines remain
 *   GET /api/task-runs                   { taskRuns: TaskRunView[] } ?flowRun=ID &state= &task=NAME &tag= &limit=
 *   GET /api/task-runs/:idOrName         TaskRunDetailPage { taskRun, states, upstream (one page, the upstream runs
 *        listed as in /task-runs), upstreamPage: { offset, limit, total, nextOffset }, flowRun, parentTaskRun }
 *        ?upstreamLimit=1..1000 (100) &upstreamOffset=N
 *   GET /api/task-runs/:idOrName/logs    { logs } (same query as flow-run logs)
 *   GET /api/dashboard                   DashboardView ?since=MS (24 h ago) &bucket=MS (about 24 buckets)
 */
import { createRequire } from "node:module";
import type { RunStore } from "../store/types.ts";
import { crashDeadRunsThrottled } from "../store/liveness.ts";
import { LEVELS, type LogLevelName } from "../logging/levels.ts";
import {
  dashboardView, listFlowRunViews, logView, taskRunView, type LogView,
} from "./run-views.ts";
import { flowRunChanges, flowRunOverview, parseCursor, taskRunListView } from "./flow-run-page.ts";
import {
  flowRunDetailPage, SUBFLOW_RUNS_DEFAULT, SUBFLOW_RUNS_MAX, TASK_RUNS_DEFAULT, TASK_RUNS_MAX, taskRunDetailPage,
  UPSTREAM_DEFAULT, UPSTREAM_MAX,
} from "./run-detail.ts";

const require = createRequire(import.meta.url);
const VERSION = (require("../../package.json") as { version: string }).version;

export interface ApiResponse {
  status: number;
  body: unknown;
}

export class BadRequest extends Error {}

const ok = (body: unknown): ApiResponse => ({ status: 200, body });
const notFound = (what: string): ApiResponse => ({ status: 404, body: { error: what } });

function intParam(q: URLSearchParams, name: string, def: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === null || raw === "") return def;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new BadRequest(`'${name}' must be a whole number from ${min} to ${max}, got '${raw}'`);
  }
  return n;
}

function optionalInt(q: URLSearchParams, name: string): number | undefined {
  return q.get(name) ? intParam(q, name, 0, 0, Number.MAX_SAFE_INTEGER) : undefined;
}

/** Every state type, and every state name the engine gives (`Failed` is a name, `FAILED` its type). */
export const STATE_NAMES = [
  "Scheduled", "Pending", "Running", "Completed", "Failed", "Cancelled", "Crashed", "Paused", "Cancelling",
  "AwaitingRetry", "Retrying", "Cached", "TimedOut", "NotReady",
] as const;
const STATE_TYPE_LIST = ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "CRASHED", "PAUSED", "CANCELLING"];

/**
 * `Failed,COMPLETED` → ["Failed", "COMPLETED"]: an upper-case word is a state type, anything
 * else a state name (either matched without regard to case); an unknown one is refused,
 * listing what is known.
 */
export function parseStates(raw: string | null | undefined, what = "'state'"): string[] | undefined {
  if (!raw) return undefined;
  const list = raw.split(",").map((s) => s.trim()).filter(Boolean);
  const out: string[] = [];
  for (const s of list) {
    const lower = s.toLowerCase();
    const type = STATE_TYPE_LIST.find((t) => t.toLowerCase() === lower);
    const name = STATE_NAMES.find((n) => n.toLowerCase() === lower);
    const picked = type !== undefined && (s === type || name === undefined) ? type : name;
    if (picked === undefined) {
      throw new BadRequest(
        `${what} got an unknown state '${s}'; states are ${STATE_NAMES.join(", ")} (names) or ${STATE_TYPE_LIST.join(", ")} (types)`,
      );
    }
    if (!out.includes(picked)) out.push(picked);
  }
  return out.length ? out : undefined;
}

/** `INFO`, `warning`, `WARN` or a number → the lowest level number shown. */
export function parseLevel(raw: string | null | undefined, what = "'level'"): number | undefined {
  if (!raw) return undefined;
  if (/^\d+$/.test(raw)) return Number(raw);
  const name = raw.toUpperCase() === "WARN" ? "WARNING" : raw.toUpperCase();
  const level = LEVELS[name as LogLevelName];
  if (level === undefined) throw new BadRequest(`${what} must be one of ${Object.keys(LEVELS).join(", ")} or a number, got '${raw}'`);
  return level;
}

function text(q: URLSearchParams, name: string): string | undefined {
  const v = q.get(name);
  return v === null || v === "" ? undefined : v;
}

export async function handleApi(store: RunStore, path: string, q: URLSearchParams): Promise<ApiResponse> {
  const parts = path.split("/").filter(Boolean).slice(1).map(decodeURIComponent);
  const [kind, id, sub, ...rest] = parts;
  if (rest.length) return notFound(`No API route ${path}`);

  if (kind === "health" && id === undefined) return ok({ ok: true, version: VERSION, store: store.kind });
  // runs whose process is gone are shown (and stored) Crashed, never Running
  await crashDeadRunsThrottled(store);

  if (kind === "flow-runs") {
    if (id === undefined) {
      const limit = intParam(q, "limit", 50, 1, 1000);
      const offset = intParam(q, "offset", 0, 0, Number.MAX_SAFE_INTEGER);
      const flowRuns = await listFlowRunViews(store, {
        state: parseStates(q.get("state")), flowName: text(q, "flow"), tag: text(q, "tag"),
        since: optionalInt(q, "since"), until: optionalInt(q, "until"), limit, offset,
      });
      return ok({ flowRuns, limit, offset });
    }
    if (sub === undefined) {
      // the query is read before the store, so a bad value is a 400 even for an unknown run
      const query = {
        limit: intParam(q, "limit", TASK_RUNS_DEFAULT, 1, TASK_RUNS_MAX),
        offset: intParam(q, "offset", 0, 0, Number.MAX_SAFE_INTEGER),
        taskKey: text(q, "taskKey"),
        state: parseStates(q.get("state")),
        subflowLimit: intParam(q, "subflowLimit", SUBFLOW_RUNS_DEFAULT, 1, SUBFLOW_RUNS_MAX),
        subflowOffset: intParam(q, "subflowOffset", 0, 0, Number.MAX_SAFE_INTEGER),
      };
      const run = await store.getFlowRun(id);
      return run ? ok(await flowRunDetailPage(store, run, query)) : notFound(`No flow run with id or name '${id}'`);
    }
    if (sub === "logs") {
      const run = await store.getFlowRun(id);
      if (!run) return notFound(`No flow run with id or name '${id}'`);
      return ok(await logsOf(store, q, { flowRunId: run.id, includeTasks: true }));
    }
    if (sub === "overview") {
      const run = await store.getFlowRun(id);
      if (!run) return notFound(`No flow run with id or name '${id}'`);
      const since = q.get("since");
      if (since === null || since === "") return ok(await flowRunOverview(store, run));
      const cursor = parseCursor(since);
      if (!cursor) throw new BadRequest(`'since' must be a cursor from an earlier answer (three numbers: F.T.L), got '${since}'`);
      return ok(await flowRunChanges(store, run, cursor, parseLevel(q.get("level"))));
    }
    if (sub === "task-runs") {
      const run = await store.getFlowRun(id);
      if (!run) return notFound(`No flow run with id or name '${id}'`);
      const limit = intParam(q, "limit", 100, 1, 500);
      const offset = intParam(q, "offset", 0, 0, Number.MAX_SAFE_INTEGER);
      const page = await store.pageTaskRuns({ flowRunId: run.id, taskKey: text(q, "taskKey"), state: parseStates(q.get("state")), limit, offset });
      const now = Date.now();
      return ok({ taskRuns: page.taskRuns.map((t) => taskRunListView(t, now)), total: page.total, offset, limit });
    }
  }

  if (kind === "task-runs") {
    if (id === undefined) {
      const rows = await store.listTaskRuns({
        flowRunId: text(q, "flowRun"), state: parseStates(q.get("state")), taskName: text(q, "task"), tag: text(q, "tag"),
        limit: intParam(q, "limit", 100, 1, 10_000),
      });
      const now = Date.now();
      return ok({ taskRuns: rows.map((r) => taskRunView(r, now)) });
    }
    if (sub === undefined) {
      const upstream = {
        limit: intParam(q, "upstreamLimit", UPSTREAM_DEFAULT, 1, UPSTREAM_MAX),
        offset: intParam(q, "upstreamOffset", 0, 0, Number.MAX_SAFE_INTEGER),
      };
      const detail = await taskRunDetailPage(store, id, upstream);
      return detail ? ok(detail) : notFound(`No task run with id or name '${id}'`);
    }
    if (sub === "logs") {
      const run = await store.getTaskRun(id);
      if (!run) return notFound(`No task run with id or name '${id}'`);
      return ok(await logsOf(store, q, { taskRunId: run.id }));
    }
  }

  if (kind === "dashboard" && id === undefined) {
    const now = Date.now();
    const since = intParam(q, "since", now - 86_400_000, 0, now);
    const span = Math.max(1, now - since);
    const bucket = intParam(q, "bucket", Math.max(60_000, Math.ceil(span / 24 / 60_000) * 60_000), 1000, Number.MAX_SAFE_INTEGER);
    if (span / bucket > 500) throw new BadRequest(`'bucket' of ${bucket} ms makes more than 500 buckets since ${since}`);
    return ok(await dashboardView(store, since, bucket, now));
  }

  return notFound(`No API route ${path}`);
}

/** A run's logs: oldest first from the start or after a line, or (tail, before) the lines before a point, paging back. */
async function logsOf(
  store: RunStore, q: URLSearchParams, where: { flowRunId?: string; taskRunId?: string; includeTasks?: boolean },
): Promise<{ logs: LogView[]; more?: boolean }> {
  const limit = intParam(q, "limit", 1000, 1, 10_000);
  const minLevel = parseLevel(q.get("level"));
  const tail = q.get("tail");
  if (tail !== null && tail !== "1" && tail !== "true") throw new BadRequest(`'tail' must be 1 or true, got '${tail}'`);
  const beforeId = optionalInt(q, "before");
  const afterId = optionalInt(q, "after");
  if (tail !== null || beforeId !== undefined) {
    if (afterId !== undefined) throw new BadRequest("'after' pages forward; 'tail' and 'before' page back: give one or the other");
    const rows = await store.getLogs({ ...where, minLevel, beforeId, newestFirst: true, limit: limit + 1 });
    return { logs: rows.slice(0, limit).reverse().map(logView), more: rows.length > limit };
  }
  return { logs: (await store.getLogs({ ...where, minLevel, afterId, limit })).map(logView) };
}
