/**
 * `secret()`: mark a flow parameter as secret. Its value is stored and shown as `********`
 * (store, logs, CLI, API, UI) while the flow receives the real value.
 *
 * - On a schema, inside a flow's parameter schema: `z.object({ password: secret(z.string()) })`.
 *   The schema is marked in place and returned, so it keeps its own type and validation. Mark
 *   the outermost field schema (`secret(z.string().optional())`): methods like `.optional()`
 *   called after `secret()` make a new, unmarked schema.
 * - On a value, when calling a flow from code: `deploy({ token: secret(process.env.TOKEN) })`.
 *   The flow receives the value itself.
 */
import { SECRET_BRAND } from "../logging/redact.ts";

/** A value wrapped by `secret()`; flows receive `value`. Prints as `********`. */
export class Secret<T> {
  readonly [SECRET_BRAND] = "value" as const;
  constructor(readonly value: T) {}
  toString(): string {
    return "********";
  }
  toJSON(): string {
    return "********";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "Secret(********)";
  }
}

type AnySchema = { readonly "~standard": { readonly validate: unknown } };

export function secret<S extends AnySchema>(schema: S): S;
export function secret<T>(value: T): Secret<T>;
export function secret(x: unknown): unknown {
  if ((typeof x === "object" || typeof x === "function") && x !== null && "~standard" in x) {
    Object.defineProperty(x, SECRET_BRAND, { value: "schema", enumerable: false, configurable: true });
    return x;
  }
  return new Secret(x);
}
