/**
 * `flowctl server start`: the web UI and its JSON API over the run store, on node:http.
 *
 * Routes: `/api/…` (api.ts); `/assets/NAME` (static-assets.ts); the UI's pages `/`, `/runs`,
 * `/runs/ID`, `/task-runs/ID`, `/dashboard` (all index.html; the page script routes). Anything
 * else is 404. Only GET and HEAD are served, but for one action: `POST /api/flow-runs/ID/cancel`
 * (the Cancel button), behind the same loopback and auth rules plus a cross-site-request check:
 * it must carry the header `X-Flowctl-Action: cancel` (a page elsewhere cannot send a custom
 * header without a CORS preflight, which this server never grants) and, when the browser sends
 * an Origin, come from this server's own origin. Every answer carries a strict Content-Security-Policy
 * (scripts and styles from this server only), so even a value that slipped past escaping could
 * not run.
 *
 * The store is read on each request: SQLite in WAL mode (or PostgreSQL) lets flows running in
 * other processes write while the server reads, and the UI polls to stay current.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { RunStore } from "../store/types.ts";
import { authorized, hostAllowed, isLoopbackHost } from "./access.ts";
import { BadRequest, handleApi } from "./api.ts";
import { loadAssets, type Asset } from "./static-assets.ts";
import { encode, etagFor, MIN_COMPRESS, pickEncoding } from "./compress.ts";
import { requestCancel, RunFinishedError } from "../store/cancel-request.ts";

export interface ServerOptions {
  store: RunStore;
  /** @default "127.0.0.1" */
  host?: string;
  /** 0 picks a free port. @default 4200 */
  port?: number;
  /** PREFECT_API_AUTH_STRING: required on every request when not empty */
  authString?: string;
  /** called with each request that ended in a 5xx, for the console */
  onError?: (err: unknown, req: IncomingMessage) => void;
}

export interface RunningServer {
  /** `http://HOST:PORT` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stop listening and drop open connections (keep-alive ones included). */
  close(): Promise<void>;
}

const PAGE_RE = /^\/(?:runs(?:\/[^/]+)?|task-runs\/[^/]+|dashboard)?\/?$/;

const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Resource-Policy": "same-origin",
};

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const host = opts.host ?? "127.0.0.1";
  const authString = opts.authString ?? "";
  const loopback = isLoopbackHost(host);
  const assets = loadAssets();
  const index = assets.get("index.html");
  if (!index) throw new Error("The web UI's assets are missing (src/server/assets/index.html)");

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      opts.onError?.(err, req);
      if (!res.headersSent) send(req, res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (!hostAllowed(req, loopback)) {
      return sendText(req, res, 403, "This server answers only requests addressed to 127.0.0.1 or localhost.\n");
    }
    if (!authorized(req, authString)) {
      res.setHeader("WWW-Authenticate", 'Basic realm="flowctl", charset="UTF-8"');
      return sendText(req, res, 401, "Authentication required (PREFECT_API_AUTH_STRING).\n");
    }
    if (req.method === "POST" && CANCEL_RE.test(req.url ?? "")) {
      res.setHeader("Cache-Control", "no-store");
      return cancelAction(req, res, opts.store, decodeURIComponent(CANCEL_RE.exec(req.url!)![1]!));
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return send(req, res, 405, { error: `Method ${req.method} not allowed: the API is read-only` });
    }
    const rawUrl = req.url ?? "/";
    const qi = rawUrl.indexOf("?");
    const path = qi >= 0 ? rawUrl.slice(0, qi) : rawUrl;
    const query = new URLSearchParams(qi >= 0 ? rawUrl.slice(qi + 1) : "");

    if (path === "/api" || path.startsWith("/api/")) {
      res.setHeader("Cache-Control", "no-store");
      try {
        const r = await handleApi(opts.store, path, query);
        return send(req, res, r.status, r.body);
      } catch (err) {
        if (err instanceof BadRequest || err instanceof URIError) return send(req, res, 400, { error: err.message });
        throw err;
      }
    }
    if (path.startsWith("/assets/")) {
      const asset = assets.get(path.slice("/assets/".length));
      return asset ? sendAsset(req, res, asset) : sendText(req, res, 404, "Not found\n");
    }
    if (PAGE_RE.test(path)) return sendAsset(req, res, index!);
    return sendText(req, res, 404, "Not found\n");
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 4200, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

const CANCEL_RE = /^\/api\/flow-runs\/([^/?]+)\/cancel$/;

/** `POST /api/flow-runs/ID/cancel`: 202 with the request, 404, 409 (already finished) or 403 (cross-site). */
async function cancelAction(req: IncomingMessage, res: ServerResponse, store: RunStore, id: string): Promise<void> {
  req.resume(); // no body is read
  if (req.headers["x-flowctl-action"] !== "cancel") {
    return send(req, res, 403, { error: "A cancel request must carry the header 'X-Flowctl-Action: cancel'." });
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host ?? ""}`) {
    return send(req, res, 403, { error: `Cross-site request refused (Origin ${origin}).` });
  }
  const row = await store.getFlowRun(id);
  if (!row || row.id !== id) return send(req, res, 404, { error: `No flow run with id '${id}'` });
  try {
    const { target, message } = await requestCancel(store, row, "the web UI");
    return send(req, res, 202, { flowRunId: target.id, message });
  } catch (err) {
    if (err instanceof RunFinishedError) return send(req, res, 409, { error: err.message });
    throw err;
  }
}

/** A JSON answer, brotli- or gzip-encoded when the client accepts it and it is worth it. */
function send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  const buf = Buffer.from(JSON.stringify(body));
  const encoding = buf.length >= MIN_COMPRESS ? pickEncoding(req.headers["accept-encoding"]) : "identity";
  const etag = etagFor(createHash("sha1").update(buf).digest("base64url"), encoding);
  res.setHeader("Vary", "Accept-Encoding");
  if (status === 200 && req.headers["if-none-match"] === etag) {
    res.writeHead(304, { ETag: etag }).end();
    return;
  }
  const out = encode(buf, encoding);
  const headers: Record<string, string | number> = { "Content-Type": "application/json; charset=utf-8", "Content-Length": out.length, ETag: etag };
  if (encoding !== "identity") headers["Content-Encoding"] = encoding;
  res.writeHead(status, headers);
  res.end(req.method === "HEAD" ? undefined : out);
}

function sendText(req: IncomingMessage, res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
  res.end(req.method === "HEAD" ? undefined : text);
}

function sendAsset(req: IncomingMessage, res: ServerResponse, asset: Asset): void {
  res.setHeader("Cache-Control", "no-cache");
  res.setHeader("Vary", "Accept-Encoding");
  const accepted = pickEncoding(req.headers["accept-encoding"]);
  const encoding = accepted !== "identity" && asset.encoded[accepted] ? accepted : "identity";
  const etag = etagFor(asset.hash, encoding);
  if (req.headers["if-none-match"] === etag) {
    res.writeHead(304, { ETag: etag }).end();
    return;
  }
  const body = encoding === "identity" ? asset.body : asset.encoded[encoding]!;
  const headers: Record<string, string | number> = { "Content-Type": asset.type, "Content-Length": body.length, ETag: etag };
  if (encoding !== "identity") headers["Content-Encoding"] = encoding;
  res.writeHead(200, headers);
  res.end(req.method === "HEAD" ? undefined : body);
}
