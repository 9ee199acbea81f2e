/**
 * Preparing a task run: its record made in the current context (named, Pending, logged) and what
 * starting it needs. What the runs of one call share is made once for a `.map` call's runs
 * (`TaskCall`, `TaskRunScope`); each run keeps a small `Prepared` while it waits to start.
 */
import { engineLogger, Logger } from "../logging/logger.ts";
import { LEVELS } from "../logging/levels.ts";
import type { Settings } from "../settings/schema.ts";
import { currentContext, mergeTags, runContext } from "./context.ts";
import { processEnv, type RunEnv } from "./env.ts";
import { bindArgs } from "./parameters.ts";
import { renderRunName } from "./run-name-template.ts";
import { TaskRunRecord, TaskRunScope, type FlowRunRecord, type MapGroup } from "./run-records.ts";
import { Pending } from "./states.ts";
import type { ResolvedTask, TaskDefinition } from "./task-definition.ts";
import type { AttemptTally } from "./attempt-tally.ts";
import { nestedDepth } from "./nesting.ts";

export interface CallOptions {
  mode: "call" | "submit";
  returnState?: boolean;
  waitFor?: readonly unknown[];
  /** set by `.map`: the runs of one call, announced together */
  mapGroup?: MapGroup;
}

/** What the runs of one call site share of their preparation: one for all the runs of a `.map` call. */
class TaskCall {
  constructor(
    readonly def: TaskDefinition,
    readonly cfg: ResolvedTask,
    readonly flowRun: FlowRunRecord | undefined,
    readonly thisArg: unknown,
    readonly ctxTags: readonly string[],
    readonly opts: CallOptions,
    readonly logPrints: boolean,
    readonly env: RunEnv,
    /** the flow attempt the runs count in (started directly in the flow body) */
    readonly tally: AttemptTally | undefined,
    /** how many runs enclose the runs' bodies, themselves included (see nesting.ts) */
    readonly depth: number,
    readonly settings: Settings,
    /** what the runs' records share */
    readonly scope: TaskRunScope,
  ) {}
}

const NO_TAGS: readonly string[] = Object.freeze([]);

/**
 * The preparation (`TaskCall`) of each `.map` call's runs, by group; a flow run's other task calls
 * keep the last one of each task (`FlowRunRecord.taskCalls`): the next run of the same call site
 * in the same context shares it.
 */
const callsOfGroups = new WeakMap<MapGroup, TaskCall>();

/**
 * A task run made ready to start. What it shares with the other runs of its call is in `call`:
 * a `.map` call's runs wait for the store with a small object each, not the whole preparation.
 */
export class Prepared {
  constructor(
    readonly call: TaskCall,
    readonly run: TaskRunRecord,
    readonly args: readonly unknown[],
    /** its index in the flow attempt's tally */
    readonly tallyIndex: number,
    readonly nameError: unknown,
  ) {}

  get def(): TaskDefinition {
    return this.call.def;
  }

  get cfg(): ResolvedTask {
    return this.call.cfg;
  }

  get flowRun(): FlowRunRecord | undefined {
    return this.call.flowRun;
  }

  get thisArg(): unknown {
    return this.call.thisArg;
  }

  get ctxTags(): readonly string[] {
    return this.call.ctxTags;
  }

  get opts(): CallOptions {
    return this.call.opts;
  }

  get logPrints(): boolean {
    return this.call.logPrints;
  }

  get env(): RunEnv {
    return this.call.env;
  }

  get tally(): AttemptTally | undefined {
    return this.call.tally;
  }

  get depth(): number {
    return this.call.depth;
  }
}

/** Create a task run record in the current context: Pending, named, logged. */
export function prepareTaskRun(def: TaskDefinition, thisArg: unknown, args: readonly unknown[], opts: CallOptions): Prepared {
  const ctx = currentContext();
  const flowRun = ctx?.flowRun;
  if (flowRun?.closedError) throw flowRun.closedError;
  const env = ctx?.env ?? processEnv;
  const settings = flowRun?.settings ?? env.settings();
  const depth = nestedDepth(ctx?.depth, settings.PREFECT_RUNS_MAX_NESTING_DEPTH, "task", def.name);
  const cfg = def.resolve(settings);
  const ctxTags = ctx?.tags ?? NO_TAGS;
  let parentId = ctx?.taskRun?.id;
  const generators = flowRun?.activeGenerators ?? standaloneGenerators;
  if (parentId === undefined && generators.size > 0) parentId = generatorParent(generators, args);
  // the flow attempt a run started directly in the flow body counts in
  const tally = flowRun && ctx?.taskRun === undefined ? flowRun.attempt : undefined;
  const group = opts.mapGroup;
  const lastCalls = flowRun?.taskCalls as Map<TaskDefinition, TaskCall> | undefined;
  let call = group ? callsOfGroups.get(group) : lastCalls?.get(def);
  const logPrints = cfg.logPrints ?? flowRun?.logPrints ?? settings.PREFECT_LOGGING_LOG_PRINTS;
  if (
    !call || call.def !== def || call.flowRun !== flowRun || call.thisArg !== thisArg || call.ctxTags !== ctxTags ||
    call.opts !== opts || call.env !== env || call.tally !== tally || call.depth !== depth || call.settings !== settings ||
    call.cfg !== cfg || call.logPrints !== logPrints || call.scope.progress !== flowRun?.progress
  ) {
    const scope = new TaskRunScope(env, def.name, def.taskKey, flowRun?.id, settings, flowRun?.progress, group);
    call = new TaskCall(def, cfg, flowRun, thisArg, ctxTags, opts, logPrints, env, tally, depth, settings, scope);
    if (group) callsOfGroups.set(group, call);
    else lastCalls?.set(def, call);
  }
  const run = new TaskRunRecord({
    scope: call.scope,
    name: flowRun ? `${def.name}-${flowRun.nextTaskIndex(def.taskKey)}` : def.name,
    parentTaskRunId: parentId,
    parameters: bindArgs(def.params, args),
    tags: mergeTags(def.tags, ctxTags),
  });
  env.observer?.created(run);
  const logger = flowRun ? flowRun.logger : new Logger(engineLogger.source, undefined, run.id, env.logHub);
  let nameError: unknown;
  if (def.options.taskRunName !== undefined) {
    try {
      // `runtime.taskRun` inside a taskRunName function describes the run being named
      const template = def.options.taskRunName;
      const naming = { flowRun, taskRun: run, tags: run.tags, env: ctx?.env };
      run.rename(runContext.run(naming, () => renderRunName(template, run.parameters, "taskRunName")));
    } catch (err) {
      nameError = err;
    }
  }
  run.setState(Pending());
  let tallyIndex = 0;
  // (the messages are built only when INFO lines go anywhere: a quiet flow does not pay for them);
  // a .map call's runs are announced by one INFO line (logMapped), each run's own at DEBUG
  const level = opts.mapGroup ? 10 : INFO;
  const say = logger.isEnabledFor(level);
  if (say) logger.log(level, `Created task run '${run.name}' for task '${def.name}'`);
  if (flowRun) {
    if (say) logger.log(level, opts.mode === "submit" ? `Submitted task run '${run.name}' for execution.` : `Executing '${run.name}' immediately...`);
    if (tally) tallyIndex = tally.add();
  } else {
    env.writer.ensureOpen();
  }
  return new Prepared(call, run, args, tallyIndex, nameError);
}


/** Generator task runs outside any flow that are suspended at a yield, with their last yielded value. */
export const standaloneGenerators = new Map<TaskRunRecord, unknown>();

function generatorParent(generators: Map<TaskRunRecord, unknown>, args: readonly unknown[]): string | undefined {
  for (const [genRun, last] of generators) {
    for (const a of args) if (Object.is(a, last)) return genRun.id;
  }
  return undefined;
}

const INFO = LEVELS.INFO;
