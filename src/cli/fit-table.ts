/**
 * Tables that fit the terminal. Columns keep their natural width while the table fits
 * `process.stdout.columns` (or `$COLUMNS` when stdout is not a terminal; no limit when neither
 * is known); otherwise the widest columns give up space first and cli-table3 cuts their cells
 * with `…` (its own `colWidths` handling), so a row never wraps onto a second line.
 * IDs and 64-hex keys are shown as their first 8 characters (`01a24ede…`) unless `--wide`.
 */
import { newTable } from "./table.ts";
import { stripVTControlCharacters } from "node:util";
import { sanitizeKeepingColors } from "../logging/sanitize.ts";

const MIN_COL = 6;

export function terminalColumns(stream: NodeJS.WriteStream = process.stdout): number {
  if (stream.isTTY && stream.columns) return stream.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env > 0 ? env : Infinity;
}

/** `01a24ede…` for an id or a key, the whole of it with `wide`. */
export function shortId(id: string, wide = false): string {
  return wide || id.length <= 9 ? id : `${id.slice(0, 8)}…`;
}

/** A cache key `task-key:<64 hex>` as `01a24ede…` (its hash; the task is in a column of its own), whole with `wide`. */
export function shortKey(key: string, wide = false): string {
  if (wide) return key;
  const m = /:([0-9a-f]{64})$/.exec(key);
  return m ? `${m[1]!.slice(0, 8)}…` : shortId(key);
}

const width = (s: string) => Math.max(0, ...stripVTControlCharacters(s).split("\n").map((l) => [...l].length));

/**
 * Widths (padding included) within `total` columns: the widest column gives up a column at a
 * time; `keep` columns (short IDs, which must stay usable as prefixes) only once no other can.
 */
export function fitWidths(natural: number[], total: number, keep: ReadonlySet<number> = new Set()): number[] {
  const out = natural.slice();
  let excess = out.reduce((a, b) => a + b, 0) - total;
  const widestOf = (kept: boolean) => {
    let widest = -1;
    for (let i = 0; i < out.length; i++) {
      if (keep.has(i) !== kept || out[i]! <= MIN_COL) continue;
      if (widest < 0 || out[i]! > out[widest]!) widest = i;
    }
    return widest;
  };
  while (excess > 0) {
    let i = widestOf(false);
    if (i < 0) i = widestOf(true);
    if (i < 0) break; // every column at its minimum: the table is wider than the screen
    out[i]!--;
    excess--;
  }
  return out;
}

export class FitTable {
  private readonly rows: string[][] = [];
  constructor(
    private readonly head: string[],
    private readonly columns = terminalColumns(),
  ) {}

  /** Cells are shown on one line, control characters (newlines too) escaped, colors kept. */
  push(...rows: string[][]): void {
    for (const row of rows) this.rows.push(row.map((c) => sanitizeKeepingColors(c)));
  }

  get length(): number {
    return this.rows.length;
  }

  toString(): string {
    const n = this.head.length;
    const natural = this.head.map((h, i) => Math.max(width(h), ...this.rows.map((r) => width(r[i] ?? ""))) + 2);
    // one border character between columns and one at each end
    const keep = new Set(this.head.flatMap((h, i) => (h === "ID" || h === "Key" ? [i] : [])));
    const colWidths = Number.isFinite(this.columns) ? fitWidths(natural, this.columns - (n + 1), keep) : natural;
    const table = newTable({
      head: this.head,
      colWidths,
      style: { head: [], border: [] },
      chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
    });
    table.push(...this.rows);
    return table.toString();
  }
}
