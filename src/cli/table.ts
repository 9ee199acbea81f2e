/** cli-table3, loaded when a command first prints a table (not at startup). */
import { createRequire } from "node:module";
import type CliTable from "cli-table3";

export type Table = CliTable.Table;

const require = createRequire(import.meta.url);

export function newTable(options?: CliTable.TableConstructorOptions): Table {
  const Table = require("cli-table3") as typeof CliTable;
  return new Table(options);
}
