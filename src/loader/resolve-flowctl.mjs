// Module resolve hook:
// - the bare specifier "flowctl" (and "flowctl/...") always names the flowctl that is running,
//   so a workflow file anywhere on disk shares its engine and registry;
// - TypeScript files outside node_modules load as ES modules (workflow files are ES modules
//   by contract), even where no package.json says "type": "module".
const entry = new URL("../index.ts", import.meta.url).href;
const pkgRoot = new URL("../../", import.meta.url);

export async function resolve(specifier, context, nextResolve) {
  if (specifier === "flowctl") return { url: entry, format: "module", shortCircuit: true };
  if (specifier.startsWith("flowctl/")) {
    return nextResolve(new URL(specifier.slice("flowctl/".length), pkgRoot).href, context);
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
