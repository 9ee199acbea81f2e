/**
 * `task()`: turn a function into a task. Forms: `task(fn)`, `task(options, fn)`,
 * `task(options)(fn)`, and as a standard decorator on class methods (`@task`, `@task(options)`).
 */
import { FlowctlError } from "../errors.ts";
import { currentContext } from "../engine/context.ts";
import { callGeneratorTask } from "../engine/generator-task.ts";
import type { TaskRunFuture } from "../engine/futures.ts";
import type { State } from "../engine/states.ts";
import { TaskDefinition } from "../engine/task-definition.ts";
import { callTask, submitTask, type CallOptions } from "../engine/task-engine.ts";
import { definingFile } from "../engine/definition-site.ts";
import { mapTask, type TaskRunFutureList } from "./map.ts";
import { validateTaskOptions, type TaskOptions } from "../engine/options.ts";

type FutureOr<T> = T | TaskRunFuture<T>;
/** Arguments may be futures of what the parameter expects. */
export type TaskArgs<A extends unknown[]> = { [K in keyof A]: FutureOr<A[K]> };
/** In `map`, any argument may be an iterable of what the parameter expects. */
export type MapArgs<A extends unknown[]> = { [K in keyof A]: A[K] | Iterable<FutureOr<A[K]>> | unknown };

export type TaskReturn<R> =
  [R] extends [never] ? Promise<never>
  : [R] extends [Generator<infer Y, any, any>] ? AsyncGenerator<Y, void, undefined>
  : [R] extends [AsyncGenerator<infer Y, any, any>] ? AsyncGenerator<Y, void, undefined>
  : Promise<Awaited<R>>;

export interface TaskCallOptions {
  /** Futures to wait for before running (their values are not passed in). */
  waitFor?: readonly unknown[];
  /** Resolve to the run's final State instead of its value. */
  returnState?: boolean;
}

export interface TaskCaller<A extends unknown[], R> {
  (...args: TaskArgs<A>): Promise<R>;
  submit(...args: TaskArgs<A>): TaskRunFuture<Awaited<R>>;
  map(...args: MapArgs<A>): TaskRunFutureList<Awaited<R>>;
}

export interface Task<A extends unknown[] = any[], R = any> {
  (...args: TaskArgs<A>): TaskReturn<R>;
  readonly name: string;
  readonly description: string | undefined;
  readonly version: string | undefined;
  readonly tags: readonly string[];
  readonly taskKey: string;
  readonly fn: (...args: A) => R;
  readonly options: TaskOptions;
  /** Start a run that goes on concurrently; returns its future at once. */
  submit(...args: TaskArgs<A>): TaskRunFuture<Awaited<R>>;
  /** One run per element of the iterable arguments (zipped); others are passed whole. */
  map(...args: MapArgs<A>): TaskRunFutureList<Awaited<R>>;
  /** A new task with these options replaced. */
  withOptions(options: TaskOptions): Task<A, R>;
  /** The same calls with call-time options (`waitFor`, `returnState`). */
  with(options: TaskCallOptions & { returnState: true }): TaskCaller<A, State<Awaited<R>>>;
  with(options: TaskCallOptions): TaskCaller<A, Awaited<R>>;
}

const CALL: CallOptions = { mode: "call" };
const SUBMIT: CallOptions = { mode: "submit" };

function checkNotGenerator(def: TaskDefinition, what: string): void {
  if (def.isGenerator) {
    throw new FlowctlError("INVALID_ARGUMENT", `Task '${def.name}' is a generator task: ${what} is not supported for generator tasks; call it and iterate instead.`);
  }
}

/** Build the callable Task object for a definition, optionally with `this` fixed (methods). */
export function makeTask(def: TaskDefinition, bound?: { thisArg: unknown }): Task {
  const invoke = (thisArg: unknown, args: unknown[], opts: CallOptions): unknown =>
    def.isGenerator ? callGeneratorTask(def, thisArg, args, opts, currentContext()) : callTask(def, thisArg, args, opts);
  const t = function (this: unknown, ...args: unknown[]) {
    return invoke(bound ? bound.thisArg : this, args, CALL);
  } as unknown as Task & Record<string, unknown>;
  const thisOf = () => (bound ? bound.thisArg : undefined);
  Object.defineProperties(t, {
    name: { value: def.name, configurable: true },
    description: { get: () => def.description, enumerable: true },
    version: { get: () => def.version, enumerable: true },
    tags: { get: () => def.tags, enumerable: true },
    taskKey: { get: () => def.taskKey, enumerable: true },
    fn: { value: def.fn, enumerable: true },
    options: { value: def.options, enumerable: true },
    definition: { value: def },
  });
  t.submit = (...args: unknown[]) => {
    checkNotGenerator(def, "submit()");
    return submitTask(def, thisOf(), args, SUBMIT);
  };
  t.map = (...args: unknown[]) => {
    checkNotGenerator(def, "map()");
    return mapTask(def, thisOf(), args, SUBMIT);
  };
  t.withOptions = (options: TaskOptions) => {
    validateTaskOptions(`task '${def.name}'`, options);
    const merged = { ...def.options, ...options };
    const d = new TaskDefinition(def.fn, merged, { file: def.modulePath, qualname: def.qualname });
    const nt = makeTask(d, bound);
    d.publicTask = nt;
    return nt;
  };
  (t as Record<string, unknown>).with = (o: TaskCallOptions) => {
    if (typeof o !== "object" || o === null) throw new FlowctlError("INVALID_ARGUMENT", "task.with() expects an object { waitFor?, returnState? }");
    if (o.waitFor !== undefined && !Array.isArray(o.waitFor)) {
      throw new FlowctlError("INVALID_ARGUMENT", "task.with({ waitFor }) expects an array of futures");
    }
    const callOpts: CallOptions = { mode: "call", waitFor: o.waitFor, returnState: o.returnState };
    const submitOpts: CallOptions = { mode: "submit", waitFor: o.waitFor, returnState: o.returnState };
    const caller = function (this: unknown, ...args: unknown[]) {
      return invoke(bound ? bound.thisArg : this, args, callOpts);
    } as unknown as TaskCaller<unknown[], unknown>;
    caller.submit = (...args: unknown[]) => {
      checkNotGenerator(def, "submit()");
      return submitTask(def, thisOf(), args, submitOpts) as TaskRunFuture<unknown>;
    };
    caller.map = (...args: unknown[]) => {
      checkNotGenerator(def, "map()");
      return mapTask(def, thisOf(), args, submitOpts) as TaskRunFutureList<unknown>;
    };
    return caller;
  };
  return t;
}

function define(fn: unknown, options: TaskOptions, site?: { file?: string | undefined; qualname?: string }): Task {
  if (typeof fn !== "function") {
    throw new FlowctlError("INVALID_OPTION", `task(): expected a function to wrap, got ${fn === null ? "null" : typeof fn}`);
  }
  validateTaskOptions(`task '${options.name ?? (fn.name || "anonymous")}'`, options);
  const def = new TaskDefinition(fn as (...a: any[]) => any, options, site);
  const t = makeTask(def);
  def.publicTask = t;
  return t;
}

function isMethodContext(c: unknown): c is ClassMethodDecoratorContext {
  return typeof c === "object" && c !== null && (c as { kind?: unknown }).kind === "method" && "name" in c;
}

function decorate(method: (...a: any[]) => any, context: ClassMethodDecoratorContext, options: TaskOptions): any {
  const methodName = String(context.name);
  validateTaskOptions(`task '${options.name ?? methodName}'`, options);
  const file = definingFile();
  const def = new TaskDefinition(method, { ...options, name: options.name ?? methodName }, { file, qualname: methodName });
  const unbound = makeTask(def);
  def.publicTask = unbound;
  // The class is known only once the initializers run, and its final name (bundlers rename
  // classes while decorating them) only after that: read it when the task key is computed.
  let owner: { name?: string } | undefined;
  Object.defineProperty(def, "qualname", {
    get: () => (owner ? `${owner.name || "Anonymous"}.${methodName}` : methodName),
    configurable: true,
  });
  context.addInitializer(function (this: unknown) {
    if (context.static) {
      owner ??= this as { name?: string };
      // an accessor, so that a subclass calling an inherited static task gets itself as `this`
      if (!context.private) defineBoundAccessor(this as object, context.name, def);
      return;
    }
    owner ??= declaringClass(this as object, context.name, unbound);
    if (!context.private) {
      // a per-object task, so that `obj.method.submit(...)` keeps `this`
      Object.defineProperty(this as object, context.name, {
        value: makeTask(def, { thisArg: this }),
        configurable: true,
        writable: true,
        enumerable: false,
      });
    }
  });
  return unbound;
}

/** The class whose prototype holds the decorated method (not the subclass being constructed). */
function declaringClass(instance: object, name: string | symbol, method: unknown): { name?: string } {
  for (let p = Object.getPrototypeOf(instance); p !== null; p = Object.getPrototypeOf(p)) {
    if (Object.prototype.hasOwnProperty.call(p, name) && (p as Record<string | symbol, unknown>)[name] === method) return p.constructor;
  }
  return instance.constructor;
}

function defineBoundAccessor(cls: object, name: string | symbol, def: TaskDefinition): void {
  const byReceiver = new WeakMap<object, Task>();
  Object.defineProperty(cls, name, {
    get(this: object) {
      let t = byReceiver.get(this);
      if (!t) byReceiver.set(this, (t = makeTask(def, { thisArg: this })));
      return t;
    },
    set(this: object, value: unknown) {
      Object.defineProperty(this, name, { value, writable: true, configurable: true, enumerable: false });
    },
    configurable: true,
    enumerable: false,
  });
}

// The decorator forms come first: TypeScript resolves `@task` / `@task(options)` against the
// first signature that fits, and a method keeps its declared type.
export function task<This, A extends unknown[], R>(
  method: (this: This, ...args: A) => R,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
): (this: This, ...args: A) => R;
export function task<A extends unknown[], R>(fn: (...args: A) => R): Task<A, R>;
export function task<A extends unknown[], R>(options: TaskOptions, fn: (...args: A) => R): Task<A, R>;
export function task(options: TaskOptions): {
  <This, A extends unknown[], R>(
    method: (this: This, ...args: A) => R,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
  ): (this: This, ...args: A) => R;
  <A extends unknown[], R>(fn: (...args: A) => R): Task<A, R>;
};
export function task(a: unknown, b?: unknown): unknown {
  if (typeof a === "function") {
    if (isMethodContext(b)) return decorate(a as (...x: any[]) => any, b, {});
    if (b !== undefined) throw new FlowctlError("INVALID_OPTION", "task(fn) takes the function alone; options go first: task(options, fn)");
    return define(a, {});
  }
  if (typeof a !== "object" || a === null || Array.isArray(a)) {
    throw new FlowctlError("INVALID_OPTION", `task(): expected a function or an options object, got ${a === null ? "null" : Array.isArray(a) ? "an array" : typeof a}`);
  }
  const options = a as TaskOptions;
  validateTaskOptions(`task '${options.name ?? (typeof b === "function" ? b.name : "") ?? ""}'`, options);
  if (b !== undefined) return define(b, options);
  const file = definingFile();
  return (fn: unknown, context?: unknown) => {
    if (typeof fn === "function" && isMethodContext(context)) return decorate(fn as (...x: any[]) => any, context, options);
    return define(fn, options, { file });
  };
}

export function isTask(v: unknown): v is Task {
  return typeof v === "function" && (v as { definition?: unknown }).definition instanceof TaskDefinition;
}
