// Entry of a pool worker (a worker thread or a child process). Makes the worker load modules
// the way the flow's process does — TypeScript through tsx, the bare specifier "flowctl"
// resolving to this copy — then starts the worker loop. Node 20 does not hand module hooks
// down to workers; newer Nodes do (and share them), so we register ours only when a
// TypeScript-only module does not load already.
import { register } from "node:module";

let hooked = false;
try {
  await import("./worker-probe.ts");
  hooked = true;
} catch {
  // no TypeScript loader in this worker yet
}
if (!hooked) {
  register("../loader/resolve-flowctl.mjs", import.meta.url);
  const { register: registerTsx } = await import("tsx/esm/api");
  registerTsx();
}
await import("./worker-entry.ts");
