/**
 * CI reports of a `flowctl run`: the Markdown summary appended to `$GITHUB_STEP_SUMMARY` when it
 * is set (GitHub Actions shows it on the run's page) and the JUnit XML file of `--junit FILE`.
 * Both are written after the run's records are flushed; a report that cannot be written is a
 * warning on stderr, never a different exit code (the run's outcome is the exit code).
 */
import { appendFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { getStore } from "../store/index.ts";
import { collectReport, reportMarkdown } from "./report.ts";
import { reportJUnit } from "./junit.ts";

/** `--junit FILE`: its directory must exist and FILE must not be a directory (checked before the run). */
export function checkJunitPath(file: string | undefined): void {
  if (file === undefined) return;
  if (file.trim() === "") throw new UsageError("--junit expects a file path, got ''");
  const path = resolve(file);
  let dir;
  try {
    dir = statSync(dirname(path));
  } catch {
    throw new UsageError(`--junit ${file}: the directory ${dirname(path)} does not exist`);
  }
  if (!dir.isDirectory()) throw new UsageError(`--junit ${file}: ${dirname(path)} is not a directory`);
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`--junit ${file}: that is a directory; give a file name like ${file.replace(/\/?$/, "/junit.xml")}`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // no such file yet: it is created
  }
}

export async function writeCiReports(flowRunId: string, opts: { junit?: string | undefined }): Promise<void> {
  const summaryFile = process.env.GITHUB_STEP_SUMMARY;
  if (!summaryFile && opts.junit === undefined) return;
  let report;
  try {
    const store = await getStore();
    const row = await store.getFlowRun(flowRunId);
    if (!row) throw new Error(`flow run ${flowRunId} is not in the store`);
    report = await collectReport(store, row, { allTaskRuns: opts.junit !== undefined });
  } catch (err) {
    process.stderr.write(`flowctl: warning: no CI report: ${(err as Error).message}\n`);
    return;
  }
  if (summaryFile) {
    try {
      appendFileSync(summaryFile, `${reportMarkdown(report)}\n`);
    } catch (err) {
      process.stderr.write(`flowctl: warning: could not append the run summary to GITHUB_STEP_SUMMARY (${summaryFile}): ${(err as Error).message}\n`);
    }
  }
  if (opts.junit !== undefined) {
    try {
      writeFileSync(opts.junit, reportJUnit(report));
    } catch (err) {
      process.stderr.write(`flowctl: warning: could not write the JUnit report ${opts.junit}: ${(err as Error).message}\n`);
    }
  }
}
