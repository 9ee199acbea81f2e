// The seed's first example: a flow with one task that fetches a repository's statistics.
//
//   npx flowctl run workflows/repo_info.ts                       # offline: a local stand-in for the GitHub API
//   npx flowctl run workflows/repo_info.ts --param apiUrl=https://api.github.com   # the real API
//   npx tsx workflows/repo_info.ts                               # run the file directly
import { flow, isMain, runtime, task } from "flowctl";
import { startStubGithub } from "./lib/stub-github.ts";

export const getUrl = task(async function getUrl(url: string, params?: Record<string, string | number>) {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params ?? {})) u.searchParams.set(k, String(v));
  const response = await fetch(u, { signal: runtime.taskRun.signal, headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText} for ${u}`);
  return (await response.json()) as Record<string, any>;
});

export const getRepoInfo = flow(
  { retries: 3, retryDelaySeconds: 5, logPrints: true },
  async function getRepoInfo({ repoName = "PrefectHQ/prefect", apiUrl = "" }: { repoName?: string; apiUrl?: string } = {}) {
    // Without apiUrl the example answers itself, so it runs with no network.
    const stub = apiUrl ? undefined : await startStubGithub({ delayMs: 50 });
    try {
      const base = apiUrl || stub!.url;
      const repoStats = await getUrl(`${base}/repos/${repoName}`);
      console.log(`${repoName} repository statistics 🤓:`);
      console.log(`Stars 🌠 : ${repoStats.stargazers_count}`);
      console.log(`Forks 🍴 : ${repoStats.forks_count}`);
    } finally {
      await stub?.close();
    }
  },
);

if (isMain(import.meta)) {
  await getRepoInfo();
}
