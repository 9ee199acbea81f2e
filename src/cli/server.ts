/**
 * `flowctl server start`: serve the web UI and its JSON API over the run store until SIGINT or
 * SIGTERM. It binds 127.0.0.1 unless told otherwise, and binding anywhere else requires
 * PREFECT_API_AUTH_STRING, which every request must then carry (HTTP Basic).
 */
import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import { getSettings } from "../settings/index.ts";
import { closeStore } from "../store/index.ts";
import { isLoopbackHost } from "../server/access.ts";
import { startServer } from "../server/server.ts";
import { action, cliState, EXIT } from "./util.ts";
import { openStore } from "./runs.ts";

interface StartOpts { host?: string; port?: string }

export function registerServerCommand(program: Command): void {
  const server = program.command("server").description("The web UI over the run history");
  server
    .command("start")
    .description("Serve the web UI and its read-only JSON API (until Ctrl-C)")
    .option("--host <host>", "address to bind (PREFECT_SERVER_API_HOST, default 127.0.0.1)")
    .option("--port <port>", "port to listen on; 0 picks a free one (PREFECT_SERVER_API_PORT, default 4200)")
    .addHelpText("after", "\nBinding an address other than 127.0.0.1/localhost requires PREFECT_API_AUTH_STRING (user:password);\nbrowsers and API clients then send it as HTTP Basic credentials.")
    .action(action((opts: StartOpts) => start(opts)));
}

function parsePort(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n > 65_535) throw new UsageError(`--port expects a port number from 0 to 65535, got '${raw}'`);
  return n;
}

async function start(opts: StartOpts): Promise<number> {
  let settings;
  try {
    settings = getSettings();
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError((err as Error).message, "CONFIG_ERROR");
  }
  const host = (opts.host ?? settings.PREFECT_SERVER_API_HOST).trim();
  const port = parsePort(opts.port, settings.PREFECT_SERVER_API_PORT);
  if (host === "") throw new UsageError("--host must not be empty");
  const authString = settings.PREFECT_API_AUTH_STRING;
  if (!isLoopbackHost(host) && authString === "") {
    throw new UsageError(
      `Refusing to bind ${host} without PREFECT_API_AUTH_STRING: anyone who can reach it could read every run. ` +
        "Set PREFECT_API_AUTH_STRING=user:password, or bind 127.0.0.1.",
      "CONFIG_ERROR",
    );
  }
  const store = await openStore({ createMissing: true });
  let running;
  try {
    running = await startServer({
      store, host, port, authString,
      onError: (err, req) => {
        process.stderr.write(`flowctl: error: ${req.method} ${req.url}: ${err instanceof Error ? err.message : String(err)}\n`);
        if (cliState.debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
      },
    });
  } catch (err) {
    await closeStore();
    const code = (err as { code?: string }).code;
    if (code === "EADDRINUSE") throw new UsageError(`Port ${port} on ${host} is already in use; pick another with --port.`, "CONFIG_ERROR");
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") throw new UsageError(`Cannot bind ${host}: no such local address.`, "CONFIG_ERROR");
    throw err;
  }
  if (authString !== "") process.stderr.write("Every request must carry PREFECT_API_AUTH_STRING as HTTP Basic credentials.\n");
  process.stderr.write(`Reading runs from the ${store.kind} store at ${store.location}. Press Ctrl-C to stop.\n`);
  process.stdout.write(`flowctl UI: ${running.url}\n`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  process.stderr.write(`\nflowctl: received ${signal}; stopping the server.\n`);
  await running.close();
  await closeStore();
  return EXIT.OK;
}
