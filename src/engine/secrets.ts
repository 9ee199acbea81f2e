/**
 * Secret flow parameters. Values wrapped in `secret()` are unwrapped before the call is checked
 * (the flow receives the real value); the run's secret names — parameters that held a wrapped
 * value, fields a `secret()`-marked schema declares, names matching
 * PREFECT_LOGGING_REDACT_PATTERNS — go on the run record, whose stored parameters show them as
 * `********`. Their values are registered for scrubbing from log lines and messages.
 */
import { isSecretWrapper, registerSecretValue, secretFieldsOf, type RecordLimits } from "../logging/redact.ts";

/** The call's arguments with `secret()` wrappers removed (top level, and one object level), and the values they held. */
export function unwrapSecretArgs(callArgs: readonly unknown[]): { args: unknown[]; secrets: unknown[] } {
  const secrets: unknown[] = [];
  const args = callArgs.map((a) => {
    if (isSecretWrapper(a)) {
      secrets.push(a.value);
      return a.value;
    }
    if (typeof a !== "object" || a === null || Array.isArray(a) || Object.getPrototypeOf(a) !== Object.prototype) return a;
    let out: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(a)) {
      if (!isSecretWrapper(v)) continue;
      out ??= { ...(a as Record<string, unknown>) };
      out[k] = v.value;
      secrets.push(v.value);
    }
    return out ?? a;
  });
  return { args, secrets };
}

/** The run's secret parameter names; registers their values for scrubbing. */
export function secretParameterKeys(
  parameters: Record<string, unknown>, unwrapped: readonly unknown[], schema: unknown, limits: RecordLimits,
): Set<string> {
  const keys = secretFieldsOf(schema, Object.keys(parameters));
  for (const [k, v] of Object.entries(parameters)) {
    if (keys.has(k) || limits.redactKey?.test(k) || unwrapped.some((s) => Object.is(s, v))) keys.add(k);
  }
  for (const k of keys) registerSecretValue(parameters[k]);
  for (const v of unwrapped) registerSecretValue(v);
  return keys;
}
