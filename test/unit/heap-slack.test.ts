/**
 * The heap's slack while flows run (engine/heap-slack.ts): 20 % over what is live while the live
 * heap is small, V8's own growing factor once it is large, with a gap between the two bounds so
 * a heap near one of them does not switch back and forth. (Its effect, peak RSS, is measured by
 * `npm run bench -- engine`, not asserted: it depends on the machine.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { slackFor } from "../../src/engine/heap-slack.ts";

const MB = 2 ** 20;
const MODULE = new URL("../../src/engine/heap-slack.ts", import.meta.url).href;

test("a small live heap gets 20 % of slack, a large one V8's own factor, with a gap between", () => {
  assert.equal(slackFor(30 * MB, "off"), "small");
  assert.equal(slackFor(600 * MB, "off"), "large");
  assert.equal(slackFor(600 * MB, "small"), "large");
  // between the bounds: stays as it was
  assert.equal(slackFor(300 * MB, "large"), "large");
  assert.equal(slackFor(300 * MB, "small"), "small");
  assert.equal(slackFor(300 * MB, "off"), "small");
  assert.equal(slackFor(200 * MB, "large"), "small");
});

test("after a full collection the live heap decides: large user data gets V8's own factor back, small again the slack", () => {
  // in a fresh process: the flag is process-wide
  const script = `
    import { boundHeapSlack, currentSlack } from "${MODULE}";
    const seen = [];
    const settle = () => new Promise((r) => setTimeout(r, 50));
    boundHeapSlack();
    seen.push(currentSlack());
    let big = Array.from({ length: 700 }, () => new Array(128 * 1024).fill(1.5)); // ≈ 700 MB live
    globalThis.gc();
    await settle();
    seen.push(currentSlack());
    big = undefined;
    globalThis.gc();
    await settle();
    seen.push(currentSlack());
    console.log(JSON.stringify(seen));
  `;
  const out = spawnSync(process.execPath, ["--expose-gc", "--conditions=flowctl-source", "--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
  });
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout.trim()), ["small", "large", "small"]);
});

test("a growing factor given to the process is left alone", () => {
  const script = `
    import { boundHeapSlack, currentSlack } from "${MODULE}";
    boundHeapSlack();
    console.log(currentSlack());
  `;
  const out = spawnSync(process.execPath, ["--heap-growing-percent=50", "--conditions=flowctl-source", "--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
  });
  assert.equal(out.status, 0, out.stderr);
  assert.equal(out.stdout.trim(), "off");
});
