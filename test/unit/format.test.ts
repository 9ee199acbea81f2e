import { test } from "node:test";
import assert from "node:assert/strict";
import { formatColored, formatPlain, formatTime, makeChalk } from "../../src/logging/format.ts";

const at = (h: number, m: number, s: number, ms: number) => new Date(2026, 0, 2, h, m, s, ms).getTime();

test("console line: HH:MM:SS.mmm | LEVEL   | SOURCE - message (local time)", () => {
  assert.equal(formatTime(at(9, 5, 7, 12)), "09:05:07.012");
  const line = formatPlain({ level: 20, source: "flowctl.engine", message: "Created flow run 'great-ammonite' for flow 'get-repo-info'", timestamp: at(9, 55, 55, 412) });
  assert.equal(line, "09:55:55.412 | INFO    | flowctl.engine - Created flow run 'great-ammonite' for flow 'get-repo-info'");
  assert.equal(formatPlain({ level: 30, source: "x", message: "m", timestamp: at(0, 0, 0, 0) }), "00:00:00.000 | WARNING | x - m");
  assert.equal(formatPlain({ level: 50, source: "x", message: "m", timestamp: at(0, 0, 0, 0) }), "00:00:00.000 | CRITICAL | x - m");
});

test("colored lines color the level and state names, and strip back to the plain line", () => {
  const rec = { level: 40, source: "Task run 'a-0'", message: "Finished in state Failed('boom')", timestamp: at(1, 2, 3, 4) };
  const colored = formatColored(rec, makeChalk(true));
  assert.notEqual(colored, formatPlain(rec));
  assert.match(colored, /\u001b\[31m/); // red for ERROR / Failed
  assert.equal(colored.replace(/\u001b\[[0-9;]*m/g, ""), formatPlain(rec));
  assert.equal(formatColored(rec, makeChalk(false)), formatPlain(rec));
});
