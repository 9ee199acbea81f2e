/**
 * Text made from the schema: `.prefectrc.example` and the settings list in `flowctl config --help`.
 * Defaults under the home directory are shown as `~/...`, so the text is the same on every machine.
 */
import { homedir } from "node:os";
import { SETTINGS, formatSettingValue, type SettingSpec } from "./schema.ts";

/** Every key's default, with this machine's home directory written `~`. */
export function symbolicDefaults(): Map<string, unknown> {
  const resolved: Record<string, unknown> = {};
  const out = new Map<string, unknown>();
  const home = homedir();
  for (const spec of SETTINGS) {
    resolved[spec.key] = spec.default(resolved);
    const value = resolved[spec.key];
    out.set(spec.key, typeof value === "string" && home.length > 1 ? value.split(home).join("~") : value);
  }
  return out;
}

export function typeLabel(spec: SettingSpec): string {
  switch (spec.type) {
    case "int": return spec.minimum === 0 ? "integer ≥ 0" : "integer";
    case "number": return "number";
    case "number-list": return "number or list of numbers";
    case "boolean": return "true/false";
    case "log-level": return (spec.choices ?? []).join("|");
    case "path": return "path";
    case "url": return "URL or path";
    case "string": return "string";
    case "regex": return "regular expression";
  }
}

/** A value as YAML (strings quoted, so the line stays valid when uncommented). */
function yamlValue(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : formatSettingValue(value);
}

export function renderPrefectrcExample(): string {
  const defaults = symbolicDefaults();
  const lines = [
    "# Every flowctl setting, with its default. Generated from src/settings/schema.ts by",
    "# `node --import tsx scripts/gen-prefectrc-example.ts`; edit the schema, not this file.",
    "#",
    "# Copy it to `.prefectrc` (YAML) in your project and uncomment the lines you change. The same",
    "# keys work in .prefectrc.json, .prefectrc.yaml, prefect.config.{ts,js,mjs}, or under a",
    "# \"prefect\" key in package.json; the nearest such file from the working directory up is used.",
    "# Sources, strongest first: the task/flow option, the environment variable, the project file,",
    "# the user profile (`flowctl config set`), the default. Relative paths in a project file are",
    "# relative to that file.",
  ];
  for (const spec of SETTINGS) {
    const notes = [typeLabel(spec)];
    if (spec.settable === false) notes.push("not settable with `flowctl config set`");
    lines.push("", `# ${spec.description} [${notes.join("; ")}]`, `# ${spec.key}: ${yamlValue(defaults.get(spec.key))}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The settings list appended to `flowctl config --help` and `flowctl config set --help`. */
export function settingsHelpText(): string {
  const defaults = symbolicDefaults();
  const lines = ["", "Settings:"];
  for (const spec of SETTINGS) {
    lines.push(`  ${spec.key}  (${typeLabel(spec)}, default ${shownDefault(defaults.get(spec.key))})`);
    lines.push(`      ${spec.description}`);
  }
  return lines.join("\n");
}

function shownDefault(value: unknown): string {
  return value === "" ? "empty" : formatSettingValue(value);
}
