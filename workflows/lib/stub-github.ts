/**
 * A tiny stand-in for the GitHub REST API, so the examples run offline. It answers the two
 * endpoints the seed's examples use, with small fake data, after a fixed delay per request:
 *
 *   GET /repos/:owner/:repo          → { full_name, stargazers_count, forks_count, open_issues_count }
 *   GET /repos/:owner/:repo/issues   → one page of open issues (`page`, `per_page` ≤ 100, `state`),
 *                                      each `{ number, title, state, user: { id, login } }`
 *
 * Anything else is a 404 with GitHub's `{ "message": "Not Found" }`. Every request is recorded
 * with its start and end times (ms epoch), in memory and, when `recordFile` is set (or the
 * STUB_GITHUB_RECORD_FILE environment variable), as one JSON line per request in that file —
 * which is how a test of a workflow run in another process sees whether requests overlapped.
 */
import { appendFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeRepo {
  stargazers_count: number;
  forks_count: number;
  open_issues_count: number;
  /** how many distinct users opened the open issues (issue i is opened by user i % users) */
  users: number;
}

export interface StubRequest {
  method: string;
  /** path without the query, e.g. `/repos/PrefectHQ/prefect/issues` */
  path: string;
  query: Record<string, string>;
  status: number;
  start: number;
  end: number;
}

export interface StubGithubOptions {
  /** Milliseconds each request waits before it is answered. @default 300 */
  delayMs?: number;
  /** Repositories by `owner/name` (case-insensitive). @default one fake PrefectHQ/prefect */
  repos?: Record<string, FakeRepo>;
  /** Append each finished request as a JSON line here. @default $STUB_GITHUB_RECORD_FILE */
  recordFile?: string;
  /** @default 0 (a free port) */
  port?: number;
}

export interface StubGithub {
  /** `http://127.0.0.1:PORT` — use it where the real code uses `https://api.github.com` */
  readonly url: string;
  readonly requests: readonly StubRequest[];
  close(): Promise<void>;
}

/** 550 open issues from 242 users: 6 pages of 100, 2.27 issues per user, as in the seed. */
export const DEFAULT_REPOS: Record<string, FakeRepo> = {
  "prefecthq/prefect": { stargazers_count: 12157, forks_count: 1251, open_issues_count: 550, users: 242 },
};

export async function startStubGithub(options: StubGithubOptions = {}): Promise<StubGithub> {
  const delayMs = options.delayMs ?? 300;
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error(`startStubGithub: expected delayMs ≥ 0, got ${delayMs}`);
  const repos = new Map(Object.entries(options.repos ?? DEFAULT_REPOS).map(([k, v]) => [k.toLowerCase(), v]));
  const recordFile = options.recordFile ?? process.env.STUB_GITHUB_RECORD_FILE;
  const requests: StubRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const start = Date.now();
    const url = new URL(req.url ?? "/", "http://stub");
    const query = Object.fromEntries(url.searchParams);
    const { status, body } = answer(req.method ?? "GET", url.pathname, url.searchParams, repos);
    const timer = setTimeout(() => {
      timers.delete(timer);
      res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(body));
      const rec: StubRequest = { method: req.method ?? "GET", path: url.pathname, query, status, start, end: Date.now() };
      requests.push(rec);
      if (recordFile) appendFileSync(recordFile, JSON.stringify(rec) + "\n");
    }, delayMs);
    timers.add(timer);
  });
  // keep-alive sockets must not hold a finished example open
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  server.unref();
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function answer(
  method: string, path: string, search: URLSearchParams, repos: Map<string, FakeRepo>,
): { status: number; body: unknown } {
  const notFound = { status: 404, body: { message: "Not Found", documentation_url: "https://docs.github.com/rest" } };
  const m = /^\/repos\/([^/]+)\/([^/]+)(\/issues)?\/?$/.exec(path);
  if (method !== "GET" || !m) return notFound;
  const fullName = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
  const repo = repos.get(fullName.toLowerCase());
  if (!repo) return notFound;
  if (!m[3]) {
    const { stargazers_count, forks_count, open_issues_count } = repo;
    return { status: 200, body: { full_name: fullName, stargazers_count, forks_count, open_issues_count } };
  }
  const page = positiveInt(search.get("page"), 1);
  const perPageAsked = positiveInt(search.get("per_page"), 30);
  const state = search.get("state") ?? "open";
  if (page === undefined || perPageAsked === undefined || !["open", "closed", "all"].includes(state)) {
    return { status: 422, body: { message: "Validation Failed" } };
  }
  const perPage = Math.min(perPageAsked, 100);
  const total = state === "closed" ? 0 : repo.open_issues_count;
  const issues = [];
  for (let i = (page - 1) * perPage; i < Math.min(total, page * perPage); i++) {
    const userId = (i % repo.users) + 1;
    issues.push({ number: total - i, title: `Fake issue ${total - i}`, state: "open", user: { id: userId, login: `user${userId}` } });
  }
  return { status: 200, body: issues };
}

function positiveInt(v: string | null, dflt: number): number | undefined {
  if (v === null) return dflt;
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}
