/**
 * `npm run bench [-- --json] [-- NAME...]`: runs every `bench/*.bench.ts` (each exports a default
 * async function returning its figures, measured against a raw baseline in the same run) and
 * prints them. Numbers go to stdout; `--json` prints one JSON object.
 */
import { readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface BenchFigure {
  name: string;
  /** what was measured, e.g. "10,000 sequential no-op tasks, store on, logging WARNING" */
  description: string;
  metrics: Record<string, number | string>;
}

export type Bench = () => Promise<BenchFigure[]>;

const args = process.argv.slice(2);
const json = args.includes("--json");
const only = args.filter((a) => !a.startsWith("--"));
const dir = fileURLToPath(new URL(".", import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith(".bench.ts")).sort();
const results: BenchFigure[] = [];
for (const f of files) {
  const name = f.replace(/\.bench\.ts$/, "");
  if (only.length && !only.includes(name)) continue;
  const mod = (await import(pathToFileURL(dir + f).href)) as { default: Bench };
  const figures = await mod.default();
  results.push(...figures);
  if (!json) {
    for (const fig of figures) {
      process.stdout.write(`\n${fig.name}: ${fig.description}\n`);
      for (const [k, v] of Object.entries(fig.metrics)) process.stdout.write(`  ${k.padEnd(34)} ${typeof v === "number" ? fmt(v) : v}\n`);
    }
  }
}
if (json) {
  process.stdout.write(JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2) + "\n");
}
process.exit(0);

function fmt(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toFixed(2);
}
