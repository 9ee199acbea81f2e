// Module resolve hook:
// - the bare specifier "flowctl" (and "flowctl/SUBPATH") always names the flowctl that is
//   running, so a workflow file anywhere on disk shares its engine and registry. The running
//   copy is the compiled one (dist/) or, in this repository's tests, the sources (src/): the
//   hook resolves to the tree it sits in. Subpaths follow package.json's `exports`.
// - TypeScript files outside node_modules load as ES modules (workflow files are ES modules
//   by contract), even where no package.json says "type": "module".
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const tree = new URL("../", import.meta.url); // dist/ or src/
const pkgRoot = new URL("../", tree);
const compiled = existsSync(fileURLToPath(new URL("index.js", tree)));
const ext = compiled ? ".js" : ".ts";
let exportsMap;

/** `exports` target of `./SUBPATH` in this tree, or undefined when the package does not export it. */
function target(subpath) {
  exportsMap ??= JSON.parse(readFileSync(new URL("package.json", pkgRoot), "utf8")).exports ?? {};
  let t = exportsMap[subpath === "" ? "." : `./${subpath}`];
  while (t && typeof t === "object") t = t.import ?? t.default;
  if (typeof t !== "string") return undefined;
  if (!t.startsWith("./dist/")) return new URL(t, pkgRoot).href;
  // ./dist/X.js → this tree's X.js (compiled) or X.ts (sources)
  return new URL(t.slice("./dist/".length).replace(/\.js$/, ext), tree).href;
}

export async function resolve(specifier, context, nextResolve) {
  if (specifier === "flowctl" || specifier.startsWith("flowctl/")) {
    const url = target(specifier.slice("flowctl/".length));
    if (url) return { url, format: url.endsWith(".json") ? "json" : "module", shortCircuit: true };
    // not exported: let Node say so, resolving from the package itself
    return nextResolve(specifier, { ...context, parentURL: new URL("package.json", pkgRoot).href });
  }
  const res = await nextResolve(specifier, context);
  if (
    res.url.startsWith("file:") &&
    /\.(ts|tsx)$/.test(res.url) &&
    !res.url.includes("/node_modules/") &&
    res.format !== "module"
  ) {
    return { ...res, format: "module" };
  }
  return res;
}
