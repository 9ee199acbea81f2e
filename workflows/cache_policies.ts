// Cache policies: a task whose cache key hashes its inputs and its own source text.
//   npx flowctl run workflows/cache_policies.ts            first run: 3 and 4 are computed
//   npx flowctl run workflows/cache_policies.ts            again: every call is Cached (another process)
//   npx flowctl run workflows/cache_policies.ts --param n=5
//   npx flowctl cache ls                                   the stored entries and when they expire
// Editing slowSquare's body changes TASK_SOURCE, so its old entries stop matching.
import { flow, INPUTS, isMain, task, TASK_SOURCE } from "flowctl";

let computed = 0;

const slowSquare = task(
  {
    // `verbose` only changes what is printed, so it is left out of the key
    cachePolicy: INPUTS.exclude("verbose").add(TASK_SOURCE),
    cacheExpiration: 3600,
  },
  async function slowSquare(n: number, verbose = false) {
    computed += 1;
    await new Promise((resolve) => setTimeout(resolve, 200)); // stands in for real work
    if (verbose) console.log(`computed ${n}² the slow way`);
    return n * n;
  },
);

export const cachePolicies = flow({ logPrints: true }, async function cachePolicies({ n = 3 }: { n?: number } = {}) {
  const first = await slowSquare(n); // a miss the first time: runs and stores its result
  const again = await slowSquare(n, true); // same key (verbose is excluded): Cached, the body does not run
  const next = await slowSquare(n + 1); // another input, another key: a miss
  console.log(`${n}² = ${first}, again ${again}, ${n + 1}² = ${next}; the task body ran ${computed} time(s)`);
  return { results: [first, again, next], computed };
});

if (isMain(import.meta)) {
  await cachePolicies();
}
