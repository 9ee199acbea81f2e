export interface LogRecord {
  level: number;
  /** `flowctl.engine`, `Flow run 'NAME'` or `Task run 'NAME'` */
  source: string;
  message: string;
  /** ms since the epoch */
  timestamp: number;
  flowRunId?: string | undefined;
  taskRunId?: string | undefined;
}
