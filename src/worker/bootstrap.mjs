// Entry of a pool worker (a worker thread or a child process). Makes the worker load modules
// the way the flow's process does — TypeScript through tsx, the bare specifier "flowctl"
// resolving to this copy — then starts the worker loop. Node 20 does not hand module hooks
// down to workers; newer Nodes do (and share them), so tsx is registered only when a
// TypeScript-only module does not load already (src/loader/hooks.ts).
//
// This file is plain JavaScript because it must load before any TypeScript loader exists. It
// runs from dist/ (compiled flowctl) or src/ (this repository's tests): the sibling it finds
// says which.
import { existsSync } from "node:fs";
import { register } from "node:module";
import { fileURLToPath } from "node:url";

const fromSources = existsSync(fileURLToPath(new URL("./pool-worker.ts", import.meta.url)));
if (fromSources) {
  // the hooks module is TypeScript itself: register tsx by hand first, unless it is in place
  let hasTs = false;
  try {
    await import(new URL("../loader/ts-probe.ts", import.meta.url).href);
    hasTs = true;
  } catch {
    // no TypeScript loader in this worker yet
  }
  if (!hasTs) {
    const { register: registerTsx } = await import("tsx/esm/api");
    registerTsx();
  }
  register(new URL("../loader/resolve-flowctl.mjs", import.meta.url));
  await import(new URL("./pool-worker.ts", import.meta.url).href);
} else {
  // flowctl's modules first, straight from disk (imports after the hooks are in take a round
  // trip to the hooks thread each)
  await import("../index.js");
  const { registerLoaderHooks } = await import("../loader/hooks.js");
  await registerLoaderHooks();
  await import("./pool-worker.js");
}
