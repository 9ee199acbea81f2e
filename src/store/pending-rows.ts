/**
 * What the store writer (`writer.ts`) has been told and not handed to the store yet: the runs
 * whose rows a batch takes (their latest snapshot, made when the batch is), their states as
 * (source, seq) pairs, and the rows of the other kinds. `take()` empties it into a batch's parts;
 * `restore()` puts a batch that could not be written back in front of what came since.
 */
import type { LogRecord } from "../logging/record.ts";
import { batchRows, type BatchParts, type Persistable, type StateSource } from "./batch-parts.ts";
import type { FlowRunRow, InputRow, KeptResultRow, LogRow, StateRow, TaskRunRow, WriteBatch } from "./types.ts";

export class PendingRows {
  private flowRuns = new Map<string, Persistable<FlowRunRow>>();
  private taskRuns = new Map<string, Persistable<TaskRunRow>>();
  /** (StateSource, seq) pairs, or (StateRow, -1) */
  private states: unknown[] = [];
  private inputs: InputRow[] = [];
  private logs: LogRow[] = [];
  private results: KeptResultRow[] = [];
  /** changes recorded since the last `take()` (a run changed twice counts twice) */
  count = 0;
  /** rows of a failed write among them: the batch that carries them is `resent` */
  private resent = false;

  flowRun(run: Persistable<FlowRunRow>): void {
    this.flowRuns.set(run.id, run);
    this.count++;
  }

  taskRun(run: Persistable<TaskRunRow>): void {
    this.taskRuns.set(run.id, run);
    this.count++;
  }

  state(row: StateRow): void {
    this.states.push(row, -1);
    this.count++;
  }

  /** A run's state, its row made when the batch is (`source.stateRow(seq)`): a small pair waits here, not a row. */
  stateOf(source: StateSource, seq: number): void {
    this.states.push(source, seq);
    this.count++;
  }

  input(row: InputRow): void {
    this.inputs.push(row);
    this.count++;
  }

  result(row: KeptResultRow): void {
    this.results.push(row);
    this.count++;
  }

  log(rec: LogRecord): void {
    this.logs.push({
      flowRunId: rec.flowRunId ?? null,
      taskRunId: rec.taskRunId ?? null,
      level: rec.level,
      source: rec.source,
      message: rec.message,
      timestamp: rec.timestamp,
    });
    this.count++;
  }

  /** Everything recorded, taken (its rows not made yet); undefined when nothing is. */
  take(): BatchParts | undefined {
    if (this.count === 0) return undefined;
    const parts: BatchParts = {
      flowRuns: this.flowRuns,
      taskRuns: this.taskRuns,
      states: this.states,
      inputs: this.inputs,
      logs: this.logs,
      results: this.results,
      rows: this.flowRuns.size + this.taskRuns.size + this.states.length / 2 + this.inputs.length + this.logs.length + this.results.length,
    };
    if (this.resent) {
      parts.resent = true;
      this.resent = false;
    }
    this.flowRuns = new Map();
    this.taskRuns = new Map();
    this.states = [];
    this.inputs = [];
    this.logs = [];
    this.results = [];
    this.count = 0;
    return parts;
  }

  /** Put a batch that could not be written back in front of what came since (a run recorded since keeps its newer row). */
  restore(batch: WriteBatch): void {
    for (const r of batch.flowRuns) if (!this.flowRuns.has(r.id)) this.flowRuns.set(r.id, { id: r.id, toRow: () => r });
    for (const r of batch.taskRuns) if (!this.taskRuns.has(r.id)) this.taskRuns.set(r.id, { id: r.id, toRow: () => r });
    const states: unknown[] = [];
    for (const r of batch.states) states.push(r, -1);
    this.states = states.concat(this.states);
    this.inputs = batch.inputs.concat(this.inputs);
    this.logs = batch.logs.concat(this.logs);
    this.results = (batch.results ?? []).concat(this.results);
    this.count += batchRows(batch);
    // the store may hold these rows already (a lost answer): their log lines must not come twice
    this.resent = true;
  }
}
