/**
 * The module hooks that loading a workflow file needs: TypeScript through tsx, and the bare
 * specifier "flowctl" resolving to the running copy (./resolve-flowctl.mjs). Registered on
 * first need, so commands that never load a workflow file (--version, runs, config…) start
 * without them. Where a TypeScript loader is already in place (`node --import tsx`, or a
 * worker that inherited its parent's hooks) tsx is not registered twice.
 */
import { register } from "node:module";

let registering: Promise<void> | undefined;

/** Whether this thread already loads TypeScript (the probe is an enum: not erasable syntax). */
export async function loadsTypeScript(): Promise<boolean> {
  try {
    await import(new URL("./ts-probe.ts", import.meta.url).href);
    return true;
  } catch {
    return false;
  }
}

export function registerLoaderHooks(): Promise<void> {
  registering ??= (async () => {
    const hasTs = await loadsTypeScript();
    register(new URL("./resolve-flowctl.mjs", import.meta.url));
    if (!hasTs) {
      const { register: registerTsx } = await import("tsx/esm/api");
      registerTsx();
    }
  })();
  return registering;
}
