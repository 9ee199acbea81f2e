/**
 * logPrints: while a run with `logPrints` on is executing, `console.log/info` become INFO
 * lines of its log, `console.warn` WARNING, `console.error` ERROR (formatted as console.log
 * formats its arguments). Outside such runs the console behaves as always. Which run is
 * current is the engine's to say: it registers that through `routePrintsThrough`.
 */
import { format } from "node:util";

/** Where the current code's console output goes, if it is captured. */
export interface PrintSink {
  log(level: number, message: string): void;
}

let currentSink: () => PrintSink | undefined = () => undefined;

/** The engine says which sink the running code prints to (its run context's logger). */
export function routePrintsThrough(sink: () => PrintSink | undefined): void {
  currentSink = sink;
}

let installed = false;

export function installPrintCapture(): void {
  if (installed) return;
  installed = true;
  const route = (method: "log" | "info" | "warn" | "error" | "debug", level: number) => {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      const logger = currentSink();
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
