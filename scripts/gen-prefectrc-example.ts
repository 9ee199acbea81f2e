/**
 * Writes `.prefectrc.example` at the repository root from the settings schema.
 * `node --import tsx scripts/gen-prefectrc-example.ts [--check]`; with --check it writes nothing
 * and exits 1 when the file is out of date (test/unit/settings-example.test.ts does the same).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderPrefectrcExample } from "../src/settings/describe.ts";

const path = fileURLToPath(new URL("../.prefectrc.example", import.meta.url));
const text = renderPrefectrcExample();

if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {
    // missing counts as out of date
  }
  if (current !== text) {
    console.error(`${path} is out of date; run: node --import tsx scripts/gen-prefectrc-example.ts`);
    process.exitCode = 1;
  }
} else {
  writeFileSync(path, text);
  console.log(`wrote ${path}`);
}
