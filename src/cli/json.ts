/**
 * The `--json` contract (docs/json-output.md): one JSON document on stdout, ISO-8601 times,
 * and on an exit-2 error `{ "error": { code, message, problems? } }`.
 */
import { toJsonText } from "../engine/run-records.ts";

/** Write one JSON document (pretty, ending in a newline) on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(JSON.parse(toJsonText(value)), null, 2) + "\n");
}
