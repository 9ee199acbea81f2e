/**
 * Noticing `flowctl runs cancel` from another process: while a top-level flow run is active,
 * the process running it asks the store it shares every POLL_MS whether someone asked to cancel
 * it, and cancels it (as Ctrl-C would) when so. The poll is the run's one periodic store read;
 * a liveness heartbeat belongs on the same timer.
 *
 *   watching ──(request found)──▶ cancelled (watch stops, `onCancel(message)`)
 *   watching ──(run over)──▶ stopped
 *
 * A store that cannot be read is asked again at the next tick: a cancel channel never fails a run.
 */
import type { FlowRunRecord } from "./run-records.ts";

/** How often the store is asked; a request is noticed within this (plus one query). */
export const POLL_MS = 250;

export function watchForCancel(run: FlowRunRecord, onCancel: (message: string) => void): () => void {
  let busy = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    void (async () => {
      try {
        const store = await run.env.runStore();
        const req = await store.getCancellation(run.id);
        if (req && !stopped) {
          stop();
          onCancel(req.message);
        }
      } catch {
        // asked again at the next tick
      } finally {
        busy = false;
      }
    })();
  }, POLL_MS);
  // the watch never keeps a finished process alive
  timer.unref();
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  return stop;
}
