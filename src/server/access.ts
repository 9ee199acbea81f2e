/**
 * Who may talk to the server.
 *
 * - With `PREFECT_API_AUTH_STRING` set, every request (API, pages and assets alike) must carry it
 *   as HTTP Basic credentials: `user:password` as given, or, for a string with no colon, any user
 *   name with the string as password. Browsers ask for it with their own login prompt.
 * - Bound to a loopback address, the server answers only requests addressed to a loopback name
 *   (`Host: 127.0.0.1:…`, `localhost:…`, `[::1]:…`), so a web page elsewhere cannot reach it
 *   through DNS rebinding.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * The host name of a Host header, parsed by the URL standard (`[::1]:4200` → `[::1]`,
 * `localhost:80` → `localhost`); undefined for anything that is not exactly one host and
 * optional port: userinfo (`127.0.0.1:4318@evil.example`), lists (`a, b`), paths, spaces.
 */
export function hostName(header: string): string | undefined {
  if (header === "" || /[\s@,/\\?#]/.test(header)) return undefined;
  let url: URL;
  try {
    url = new URL(`http://${header}`);
  } catch {
    return undefined;
  }
  if (url.username || url.password || url.pathname !== "/" || url.search || url.hash) return undefined;
  // the header must already be in canonical form (no tricks the parser would normalise away)
  const canonical = url.port ? `${url.hostname}:${url.port}` : url.hostname;
  const given = header.toLowerCase().replace(/:80$/, "");
  return given === canonical ? url.hostname : undefined;
}

export function hostAllowed(req: IncomingMessage, boundToLoopback: boolean): boolean {
  if (!boundToLoopback) return true;
  const host = req.headers.host;
  const name = host === undefined ? undefined : hostName(host);
  return name !== undefined && isLoopbackHost(name);
}

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/** Does the request carry the auth string? (Always true when none is configured.) */
export function authorized(req: IncomingMessage, authString: string): boolean {
  if (authString === "") return true;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.headers.authorization ?? "");
  if (!m) return false;
  const given = Buffer.from(m[1]!, "base64").toString("utf8");
  const compared = authString.includes(":") ? given : given.slice(given.indexOf(":") + 1);
  return timingSafeEqual(digest(compared), digest(authString));
}
