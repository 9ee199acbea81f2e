/**
 * The live status line: one line at the bottom of a terminal, under the log, redrawn in place
 * (`get-url: 527/1000 completed, 5 running, 468 pending · 3.2 s`). Only when stderr is a TTY;
 * when it is a pipe or a file nothing of this is ever written.
 *
 *   idle ─start(source)─▶ shown: every write to stdout/stderr first erases the line, then the
 *                         line is redrawn after it (at once when the write ended a line), and
 *                         every 100 ms so the clock moves
 *        ◀──stop()────── erased; the streams' own write functions are put back
 *
 * The line never wraps: it is cut to the terminal's width, so `\r` + erase-line clears it.
 */

export interface StatusSource {
  statusLine(columns: number): string;
}

type Write = NodeJS.WriteStream["write"];

const ERASE = "\r\x1b[2K";
const REDRAW_MS = 100;

class StatusLine {
  private source: StatusSource | undefined;
  private stream: NodeJS.WriteStream | undefined;
  private originals = new Map<NodeJS.WriteStream, Write>();
  private drawn = false;
  private atLineStart = true;
  private timer: NodeJS.Timeout | undefined;
  private exitHooked = false;

  /**
   * Show `source`'s line on `stream` (stderr) if it is a terminal and no line is shown yet.
   * True when this call started it: only then call stop().
   */
  start(source: StatusSource, stream: NodeJS.WriteStream = process.stderr): boolean {
    if (this.source || stream.isTTY !== true || process.env.TERM === "dumb") return false;
    this.source = source;
    this.stream = stream;
    for (const s of new Set([process.stdout, stream])) this.wrap(s);
    this.timer = setInterval(() => this.draw(), REDRAW_MS);
    this.timer.unref();
    if (!this.exitHooked) {
      this.exitHooked = true;
      // a process.exit() mid-run (a second Ctrl-C) must not leave the line on the terminal
      process.once("exit", () => this.erase());
    }
    this.draw();
    return true;
  }

  stop(): void {
    if (!this.source) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.erase();
    for (const [s, w] of this.originals) s.write = w;
    this.originals.clear();
    this.source = undefined;
    this.stream = undefined;
  }

  get active(): boolean {
    return this.source !== undefined;
  }

  private wrap(s: NodeJS.WriteStream): void {
    const original = s.write;
    this.originals.set(s, original);
    const self = this;
    s.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      self.erase();
      const text = typeof chunk === "string" ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString("utf8") : "";
      if (text.length > 0) self.atLineStart = text.endsWith("\n");
      const ok = (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
      if (self.atLineStart) self.draw();
      return ok;
    } as Write;
  }

  private raw(text: string): void {
    const w = this.stream && (this.originals.get(this.stream) ?? this.stream.write);
    w?.call(this.stream, text);
  }

  private erase(): void {
    if (!this.drawn) return;
    this.drawn = false;
    this.raw(ERASE);
  }

  private draw(): void {
    if (!this.source || !this.stream || !this.atLineStart) return;
    const columns = this.stream.columns || 80;
    let line: string;
    try {
      line = this.source.statusLine(columns);
    } catch {
      return;
    }
    this.raw(`${ERASE}${line}`);
    this.drawn = true;
  }
}

export const statusLine = new StatusLine();
