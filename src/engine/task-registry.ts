/**
 * Every task definition made in this process, found again by its task key. Off-thread and
 * distributed runners send a worker the task's module path and key; the worker imports the
 * module (which defines its top-level tasks again, registering them) and looks the key up here.
 *
 * Keys are computed at lookup, not at registration: a decorated method learns its class name
 * (part of its key) only after `task()` returned. Definitions are held weakly, so tasks made
 * on the fly (`withOptions` in a loop) can still be collected; top-level ones stay alive with
 * their module. When several definitions share a key (same name, module, function and tags,
 * e.g. `t.withOptions({ retries: 3 })`), they share a body too, and the first one wins.
 */
import type { TaskDefinition } from "./task-definition.ts";

/** definitions whose key has not been computed yet */
let pending: WeakRef<TaskDefinition>[] = [];
let compactAt = 1024;
const byKey = new Map<string, WeakRef<TaskDefinition>>();

export function registerTask(def: TaskDefinition): void {
  pending.push(new WeakRef(def));
  if (pending.length >= compactAt) {
    pending = pending.filter((r) => r.deref() !== undefined);
    compactAt = Math.max(1024, pending.length * 2);
  }
}

/** The live definition with this task key, or undefined. */
export function findTask(taskKey: string): TaskDefinition | undefined {
  if (pending.length > 0) {
    for (const ref of pending) {
      const def = ref.deref();
      if (def === undefined) continue;
      const known = byKey.get(def.taskKey)?.deref();
      if (known === undefined) byKey.set(def.taskKey, ref);
    }
    pending = [];
  }
  const ref = byKey.get(taskKey);
  const def = ref?.deref();
  if (ref !== undefined && def === undefined) byKey.delete(taskKey);
  return def;
}

/** Read-only view for diagnostics: the keys of the live definitions. */
export const taskRegistry = {
  keys(): string[] {
    findTask("");
    return Array.from(byKey.entries()).filter(([, r]) => r.deref() !== undefined).map(([k]) => k);
  },
};
