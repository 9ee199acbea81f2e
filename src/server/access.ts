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

/** The host name part of a Host header (`[::1]:4200` → `[::1]`, `localhost:80` → `localhost`). */
function hostName(header: string): string {
  if (header.startsWith("[")) return header.slice(0, header.indexOf("]") + 1);
  const i = header.lastIndexOf(":");
  return i >= 0 ? header.slice(0, i) : header;
}

export function hostAllowed(req: IncomingMessage, boundToLoopback: boolean): boolean {
  if (!boundToLoopback) return true;
  const host = req.headers.host;
  return host !== undefined && isLoopbackHost(hostName(host));
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
