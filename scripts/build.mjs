#!/usr/bin/env node
// Builds dist/ from src/: `tsc -p tsconfig.build.json` (incremental: an unchanged tree takes a
// second or two) emits ES modules, .d.ts and source maps; the files tsc does not emit (the web
// UI's assets, SQL migrations, the TypeScript probe, plain .mjs files that come with a hand-written
// .d.mts) are copied; dist files whose source is gone
// are removed; dist/.build-stamp records when src/ was last built (scripts/dist-check.mjs
// compares it with src/ so that nothing runs a stale dist/ in this checkout).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const src = join(root, "src");
const dist = join(root, "dist");
const require = createRequire(import.meta.url);

/** Source files tsc compiles; everything else under src/ is copied as is. */
const COMPILED = /\.(ts|mts|mjs)$/;
/** Loaded only through a TypeScript loader (see src/loader/hooks.ts): copied, never compiled. */
const COPIED_TS = new Set(["loader/ts-probe.ts"]);
/** Hand-written declarations (X.d.mts beside X.mjs): tsc reads them instead of compiling X.mjs, so both are copied. */
const DECLARED = /\.d\.m?ts$/;
function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

// a source saved while tsc runs must count as newer than this build
const started = new Date();
const tsc = require.resolve("typescript/bin/tsc");
const res = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { cwd: root, stdio: "inherit" });
if (res.status !== 0) {
  console.error("build: tsc failed");
  process.exit(res.status ?? 1);
}

// what tsc emits for each source
function outputs(rel) {
  const m = /^(.*)\.(ts|mts|mjs)$/.exec(rel);
  if (!m) return [rel];
  const [js, dts] = m[2] === "ts" ? [".js", ".d.ts"] : [".mjs", ".d.mts"];
  return [js, `${js}.map`, dts, `${dts}.map`].map((ext) => m[1] + ext);
}

// copy what tsc does not emit, only when it changed (a running test may be reading it)
const sources = walk(src).map((file) => relative(src, file));
const declared = new Set(sources.filter((rel) => DECLARED.test(rel)).map((rel) => rel.replace(DECLARED, "")));
const expected = new Set();
for (const rel of sources) {
  const copied = !COMPILED.test(rel) || COPIED_TS.has(rel) || DECLARED.test(rel) || (rel.endsWith(".mjs") && declared.has(rel.slice(0, -4)));
  if (!copied) {
    for (const out of outputs(rel)) expected.add(out);
    continue;
  }
  expected.add(rel);
  const to = join(dist, rel);
  let body = readFileSync(join(src, rel));
  // a hand-written declaration's relative imports name the compiled files, as tsc's own do
  if (DECLARED.test(rel)) body = Buffer.from(body.toString("utf8").replace(/(from\s+["']\.{1,2}\/[^"']*)\.ts(["'])/g, "$1.js$2"));
  if (existsSync(to) && readFileSync(to).equals(body)) continue;
  mkdirSync(dirname(to), { recursive: true });
  writeFileSync(to, body);
}

// remove what a deleted or renamed source left behind
for (const file of walk(dist)) {
  const rel = relative(dist, file);
  if (!rel.startsWith(".") && !expected.has(rel)) rmSync(file);
}

const stamp = join(dist, ".build-stamp");
writeFileSync(stamp, `${started.toISOString()}\n`);
utimesSync(stamp, started, started);
