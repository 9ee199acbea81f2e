/**
 * Many waiters, one listener: thousands of task runs of one flow run can wait at once (for a
 * concurrency slot, for a retry delay) on the flow run's signal. Each adding its own "abort"
 * listener trips Node's MaxListenersExceededWarning and makes abort O(waiters) listener calls
 * through EventTarget; here each signal gets a single listener that calls the waiters' set.
 */
const waiters = new WeakMap<AbortSignal, Set<() => void>>();

/** Call `fn` once when `signal` aborts (at once, on the next microtask, if it already has). Returns an unsubscribe. */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    queueMicrotask(fn);
    return () => undefined;
  }
  let set = waiters.get(signal);
  if (!set) {
    const fresh = new Set<() => void>();
    waiters.set(signal, (set = fresh));
    signal.addEventListener(
      "abort",
      () => {
        waiters.delete(signal);
        for (const f of fresh) f();
      },
      { once: true },
    );
  }
  set.add(fn);
  const own = set;
  return () => {
    own.delete(fn);
  };
}
