/**
 * scripts/dist-check.mjs: in a checkout, bin/flowctl and the CLI tests refuse a dist/ that is
 * missing or older than any file under src/ (or the tsconfig files), naming the newer file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { distProblem } from "../../scripts/dist-check.mjs";

function tree(t: { after: (fn: () => void) => void }): string {
  const root = mkdtempSync(join(tmpdir(), "flowctl-dist-check-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, "src/engine"), { recursive: true });
  writeFileSync(join(root, "src/index.ts"), "export {};\n");
  writeFileSync(join(root, "src/engine/a.ts"), "export {};\n");
  writeFileSync(join(root, "tsconfig.json"), "{}\n");
  writeFileSync(join(root, "tsconfig.build.json"), "{}\n");
  const past = new Date(Date.now() - 60_000);
  for (const p of ["src/index.ts", "src/engine/a.ts", "src/engine", "src", "tsconfig.json", "tsconfig.build.json"]) {
    utimesSync(join(root, p), past, past);
  }
  return root;
}

function build(root: string): void {
  mkdirSync(join(root, "dist"), { recursive: true });
  writeFileSync(join(root, "dist/.build-stamp"), "now\n");
}

test("a missing dist/ is refused with the command that builds it", (t) => {
  const root = tree(t);
  assert.match(distProblem(root) ?? "", /dist\/ is missing: run `npm run build`/);
});

test("a dist/ built after every source is accepted", (t) => {
  const root = tree(t);
  build(root);
  assert.equal(distProblem(root), undefined);
});

test("a source saved after the build makes dist/ stale, naming the file", (t) => {
  const root = tree(t);
  build(root);
  const later = new Date(Date.now() + 5_000);
  utimesSync(join(root, "src/engine/a.ts"), later, later);
  assert.equal(distProblem(root), "dist/ is older than src/engine/a.ts: run `npm run build` (scripts/run-tests.mjs builds before testing)");
});

test("a deleted source (its folder changed) or a changed tsconfig makes dist/ stale too", (t) => {
  const root = tree(t);
  build(root);
  const later = new Date(Date.now() + 5_000);
  utimesSync(join(root, "src/engine"), later, later);
  assert.match(distProblem(root) ?? "", /older than src\/engine:/);
  utimesSync(join(root, "tsconfig.build.json"), new Date(Date.now() + 10_000), new Date(Date.now() + 10_000));
  assert.match(distProblem(root) ?? "", /older than tsconfig\.build\.json:/);
});
