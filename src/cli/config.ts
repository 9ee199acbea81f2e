/**
 * `flowctl config set | unset | view | validate`: the user profile ($PREFECT_HOME/profile.json)
 * or, with --local, the project's `.prefectrc.json` in the current folder.
 *
 * Every argument is checked before any file is touched; the file is then changed under its lock
 * in one atomic write (see settings/file-io.ts), so a bad key, a bad value or a corrupt file
 * leaves everything as it was.
 */
import type { Command } from "commander";
import { FitTable } from "./fit-table.ts";
import { dirname, join, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { resolveSettings, type ResolvedSetting } from "../settings/index.ts";
import { SETTINGS, SETTINGS_BY_KEY, formatSettingValue, parseSettingValue, type SettingSpec } from "../settings/schema.ts";
import { profilePath, readProjectLayer, type FileLayer } from "../settings/layers.ts";
import { readJsonObjectFile, updateJsonFile } from "../settings/file-io.ts";
import { parseAssignments, specFor, unknownSettingMessage } from "../settings/assignments.ts";
import { settingsHelpText } from "../settings/describe.ts";
import { action, EXIT } from "./util.ts";

interface Target {
  path: string;
  what: "profile" | "project file";
  /** the project file in effect here, if any (its values override the profile's) */
  project: FileLayer | undefined;
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const warn = (line: string) => process.stderr.write(`flowctl: warning: ${line}\n`);
const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

export function registerConfigCommand(program: Command): void {
  const config = program
    .command("config")
    .description("View, change and check settings (the PREFECT_* keys)")
    .addHelpText("after", settingsHelpText());

  config
    .command("set")
    .description("Set settings in the user profile, or in ./.prefectrc.json with --local")
    .argument("<KEY=VALUE...>", "one or more settings; lists as [1, 10, 100] or 1,10,100")
    .option("--local", "write .prefectrc.json in the current folder instead of the user profile")
    .addHelpText("after", `\nExamples:\n  flowctl config set PREFECT_TASK_DEFAULT_RETRIES=2\n  flowctl config set PREFECT_TASK_DEFAULT_RETRY_DELAY_SECONDS = [1, 10, 100]\n${settingsHelpText()}`)
    .action(action((words: string[], opts: { local?: boolean }) => setSettings(words, opts.local === true)));

  config
    .command("unset")
    .description("Remove settings from the user profile, or from ./.prefectrc.json with --local")
    .argument("<KEY...>", "setting names")
    .option("--local", "edit .prefectrc.json in the current folder instead of the user profile")
    .action(action((keys: string[], opts: { local?: boolean }) => unsetSettings(keys, opts.local === true)));

  config
    .command("view")
    .description("Show the settings in force and where each comes from")
    .option("--show-defaults", "also list settings left at their default")
    .option("--show-sources", "say where each value comes from (the default)")
    .option("--hide-sources", "do not say where values come from")
    .option("--show-secrets", "show secret values instead of ********")
    .option("--json", "print a JSON object on stdout")
    .action(action((opts: ViewOptions) => viewSettings(opts)));

  config
    .command("validate")
    .description("Check every source of settings; exit 2 listing each problem")
    .action(action(() => validateSettings()));
}

function findTarget(local: boolean): Target {
  const cwd = process.cwd();
  // a corrupt project file stops the command here, before anything is written
  const project = readProjectLayer(cwd);
  if (local) return { path: join(cwd, ".prefectrc.json"), what: "project file", project };
  const home = resolveSettings({ cwd, problems: [] }).settings.PREFECT_HOME;
  return { path: profilePath(home), what: "profile", project };
}

async function setSettings(words: string[], local: boolean): Promise<number> {
  const changes = new Map<string, unknown>();
  for (const { key, text } of parseAssignments(words)) {
    const spec = specFor(key);
    if (spec.settable === false) {
      throw new UsageError(`'${key}' cannot be set with 'flowctl config set': the profile lives under it. Set it in the environment instead (export ${key}=...).`);
    }
    let value = parseSettingValue(spec, text);
    // the profile is read from any folder, so a relative path is made absolute now
    if (spec.type === "path" && !local) value = resolve(String(value));
    changes.set(key, value);
  }
  const target = findTarget(local);
  await updateJsonFile(target.path, target.what, (values) => {
    for (const [key, value] of changes) values[key] = value;
  }, { mode: local ? 0o644 : 0o600 });

  for (const [key, value] of changes) out(`Set '${key}' to '${shown(SETTINGS_BY_KEY.get(key)!, value, false)}'.`);
  out(`Updated ${target.what} ${target.path}.`);
  warnOverrides([...changes.keys()], target, "the value just set");
  const { project } = target;
  if (local && project && project.path !== target.path) {
    warn(dirname(project.path) === dirname(target.path)
      ? `${project.path} is read before ${target.path}, so the values just set are not in effect.`
      : `${target.path} is now the project file here, in place of ${project.path} (project files are not merged).`);
  }
  return EXIT.OK;
}

async function unsetSettings(keys: string[], local: boolean): Promise<number> {
  const target = findTarget(local);
  const check = (values: Record<string, unknown>) => {
    for (const key of keys) {
      if (hasOwn(values, key)) continue;
      throw new UsageError(SETTINGS_BY_KEY.has(key) ? `'${key}' is not set in the ${target.what} ${target.path}.` : unknownSettingMessage(key));
    }
  };
  // checked once before taking the lock (so a missing file is not created) and again under it
  check(readJsonObjectFile(target.path, target.what) ?? {});
  await updateJsonFile(target.path, target.what, (values) => {
    check(values);
    for (const key of keys) delete values[key];
  }, { mode: local ? 0o644 : 0o600 });

  for (const key of keys) out(`Unset '${key}'.`);
  out(`Updated ${target.what} ${target.path}.`);
  warnOverrides(keys, target, "it");
  return EXIT.OK;
}

/** Say when a stronger source still decides a key that was just changed. */
function warnOverrides(keys: string[], target: Target, what: string): void {
  for (const key of keys) {
    const env = process.env[key];
    if (env !== undefined && env !== "") {
      warn(`'${key}' is also set in the environment (${key}='${env}'), which overrides ${what}.`);
    } else if (target.what === "profile" && target.project && hasOwn(target.project.values, key)) {
      warn(`'${key}' is also set in the project file ${target.project.path}, which overrides ${what}.`);
    }
  }
}

interface ViewOptions {
  showDefaults?: boolean;
  showSources?: boolean;
  hideSources?: boolean;
  showSecrets?: boolean;
  json?: boolean;
}

function viewSettings(opts: ViewOptions): number {
  const { sources } = resolveSettings();
  const rows = SETTINGS.map((spec) => sources.get(spec.key)!).filter((r) => opts.showDefaults || r.source !== "default");
  const withSources = !opts.hideSources;
  const value = (r: ResolvedSetting) => shown(SETTINGS_BY_KEY.get(r.key)!, r.value, opts.showSecrets === true);
  if (opts.json) {
    const entries = rows.map((r) => {
      const v = SETTINGS_BY_KEY.get(r.key)!.secret && !opts.showSecrets ? value(r) : r.value;
      return [r.key, withSources ? { value: v, source: r.source, ...(r.origin ? { origin: r.origin } : {}) } : v];
    });
    out(JSON.stringify(Object.fromEntries(entries), null, 2));
    return EXIT.OK;
  }
  if (rows.length === 0) {
    process.stderr.write("No settings are set; `flowctl config view --show-defaults` lists them all.\n");
    return EXIT.OK;
  }
  if (process.stdout.isTTY) {
    const table = new FitTable(withSources ? ["Setting", "Value", "Source"] : ["Setting", "Value"]);
    for (const r of rows) table.push(withSources ? [r.key, value(r), sourceText(r)] : [r.key, value(r)]);
    out(table.toString());
  } else {
    for (const r of rows) out(`${r.key}='${value(r)}'${withSources ? ` (from ${sourceText(r)})` : ""}`);
  }
  return EXIT.OK;
}

function validateSettings(): number {
  const problems: string[] = [];
  const { sources, layers } = resolveSettings({ problems });
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`flowctl: error: ${p}\n`);
    return EXIT.USAGE;
  }
  const count = (n: number) => `${n} setting${n === 1 ? "" : "s"}`;
  const project = layers.find((l) => l.source === "project");
  const profile = layers.find((l) => l.source === "profile");
  const fromEnv = [...sources.values()].filter((r) => r.source === "env").length;
  out("Settings are valid.");
  out(`  project file: ${project ? `${project.path} (${count(Object.keys(project.values).length)})` : `none found from ${process.cwd()} up`}`);
  const home = String(sources.get("PREFECT_HOME")!.value);
  out(`  profile: ${profile ? `${profile.path} (${count(Object.keys(profile.values).length)})` : `${profilePath(home)} (not created yet)`}`);
  out(`  environment: ${count(fromEnv)}`);
  return EXIT.OK;
}

function sourceText(r: ResolvedSetting): string {
  switch (r.source) {
    case "env": return "env";
    case "project": return `project file ${r.origin}`;
    case "profile": return "profile";
    case "default": return "defaults";
  }
}

function shown(spec: SettingSpec, value: unknown, showSecrets: boolean): string {
  return spec.secret && !showSecrets && value !== "" ? "********" : formatSettingValue(value);
}
