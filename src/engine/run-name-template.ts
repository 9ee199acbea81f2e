/**
 * Run name templates: `"hello-{name}-on-{date:%A}"` over the run's parameters, or a function
 * of them. `{param:%…}` formats a Date in local time, strftime-style.
 */
import { FlowctlError } from "../errors.ts";

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const p2 = (n: number) => String(n).padStart(2, "0");

export function strftime(d: Date, fmt: string): string {
  return fmt.replace(/%([aAbBdHIjmMpSyYfz%])/g, (_m, c: string) => {
    switch (c) {
      case "a": return DAYS[d.getDay()]!.slice(0, 3);
      case "A": return DAYS[d.getDay()]!;
      case "b": return MONTHS[d.getMonth()]!.slice(0, 3);
      case "B": return MONTHS[d.getMonth()]!;
      case "d": return p2(d.getDate());
      case "H": return p2(d.getHours());
      case "I": return p2(d.getHours() % 12 || 12);
      case "j": {
        const start = new Date(d.getFullYear(), 0, 1);
        return String(Math.floor((d.getTime() - start.getTime()) / 86_400_000) + 1).padStart(3, "0");
      }
      case "m": return p2(d.getMonth() + 1);
      case "M": return p2(d.getMinutes());
      case "p": return d.getHours() < 12 ? "AM" : "PM";
      case "S": return p2(d.getSeconds());
      case "y": return p2(d.getFullYear() % 100);
      case "Y": return String(d.getFullYear());
      case "f": return String(d.getMilliseconds() * 1000).padStart(6, "0");
      case "z": {
        const off = -d.getTimezoneOffset();
        const sign = off >= 0 ? "+" : "-";
        return `${sign}${p2(Math.floor(Math.abs(off) / 60))}${p2(Math.abs(off) % 60)}`;
      }
      default: return "%";
    }
  });
}

/** Render a run name; throws a FlowctlError saying why when it cannot. */
export function renderRunName(
  template: string | ((parameters: Record<string, unknown>) => string),
  parameters: Record<string, unknown>,
  what: "taskRunName" | "flowRunName",
): string {
  if (typeof template === "function") {
    const out = template(parameters);
    if (typeof out !== "string" || out === "") {
      throw new FlowctlError("INVALID_OPTION", `${what} function must return a non-empty string, got ${JSON.stringify(out) ?? String(out)}`);
    }
    return out;
  }
  return template.replace(/\{([^{}:]+)(?::([^{}]*))?\}/g, (_m, key: string, fmt: string | undefined) => {
    const name = key.trim();
    if (!Object.prototype.hasOwnProperty.call(parameters, name)) {
      throw new FlowctlError(
        "INVALID_OPTION",
        `${what} '${template}' uses '{${name}}', which is not a parameter (parameters: ${Object.keys(parameters).join(", ") || "none"})`,
      );
    }
    const v = parameters[name];
    if (fmt !== undefined && fmt !== "") {
      if (!(v instanceof Date)) {
        throw new FlowctlError("INVALID_OPTION", `${what} '${template}': '{${name}:${fmt}}' formats a Date, but '${name}' is ${typeof v}`);
      }
      return strftime(v, fmt);
    }
    return v instanceof Date ? v.toISOString() : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
  });
}
