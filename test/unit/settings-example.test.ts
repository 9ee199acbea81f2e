import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { renderPrefectrcExample } from "../../src/settings/describe.ts";
import { SETTINGS } from "../../src/settings/schema.ts";

const path = new URL("../../.prefectrc.example", import.meta.url);

test(".prefectrc.example matches the schema (regenerate: node --import tsx scripts/gen-prefectrc-example.ts)", () => {
  assert.equal(readFileSync(path, "utf8"), renderPrefectrcExample());
});

test("it lists every key with a default, and no machine-specific path", () => {
  const text = readFileSync(path, "utf8");
  for (const spec of SETTINGS) assert.match(text, new RegExp(`^# ${spec.key}: .+$`, "m"), spec.key);
  assert.match(text, /^# PREFECT_HOME: "~\/\.flowctl"$/m);
  assert.match(text, /^# PREFECT_LOCAL_STORAGE_PATH: "~\/\.flowctl\/storage"$/m);
  if (homedir().length > 1) assert.ok(!text.includes(homedir()), "home directory written out");
});
