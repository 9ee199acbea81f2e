// The seed's concurrency example: the repository's statistics, then every page of its open
// issues fetched at once with `getUrl.submit(...)`, to work out the open issues per user.
//
//   npx flowctl run workflows/repo_issues.ts                     # offline: a local stand-in for the GitHub API
//   npx flowctl run workflows/repo_issues.ts --param apiUrl=https://api.github.com   # the real API
//   npx tsx workflows/repo_issues.ts                             # run the file directly
//
// Offline, the stand-in answers each request after 300 ms; the six issue pages arrive together,
// so the flow takes about two requests' time, not seven. getUrl caches its answers for an hour
// (`taskInputHash`), so a second run answers every request from the cache.
import { flow, isMain, runtime, task, taskInputHash } from "flowctl";
import { startStubGithub } from "./lib/stub-github.ts";

interface Issue {
  number: number;
  user: { id: number };
}

/**
 * Offline, URLs name this stable origin, and getUrl sends them to the local stand-in wherever it
 * listens: the cache keys (the URL and its parameters) stay the same from run to run, and never
 * mix with the real API's.
 */
const OFFLINE_ORIGIN = "http://github-stub.invalid";
let offlineServer: string | undefined;

export const getUrl = task(
  { cacheKeyFn: taskInputHash, cacheExpiration: 3600 },
  async function getUrl(url: string, params?: Record<string, string | number>) {
    const given = new URL(url);
    const u = given.origin === OFFLINE_ORIGIN && offlineServer ? new URL(given.pathname + given.search, offlineServer) : given;
    for (const [k, v] of Object.entries(params ?? {})) u.searchParams.set(k, String(v));
    const response = await fetch(u, { signal: runtime.taskRun.signal, headers: { accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText} for ${u}`);
    return (await response.json()) as any;
  },
);

/** One getUrl run per page, all submitted before any is awaited: they run concurrently. */
async function getOpenIssues(base: string, repoName: string, openIssuesCount: number, perPage = 100): Promise<Issue[]> {
  const pages = Array.from({ length: Math.ceil(openIssuesCount / perPage) }, (_, i) => i + 1);
  const futures = pages.map((page) =>
    getUrl.submit(`${base}/repos/${repoName}/issues`, { page, per_page: perPage, state: "open" }),
  );
  const results = await Promise.all(futures.map((f) => f.result() as Promise<Issue[]>));
  return results.flat();
}

export const getRepoInfo = flow(
  { retries: 3, retryDelaySeconds: 5, logPrints: true },
  async function getRepoInfo({ repoName = "PrefectHQ/prefect", apiUrl = "" }: { repoName?: string; apiUrl?: string } = {}) {
    // Without apiUrl the example answers itself, so it runs with no network.
    const stub = apiUrl ? undefined : await startStubGithub({ delayMs: 300 });
    offlineServer = stub?.url;
    try {
      const base = (apiUrl || OFFLINE_ORIGIN).replace(/\/+$/, "");
      const repoStats = await getUrl(`${base}/repos/${repoName}`);
      const issues = await getOpenIssues(base, repoName, repoStats.open_issues_count);
      const users = new Set(issues.map((i) => i.user.id)).size;
      const issuesPerUser = users === 0 ? 0 : issues.length / users;
      console.log(`${repoName} repository statistics 🤓:`);
      console.log(`Stars 🌠 : ${repoStats.stargazers_count}`);
      console.log(`Forks 🍴 : ${repoStats.forks_count}`);
      console.log(`Average open issues per user 💌 : ${issuesPerUser.toFixed(2)}`);
    } finally {
      offlineServer = undefined;
      await stub?.close();
    }
  },
);

if (isMain(import.meta)) {
  await getRepoInfo();
}
