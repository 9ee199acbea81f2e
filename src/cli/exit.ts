/**
 * Ending the process without losing a byte: the one place flowctl calls `process.exit`.
 *
 * Writes to a pipe are asynchronous in Node: a slow reader leaves them queued in the process,
 * and `process.exit()` throws the queue away. So every way out goes
 *
 *   flush the run store ─▶ drain stdout and stderr (wait until the reader took everything) ─▶ exit
 *
 * A reader that goes away (`flowctl run … | head -1`) breaks the pipe: EPIPE is not an error
 * of the flow's. From then on that stream's writes are dropped, the run goes on to its end and
 * the process exits with the flow's own exit code, quietly.
 */
import { storeWriter } from "../store/writer.ts";

const STREAMS = (): NodeJS.WriteStream[] => [process.stdout, process.stderr];
/** the real `process.exit`, taken before workflow code loads (`flowctl run` watches the global one) */
const realExit: (code?: number) => never = process.exit.bind(process);
const broken = new WeakSet<NodeJS.WriteStream>();
let guarded = false;

/** Treat a reader that went away (EPIPE) as "nobody reads this any more", not as a crash. */
export function guardStdio(): void {
  if (guarded) return;
  guarded = true;
  for (const stream of STREAMS()) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE" || err.code === "ERR_STREAM_DESTROYED") {
        broken.add(stream);
        return;
      }
      // anything else on our own output is as fatal as it was without this listener
      broken.add(stream);
      queueMicrotask(() => {
        throw err;
      });
    });
  }
}

/** True once the stream's reader has gone away. */
export function isBroken(stream: NodeJS.WriteStream): boolean {
  return broken.has(stream) || stream.destroyed;
}

/** Resolves when everything written to `stream` so far has been handed to the OS. */
export function drain(stream: NodeJS.WriteStream): Promise<void> {
  if (isBroken(stream) || stream.writableLength === 0) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.off("error", done);
      stream.off("close", done);
      resolve();
    };
    stream.once("error", done);
    stream.once("close", done);
    // write callbacks run in order: this one runs once every earlier chunk is written
    stream.write("", () => {
      if (stream.writableLength === 0 || isBroken(stream)) done();
      else void drain(stream).then(done);
    });
  });
}

/**
 * Write the run store (rows recorded so far; a store that does not answer within a few seconds
 * gets them in the journal, said in one line), then drain both output streams.
 */
export async function settleOutput(): Promise<void> {
  await storeWriter.settle();
  await Promise.all(STREAMS().map(drain));
}

/** Flush, drain, then exit with `code`. */
export async function exitAfterDraining(code: number): Promise<never> {
  await settleOutput();
  // rows that could be recorded nowhere (a full disk) were said as an error: not a success
  realExit(code === 0 && storeWriter.unrecorded ? 1 : code);
}

/**
 * Leave now (a second Ctrl-C): write the store synchronously and give the streams a moment,
 * no more, since the person asked to stop waiting.
 */
export function exitNow(code: number, graceMs = 500): void {
  storeWriter.finishSync();
  const timer = setTimeout(() => realExit(code), graceMs);
  timer.unref();
  void Promise.all(STREAMS().map(drain)).then(() => realExit(code));
}
