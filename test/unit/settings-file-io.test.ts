import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { updateJsonFile } from "../../src/settings/file-io.ts";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-io-"));
  dirs.push(dir);
  return join(dir, "profile.json");
}

test("concurrent updates of different keys all land, and leave no temp or lock file", async () => {
  const path = tempFile();
  await Promise.all(Array.from({ length: 25 }, (_, i) => updateJsonFile(path, "profile", (v) => { v[`K${i}`] = i; })));
  const values = JSON.parse(readFileSync(path, "utf8")) as Record<string, number>;
  assert.equal(Object.keys(values).length, 25);
  assert.deepEqual(readdirSync(join(path, "..")), ["profile.json"]);
});

test("a change that throws leaves the file byte-for-byte as it was", async () => {
  const path = tempFile();
  writeFileSync(path, '{"A": 1}');
  await assert.rejects(updateJsonFile(path, "profile", () => { throw new Error("no"); }), /no/);
  assert.equal(readFileSync(path, "utf8"), '{"A": 1}');
  assert.deepEqual(readdirSync(join(path, "..")), ["profile.json"]);
});

test("a corrupt file is refused and kept", async () => {
  const path = tempFile();
  writeFileSync(path, '{"A": 1,');
  await assert.rejects(updateJsonFile(path, "profile", (v) => { v.B = 2; }), { code: "CONFIG_ERROR", message: /^Corrupt profile .*profile\.json:1:\d+/ });
  assert.equal(readFileSync(path, "utf8"), '{"A": 1,');
});

test("a lock left by a process that has exited, or an old one, is taken over", async () => {
  const path = tempFile();
  const dead = spawnSync(process.execPath, ["-e", ""]).pid;
  writeFileSync(`${path}.lock`, String(dead));
  await updateJsonFile(path, "profile", (v) => { v.A = 1; });
  writeFileSync(`${path}.lock`, String(process.ppid));
  const old = new Date(Date.now() - 60_000);
  utimesSync(`${path}.lock`, old, old);
  await updateJsonFile(path, "profile", (v) => { v.B = 2; });
  assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), { A: 1, B: 2 });
});
