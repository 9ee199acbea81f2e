/**
 * Cache policies: how a task run's cache key is made (Prefect's `cache_policies`).
 *
 * A policy is a list of components, each hashing one aspect of the run (its inputs, the task's
 * source, the run id, the flow's parameters). `a.add(b)` joins the lists; NONE is the empty
 * list, so `NONE.add(x)` is `x`. A key is `<taskKey>:<sha256 of the components' parts>`, so
 * two tasks never share an entry by accident.
 *
 * `computeKey` never throws: an input that cannot be hashed gives `{ key: undefined, warning }`
 * naming the parameter, and the engine runs the task uncached.
 */
import { stableHash, UnhashableError } from "./hashing.ts";

export interface CacheKeyInput {
  /** The task's stable key. */
  taskKey: string;
  /** The task function's source text (`fn.toString()`). */
  taskSource: string;
  /** Bound, resolved parameter values. */
  parameters: Record<string, unknown>;
  /** The method's `this` (undefined for plain functions). */
  thisArg: unknown;
  flowRunId: string | undefined;
  taskRunId: string;
  flowParameters: Record<string, unknown> | undefined;
}

export type KeyResult = { key: string } | { key: undefined; warning?: string };

export interface CachePolicy {
  /** The cache key for one run; NONE (or a policy with nothing to hash) gives `{ key: undefined }`. */
  computeKey(input: CacheKeyInput): KeyResult;
  /** A policy hashing both this policy's parts and `other`'s. */
  add(other: CachePolicy): CachePolicy;
  readonly isNone: boolean;
  /** e.g. `"TASK_SOURCE + RUN_ID + INPUTS"`. */
  toString(): string;
}

export interface InputsPolicy extends CachePolicy {
  /** INPUTS without the named parameters. */
  exclude(...names: string[]): InputsPolicy;
}

/** One aspect of a run: a part to hash, nothing (`undefined`), or a warning. */
type Part = { value: string | undefined } | { warning: string };

interface Component {
  readonly name: string;
  part(input: CacheKeyInput): Part;
}

const COMPONENTS = Symbol("flowctl.cachePolicyComponents");

class Policy implements CachePolicy {
  readonly [COMPONENTS]: readonly Component[];

  constructor(components: readonly Component[]) {
    this[COMPONENTS] = components;
  }

  get isNone(): boolean {
    return this[COMPONENTS].length === 0;
  }

  add(other: CachePolicy): CachePolicy {
    const theirs = (other as Partial<Policy>)[COMPONENTS];
    if (!theirs) {
      throw new TypeError(`Expected a cache policy (INPUTS, TASK_SOURCE, …) to add, got ${String(other)}`);
    }
    if (theirs.length === 0) return this;
    if (this.isNone) return other;
    const names = new Set(this[COMPONENTS].map((c) => c.name));
    const merged = [...this[COMPONENTS], ...theirs.filter((c) => !names.has(c.name))];
    return new Policy(merged);
  }

  computeKey(input: CacheKeyInput): KeyResult {
    if (this.isNone) return { key: undefined };
    const parts: [string, string][] = [];
    for (const component of this[COMPONENTS]) {
      let part: Part;
      try {
        part = component.part(input);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        return { key: undefined, warning: `Cache policy ${component.name} failed (${msg}); the task runs without caching.` };
      }
      if ("warning" in part) return { key: undefined, warning: part.warning };
      if (part.value !== undefined) parts.push([component.name, part.value]);
    }
    if (parts.length === 0) return { key: undefined };
    return { key: `${input.taskKey}:${stableHash(parts)}` };
  }

  toString(): string {
    return this.isNone ? "NONE" : this[COMPONENTS].map((c) => c.name).join(" + ");
  }
}

function unhashableWarning(what: string, err: unknown, hint: string): Part {
  if (!(err instanceof UnhashableError)) throw err;
  return {
    warning:
      `Cannot hash ${what} for the cache key: ${err.path} ${err.reason}. ` +
      `The task runs without caching${hint}.`,
  };
}

type Hint = (name: string) => string;
const excludeHint: Hint = (name) => `; exclude it with INPUTS.exclude(${JSON.stringify(name)}) or give a cacheKeyFn`;
const noHint: Hint = () => "";

function hashEach(values: Record<string, unknown>, skip: ReadonlySet<string>, kind: string, hint: Hint): Part {
  const hashed: [string, string][] = [];
  for (const name of Object.keys(values).sort()) {
    if (skip.has(name)) continue;
    try {
      hashed.push([name, stableHash(values[name], name)]);
    } catch (err) {
      return unhashableWarning(`${kind} '${name}'`, err, hint(name));
    }
  }
  return { value: stableHash(hashed) };
}

class Inputs extends Policy implements InputsPolicy {
  readonly excluded: readonly string[];

  constructor(excluded: readonly string[]) {
    const skip = new Set(excluded);
    const name = excluded.length ? `INPUTS.exclude(${excluded.map((n) => JSON.stringify(n)).join(", ")})` : "INPUTS";
    super([
      {
        name,
        part(input) {
          const params = hashEach(input.parameters ?? {}, skip, "parameter", excludeHint);
          if ("warning" in params || input.thisArg === undefined) return params;
          try {
            return { value: stableHash([params.value, stableHash(input.thisArg, "this")]) };
          } catch (err) {
            return unhashableWarning("the method's `this`", err, "; give a cacheKeyFn instead");
          }
        },
      },
    ]);
    this.excluded = excluded;
  }

  exclude(...names: string[]): InputsPolicy {
    for (const n of names) {
      if (typeof n !== "string") throw new TypeError(`Expected parameter names (strings) to exclude, got ${String(n)}`);
    }
    return new Inputs([...new Set([...this.excluded, ...names])].sort());
  }
}

/** Hashes the task's parameters (and `this` for methods). */
export const INPUTS: InputsPolicy = new Inputs([]);

/** Hashes the task function's source text, so editing the task invalidates its cache. */
export const TASK_SOURCE: CachePolicy = new Policy([
  { name: "TASK_SOURCE", part: (input) => ({ value: stableHash(input.taskSource.replace(/\r\n/g, "\n")) }) },
]);

/** The flow run's id (the task run's when there is no flow): results are reused within one run. */
export const RUN_ID: CachePolicy = new Policy([
  { name: "RUN_ID", part: (input) => ({ value: input.flowRunId ?? input.taskRunId }) },
]);

/** Hashes the flow run's parameters; contributes nothing outside a flow. */
export const FLOW_PARAMETERS: CachePolicy = new Policy([
  {
    name: "FLOW_PARAMETERS",
    part: (input) =>
      input.flowParameters === undefined ? { value: undefined } : hashEach(input.flowParameters, new Set(), "flow parameter", noHint),
  },
]);

/** No caching. */
export const NONE: CachePolicy = new Policy([]);

/** TASK_SOURCE + RUN_ID + INPUTS. */
export const DEFAULT: CachePolicy = TASK_SOURCE.add(RUN_ID).add(INPUTS);

export function isCachePolicy(value: unknown): value is CachePolicy {
  return typeof value === "object" && value !== null && COMPONENTS in value;
}

/** The `context` a `cacheKeyFn` receives (only the fields `taskInputHash` reads). */
export interface CacheKeyFnContext {
  task: { taskKey: string };
  taskRun: { parameters: Record<string, unknown> };
}

/** `taskInputHash` with the reason when there is no key (the engine logs the warning). */
export function taskInputHashResult(context: CacheKeyFnContext, parameters: Record<string, unknown>): KeyResult {
  const part = hashEach(parameters ?? {}, new Set(), "parameter", noHint);
  if ("warning" in part) return { key: undefined, warning: part.warning };
  return { key: stableHash([context.task.taskKey, part.value]) };
}

/**
 * A ready `cacheKeyFn`: a hash of the task key and the call's parameters, so the same task
 * called with equal inputs reuses its result. `undefined` (no caching) when an input cannot
 * be hashed.
 *
 * @example task({ cacheKeyFn: taskInputHash, cacheExpiration: 3600 }, fetchPage)
 */
export function taskInputHash(context: CacheKeyFnContext, parameters: Record<string, unknown>): string | undefined {
  return taskInputHashResult(context, parameters).key;
}
