/**
 * `flowctl concurrency-limit create TAG N | ls | inspect TAG | delete TAG | reset TAG`: tag
 * concurrency limits, kept in the run store and enforced across every process sharing it.
 */
import type { Command } from "commander";
import { sanitizeKeepingColors } from "../logging/sanitize.ts";
import { printJson } from "./json.ts";
import { FitTable } from "./fit-table.ts";
import { UsageError } from "../errors.ts";
import { getReadableStore, getStore } from "../store/index.ts";
import type { ConcurrencyLimitRow, ConcurrencySlotRow, RunStore } from "../store/types.ts";
import { action, EXIT } from "./util.ts";

// user data (tags, task and run names) is printed escaped: no control character reaches the terminal raw
const out = (line: string) => process.stdout.write(`${sanitizeKeepingColors(line, true)}\n`);

export function registerConcurrencyLimitCommand(program: Command): void {
  const cmd = program
    .command("concurrency-limit")
    .description("Limit how many task runs with a tag run at once, across every process sharing the run store");
  cmd
    .command("create")
    .description("Create a tag's limit, or change it (0 makes runs with the tag fail at once)")
    .argument("<tag>", "the tag")
    .argument("<limit>", "most task runs with the tag running at once (a whole number ≥ 0)")
    .action(action((tag: string, limit: string) => create(tag, limit)));
  cmd
    .command("ls")
    .description("List the limits with the slots held now")
    .option("--json", "print a JSON array on stdout")
    .action(action((opts: { json?: boolean }) => list(opts)));
  cmd
    .command("inspect")
    .description("Show a limit and the task runs holding its slots")
    .argument("<tag>", "the tag")
    .option("--json", "print a JSON object on stdout")
    .action(action((tag: string, opts: { json?: boolean }) => inspect(tag, opts)));
  cmd
    .command("delete")
    .description("Delete a tag's limit (its runs are no longer limited)")
    .argument("<tag>", "the tag")
    .action(action((tag: string) => remove(tag)));
  cmd
    .command("reset")
    .description("Free every slot of a tag's limit (e.g. held by runs that will never finish), keeping the limit")
    .argument("<tag>", "the tag")
    .action(action((tag: string) => reset(tag)));
}

function checkTag(tag: string): string {
  if (tag.trim() === "") throw new UsageError("Expected a tag name, got ''");
  return tag;
}

function parseLimit(raw: string): number {
  const n = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new UsageError(`Expected the limit to be a whole number ≥ 0, got '${raw}'`);
  }
  return n;
}

/** `forWriting`: create the store when missing; otherwise a missing store reads as empty. */
async function openStore(forWriting = false): Promise<RunStore> {
  try {
    return forWriting ? await getStore() : await getReadableStore();
  } catch (err) {
    throw new UsageError((err as Error).message, "CONFIG_ERROR");
  }
}

const notFound = (tag: string) =>
  new UsageError(`No concurrency limit for tag '${tag}'. List the limits with 'flowctl concurrency-limit ls'.`);

async function create(tagArg: string, rawLimit: string): Promise<number> {
  const tag = checkTag(tagArg);
  const limit = parseLimit(rawLimit);
  const store = await openStore(true);
  const before = await store.getConcurrencyLimit(tag);
  await store.createConcurrencyLimit(tag, limit);
  const runs = `${limit} task run${limit === 1 ? "" : "s"} at once`;
  if (before === undefined) out(`Created concurrency limit for tag '${tag}': ${runs}.`);
  else if (before.limit === limit) out(`Concurrency limit for tag '${tag}' is already ${limit}.`);
  else out(`Updated concurrency limit for tag '${tag}' from ${before.limit} to ${limit}: ${runs}.`);
  if (limit === 0) out(`Task runs with tag '${tag}' will fail at once until the limit is raised or deleted.`);
  return EXIT.OK;
}

async function list(opts: { json?: boolean }): Promise<number> {
  const store = await openStore();
  const limits = await store.listConcurrencyLimits();
  if (opts.json) {
    printJson(limits.map(limitJson));
    return EXIT.OK;
  }
  if (limits.length === 0) {
    out("No concurrency limits. Create one with 'flowctl concurrency-limit create TAG N'.");
    return EXIT.OK;
  }
  const table = new FitTable(["Tag", "Limit", "Active", "Created", "Updated"]);
  for (const l of limits) table.push([l.tag, String(l.limit), String(l.active), time(l.created), time(l.updated)]);
  out(table.toString());
  return EXIT.OK;
}

async function inspect(tagArg: string, opts: { json?: boolean }): Promise<number> {
  const tag = checkTag(tagArg);
  const store = await openStore();
  const limit = await store.getConcurrencyLimit(tag);
  if (!limit) throw notFound(tag);
  const names = await holderNames(store, limit.slots);
  if (opts.json) {
    printJson({ ...limitJson(limit), slots: limit.slots.map((s) => slotJson(s, names.get(s.holderId))) });
    return EXIT.OK;
  }
  out(`Tag:      ${limit.tag}`);
  out(`Limit:    ${limit.limit}`);
  out(`Active:   ${limit.active} slot${limit.active === 1 ? "" : "s"}`);
  out(`Created:  ${time(limit.created)}`);
  out(`Updated:  ${time(limit.updated)}`);
  for (const s of limit.slots) {
    const who = names.has(s.holderId) ? `task run '${names.get(s.holderId)}' (${s.holderId})` : `task run ${s.holderId}`;
    out(`  - ${who}, held by ${s.owner} since ${time(s.acquired)}, lease until ${time(s.leaseExpires)}`);
  }
  return EXIT.OK;
}

async function remove(tagArg: string): Promise<number> {
  const tag = checkTag(tagArg);
  const store = await openStore();
  if (!(await store.deleteConcurrencyLimit(tag))) throw notFound(tag);
  out(`Deleted concurrency limit for tag '${tag}'.`);
  return EXIT.OK;
}

async function reset(tagArg: string): Promise<number> {
  const tag = checkTag(tagArg);
  const store = await openStore();
  const freed = await store.resetConcurrencyLimit(tag);
  if (freed === undefined) throw notFound(tag);
  out(`Reset concurrency limit for tag '${tag}': freed ${freed} slot${freed === 1 ? "" : "s"}.`);
  return EXIT.OK;
}

async function holderNames(store: RunStore, slots: ConcurrencySlotRow[]): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const s of slots) {
    const run = await store.getTaskRun(s.holderId);
    if (run && run.id === s.holderId) names.set(s.holderId, run.name);
  }
  return names;
}

function limitJson(l: ConcurrencyLimitRow) {
  return { tag: l.tag, limit: l.limit, active: l.active, created: iso(l.created), updated: iso(l.updated) };
}

function slotJson(s: ConcurrencySlotRow, name: string | undefined) {
  return { taskRunId: s.holderId, taskRunName: name ?? null, owner: s.owner, acquired: iso(s.acquired), leaseExpires: iso(s.leaseExpires) };
}

const iso = (ms: number) => new Date(ms).toISOString();

function time(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
