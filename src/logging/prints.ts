/**
 * logPrints: while a run with `logPrints` on is executing, `console.log/info` become INFO
 * lines of its log, `console.warn` WARNING, `console.error` ERROR (formatted as console.log
 * formats its arguments). Outside such runs the console behaves as always.
 */
import { format } from "node:util";
import { runContext } from "../engine/context.ts";

let installed = false;

export function installPrintCapture(): void {
  if (installed) return;
  installed = true;
  const route = (method: "log" | "info" | "warn" | "error" | "debug", level: number) => {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      const logger = runContext.getStore()?.printLogger;
      if (logger) logger.log(level, format(...args));
      else original(...args);
    };
  };
  route("log", 20);
  route("info", 20);
  route("debug", 10);
  route("warn", 30);
  route("error", 40);
}
