import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAssignments, specFor } from "../../src/settings/assignments.ts";
import { parseSettingValue } from "../../src/settings/schema.ts";
import { isFlowctlError } from "../../src/errors.ts";

test("KEY=VALUE pairs, several at once", () => {
  assert.deepEqual(parseAssignments(["PREFECT_TASK_DEFAULT_RETRIES=2", "PREFECT_LOGGING_LEVEL=DEBUG"]), [
    { key: "PREFECT_TASK_DEFAULT_RETRIES", text: "2" },
    { key: "PREFECT_LOGGING_LEVEL", text: "DEBUG" },
  ]);
});

test("the seed's spaced form, as the shell splits it", () => {
  const pairs = parseAssignments(["PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS", "=", "[1,", "10,", "100]"]);
  assert.deepEqual(pairs, [{ key: "PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS", text: "[1, 10, 100]" }]);
  assert.deepEqual(parseSettingValue(specFor(pairs[0]!.key), pairs[0]!.text), [1, 10, 100]);
});

test("mixed forms: KEY =VALUE, KEY= VALUE, and a pair after a spaced one", () => {
  assert.deepEqual(parseAssignments(["A", "=5", "B=", "1,2,", "3", "C", "=", "x"]), [
    { key: "A", text: "5" },
    { key: "B", text: "1,2, 3" },
    { key: "C", text: "x" },
  ]);
  assert.deepEqual(parseAssignments(["A=", "B=1"]), [{ key: "A", text: "" }, { key: "B", text: "1" }]);
  assert.deepEqual(parseAssignments(["URL=postgresql://u:p@h/db?sslmode=require"]), [{ key: "URL", text: "postgresql://u:p@h/db?sslmode=require" }]);
});

test("list values: [1, 10, 100], 1,10,100 or one number", () => {
  const spec = specFor("PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS");
  assert.deepEqual(parseSettingValue(spec, "1,10,100"), [1, 10, 100]);
  assert.deepEqual(parseSettingValue(spec, "[5]"), [5]);
  assert.equal(parseSettingValue(spec, "5"), 5);
});

test("a word that is no pair, and unknown names with the closest valid one", () => {
  assert.throws(() => parseAssignments(["oops"]), (e: unknown) => isFlowctlError(e, "USAGE") && /Expected KEY=VALUE, got 'oops'/.test((e as Error).message));
  assert.throws(() => specFor("PREFECT_TASK_DEFAULT_RETRIS"), {
    message: "Unknown setting name 'PREFECT_TASK_DEFAULT_RETRIS'. Did you mean 'PREFECT_TASK_DEFAULT_RETRIES'?",
  });
  assert.throws(() => specFor("XYZ"), { message: "Unknown setting name 'XYZ'." });
});
