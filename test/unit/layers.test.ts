// The source tree's layers go one way:
//   cli / server / worker / testing / index.ts  →  sdk  →  engine  →  runners / store / results / logging / settings  →  errors
// A lower layer never imports a higher one, not even a type (it receives a callback or an
// interface instead), and no files import each other round in a cycle, inside a layer either.
// Imports are read with the TypeScript compiler's parser, not with patterns. A cycle is about
// loading: `import type` statements are erased (verbatimModuleSyntax) and a dynamic `import()`
// loads only when called, so both take part in the layer check but not in the cycle check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("../..", import.meta.url));
const src = join(root, "src");

/** Rank of each layer: a file may import files of its own rank or lower. */
const LAYERS: Record<string, number> = {
  "errors.ts": 0,
  "clock.ts": 0,
  "abort-fanout.ts": 0,
  "private-files.ts": 0,
  "version.ts": 0,
  settings: 1,
  logging: 1,
  results: 1,
  store: 1,
  runners: 1,
  engine: 2,
  sdk: 3,
  cli: 4,
  server: 4,
  worker: 4,
  loader: 4,
  testing: 4,
  "index.ts": 4,
};

function layerOf(file: string): string {
  const first = relative(src, file).split(sep)[0]!;
  if (!(first in LAYERS)) throw new Error(`src/${first} belongs to no layer: add it to LAYERS in test/unit/layers.test.ts`);
  return first;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** `x.js` named by code that also runs compiled (dist/) is `x.ts` in the sources. */
function compiledFrom(path: string): string {
  if (path.endsWith(".js") && !existsSync(path) && existsSync(path.slice(0, -3) + ".ts")) return path.slice(0, -3) + ".ts";
  return path;
}

interface Import {
  path: string;
  /** erased at compile time (`import type …`, `export type … from`) */
  typeOnly: boolean;
  /** `import()`: loads when called, not when the module loads */
  lazy?: boolean;
}

/** Relative imports of a file that land inside src/ (static, re-exports and dynamic `import()`). */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith("js") ? ts.ScriptKind.JS : ts.ScriptKind.TS);
  const out: { spec: string; typeOnly: boolean; lazy?: boolean }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push({ spec: node.moduleSpecifier.text, typeOnly: node.importClause?.isTypeOnly ?? false });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push({ spec: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg && ts.isStringLiteralLike(arg)) out.push({ spec: arg.text, typeOnly: false, lazy: true });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      out.push({ spec: node.argument.literal.text, typeOnly: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out
    .filter((i) => i.spec.startsWith("."))
    .map((i) => ({ path: compiledFrom(resolve(dirname(file), i.spec)), typeOnly: i.typeOnly, lazy: i.lazy === true }))
    .filter((i) => i.path.startsWith(src + sep));
}

const files = sourceFiles(src);
const imports = new Map(files.map((f) => [f, importsOf(f)]));
/** every import, types included (the layer check) */
const graph = new Map([...imports].map(([f, list]) => [f, list.map((i) => i.path)]));
/** imports that load a module (the cycle check) */
const loads = new Map([...imports].map(([f, list]) => [f, list.filter((i) => !i.typeOnly && !i.lazy).map((i) => i.path)]));
const rel = (f: string) => relative(root, f);

test("every src file belongs to a layer and imports resolve to files", () => {
  const missing: string[] = [];
  assert.ok(graph.get(join(src, "index.ts"))!.length > 10, "imports are found");
  for (const [file, deps] of graph) {
    layerOf(file);
    for (const d of deps) if (!graph.has(d)) missing.push(`${rel(file)} → ${rel(d)}`);
  }
  assert.deepEqual(missing, [], `imports of files that do not exist:\n${missing.join("\n")}`);
});

test("no import goes up the layers", () => {
  const wrong: string[] = [];
  for (const [file, deps] of graph) {
    const from = layerOf(file);
    for (const d of deps) {
      const to = layerOf(d);
      if (LAYERS[to]! > LAYERS[from]!) wrong.push(`${rel(file)} (${from}) imports ${rel(d)} (${to})`);
    }
  }
  assert.deepEqual(wrong, [], `imports against the layer order:\n${wrong.join("\n")}`);
});

/** Strongly connected components with more than one file (or a file importing itself). */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (g.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return out;
}

test("no import cycles (modules that load each other)", () => {
  const found = cycles(loads).map((c) => c.map(rel).join(", "));
  assert.deepEqual(found, [], `files that import each other in a cycle:\n${found.join("\n")}`);
});

test("the cycle finder finds cycles (self-check)", () => {
  const g = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]], ["e", ["e"]]]);
  assert.deepEqual(cycles(g).map((c) => c.join(",")).sort(), ["a,b,c", "e"]);
});
