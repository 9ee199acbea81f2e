/**
 * `flow()`: turn a function into a flow. Forms: `flow(fn)`, `flow(options, fn)`,
 * `flow(options)(fn)`, and as a standard decorator on class methods. A flow is called like its
 * function (`add(1, 2)`, `getRepoInfo({ repoName })`) and returns a promise of its value.
 * With `options.params` (a Standard Schema) it takes one object, validated before the run,
 * and the function's parameter type is the schema's output type.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { FlowctlError } from "../errors.ts";
import { definingFile } from "../engine/definition-site.ts";
import { FlowDefinition } from "../engine/flow-definition.ts";
import { callFlow } from "../engine/flow-engine.ts";
import { validateFlowOptions, type FlowOptions } from "../engine/options.ts";

/** A flow's arguments: those of its function. */
export type FlowArgs = any[];

/** The call signature of a flow with a `params` schema: one object, optional when every field is. */
export type SchemaArgs<S extends StandardSchemaV1> =
  {} extends StandardSchemaV1.InferInput<S> ? [params?: StandardSchemaV1.InferInput<S>] : [params: StandardSchemaV1.InferInput<S>];

type SchemaFn<S extends StandardSchemaV1, R> = (params: StandardSchemaV1.InferOutput<S>) => R;

export interface Flow<A extends unknown[] = any[], R = any> {
  (...args: A): Promise<Awaited<R>>;
  readonly name: string;
  readonly description: string | undefined;
  readonly version: string | undefined;
  readonly fn: (...args: A) => R;
  readonly options: FlowOptions;
  /** A new flow with these options replaced. */
  withOptions(options: FlowOptions): Flow<A, R>;
}

export function makeFlow(def: FlowDefinition, bound?: { thisArg: unknown }): Flow {
  const f = function (this: unknown, ...args: unknown[]) {
    return callFlow(def, bound ? bound.thisArg : this, args);
  } as unknown as Flow & Record<string, unknown>;
  Object.defineProperties(f, {
    name: { value: def.name, configurable: true },
    description: { get: () => def.description, enumerable: true },
    version: { get: () => def.version, enumerable: true },
    fn: { value: def.fn, enumerable: true },
    options: { value: def.options, enumerable: true },
    definition: { value: def },
  });
  f.withOptions = (options: FlowOptions) => {
    validateFlowOptions(`flow '${def.name}'`, options);
    const d = new FlowDefinition(def.fn, { ...def.options, ...options }, { file: def.modulePath });
    const nf = makeFlow(d, bound);
    d.publicFlow = nf;
    return nf;
  };
  return f;
}

function define(fn: unknown, options: FlowOptions, file?: string): Flow {
  if (typeof fn !== "function") {
    throw new FlowctlError("INVALID_OPTION", `flow(): expected a function to wrap, got ${fn === null ? "null" : typeof fn}`);
  }
  validateFlowOptions(`flow '${options.name ?? (fn.name || "anonymous")}'`, options);
  const def = new FlowDefinition(fn as (...a: any[]) => any, options, { file });
  const f = makeFlow(def);
  def.publicFlow = f;
  return f;
}

function isMethodContext(c: unknown): c is ClassMethodDecoratorContext {
  return typeof c === "object" && c !== null && (c as { kind?: unknown }).kind === "method" && "name" in c;
}

function decorate(method: (...a: any[]) => any, context: ClassMethodDecoratorContext, options: FlowOptions): any {
  validateFlowOptions(`flow '${options.name ?? String(context.name)}'`, options);
  const def = new FlowDefinition(method, options, { file: definingFile(), name: String(context.name) });
  const unbound = makeFlow(def);
  def.publicFlow = unbound;
  return unbound;
}

export function flow<This, A extends FlowArgs, R>(
  method: (this: This, ...args: A) => R,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
): (this: This, ...args: A) => R;
export function flow<A extends FlowArgs, R>(fn: (...args: A) => R): Flow<A, R>;
export function flow<S extends StandardSchemaV1, R>(options: FlowOptions & { params: S }, fn: SchemaFn<S, R>): Flow<SchemaArgs<S>, R>;
export function flow<A extends FlowArgs, R>(options: FlowOptions, fn: (...args: A) => R): Flow<A, R>;
export function flow<S extends StandardSchemaV1>(options: FlowOptions & { params: S }): <R>(fn: SchemaFn<S, R>) => Flow<SchemaArgs<S>, R>;
export function flow(options: FlowOptions): {
  <This, A extends FlowArgs, R>(
    method: (this: This, ...args: A) => R,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
  ): (this: This, ...args: A) => R;
  <A extends FlowArgs, R>(fn: (...args: A) => R): Flow<A, R>;
};
export function flow(a: unknown, b?: unknown): unknown {
  if (typeof a === "function") {
    if (isMethodContext(b)) return decorate(a as (...x: any[]) => any, b, {});
    if (b !== undefined) throw new FlowctlError("INVALID_OPTION", "flow(fn) takes the function alone; options go first: flow(options, fn)");
    return define(a, {});
  }
  if (typeof a !== "object" || a === null || Array.isArray(a)) {
    throw new FlowctlError("INVALID_OPTION", `flow(): expected a function or an options object, got ${a === null ? "null" : Array.isArray(a) ? "an array" : typeof a}`);
  }
  const options = a as FlowOptions;
  validateFlowOptions(`flow '${options.name ?? (typeof b === "function" ? b.name : "")}'`, options);
  if (b !== undefined) return define(b, options);
  const file = definingFile();
  return (fn: unknown, context?: unknown) => {
    if (typeof fn === "function" && isMethodContext(context)) return decorate(fn as (...x: any[]) => any, context, options);
    return define(fn, options, file);
  };
}

export function isFlow(v: unknown): v is Flow {
  return typeof v === "function" && (v as { definition?: unknown }).definition instanceof FlowDefinition;
}
