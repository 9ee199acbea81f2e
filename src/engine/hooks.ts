/** State hooks: awaited in order; a hook that throws is logged and changes nothing else. */
import type { Logger } from "../logging/logger.ts";
import type { State } from "./states.ts";

export type AnyHook = (owner: any, run: any, state: State) => unknown;

export async function runHooks(hooks: readonly AnyHook[], owner: unknown, run: unknown, state: State, logger: Logger): Promise<void> {
  for (const hook of hooks) {
    const name = hook.name || "anonymous";
    logger.info(`Running hook '${name}' in response to entering state '${state.name}'`);
    try {
      await hook(owner, run, state);
      logger.info(`Hook '${name}' finished running successfully`);
    } catch (err) {
      logger.error(`An error was encountered while running hook '${name}': ${(err as Error)?.stack ?? String(err)}`);
    }
  }
}
