// Module resolve hook: the bare specifier "flowctl" (and "flowctl/...") always names the
// flowctl that is running, so a workflow file anywhere on disk shares its engine and registry.
const entry = new URL("../index.ts", import.meta.url).href;
const pkgRoot = new URL("../../", import.meta.url);

export async function resolve(specifier, context, nextResolve) {
  if (specifier === "flowctl") return { url: entry, format: "module", shortCircuit: true };
  if (specifier.startsWith("flowctl/")) {
    return nextResolve(new URL(specifier.slice("flowctl/".length), pkgRoot).href, context);
  }
  return nextResolve(specifier, context);
}
