/**
 * `flowctl runs cancel` from a second process, on SQLite and on PostgreSQL: the process running
 * the flow notices through the store within a second and ends the run as Ctrl-C would (running
 * task run Cancelled, onCancellation hook, exit 1, the flow run Cancelled with the message naming
 * the command and host); cancelling a finished run exits 2.
 */
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import Database from "better-sqlite3";
import pg from "pg";
import { runCli, spawnCli } from "../support/cli.ts";
import { postgresSchema } from "../fixtures/redis/services.ts";

const FIXTURE = new URL("../fixtures/retry/long.ts", import.meta.url);

interface Backend {
  name: string;
  url(dir: string): string;
  /** ms between the request and the flow run's end, as the store recorded them */
  lag(url: string, flowRunId: string): Promise<number>;
}

const schemas: ReturnType<typeof postgresSchema>[] = [];
after(async () => {
  for (const s of schemas) await s.drop();
});

const SQL = "SELECT f.end_time - c.requested AS lag FROM flow_runs f JOIN run_cancellations c ON c.flow_run_id = f.id WHERE f.id = ";
const backends: Backend[] = [
  {
    name: "SQLite",
    url: (dir) => join(dir, "home", "flowctl.db"),
    lag: async (url, id) => {
      const db = new Database(url, { readonly: true });
      try {
        return Number((db.prepare(`${SQL}?`).get(id) as { lag: number }).lag);
      } finally {
        db.close();
      }
    },
  },
  {
    name: "PostgreSQL",
    url: () => {
      const s = postgresSchema("flowctl_cancel");
      schemas.push(s);
      return s.url;
    },
    lag: async (url, id) => {
      const schema = new URL(url).searchParams.get("schema")!;
      const u = new URL(url);
      u.search = "";
      const client = new pg.Client({ connectionString: u.toString() });
      await client.connect();
      try {
        const { rows } = await client.query(`SELECT f.end_time - c.requested AS lag FROM "${schema}".flow_runs f JOIN "${schema}".run_cancellations c ON c.flow_run_id = f.id WHERE f.id = $1`, [id]);
        return Number(rows[0].lag);
      } finally {
        await client.end();
      }
    },
  },
];

describe("flowctl runs cancel", { concurrency: 2 }, () => {
  for (const b of backends) {
    test(`from a second process stops a running flow within a second (${b.name})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "flowctl-cancel-"));
      const home = join(dir, "home");
      mkdirSync(home);
      copyFileSync(FIXTURE, join(dir, "long.ts"));
      const side = join(dir, "side.txt");
      const url = b.url(dir);
      const env = { PREFECT_API_DATABASE_CONNECTION_URL: url, SIDE: side };
      const cli = (args: string[]) => runCli(args, { home, cwd: dir, env });
      try {
        const child = spawnCli(["run", "long.ts"], { home, cwd: dir, env });
        const closed = once(child, "close");
        let err = "";
        const name = await new Promise<string>((resolve) => {
          child.stderr!.on("data", (d) => {
            err += d;
            const m = /Created flow run '([^']+)'/.exec(err);
            if (m && err.includes("Executing 'wait-0' immediately...")) resolve(m[1]!);
          });
        });
        // the run reaches the store with the writer's next batch (every 200 ms)
        let row: any;
        for (let i = 0; i < 100 && !row; i++) {
          row = JSON.parse((await cli(["runs", "ls", "--json"])).stdout).find((r: any) => r.name === name && r.taskCounts?.RUNNING);
        }
        assert.ok(row, `the run ${name} is in the store, its task running`);

        const cancel = await cli(["runs", "cancel", row.id.slice(0, 20)]);
        const message = `Cancelled by flowctl runs cancel from ${hostname()}`;
        assert.equal(cancel.code, 0, cancel.stderr);
        assert.equal(cancel.stdout, `Flow run '${name}' ended Cancelled('${message}').\n`);
        const [code] = await closed;
        assert.equal(code, 1, err);
        assert.match(err, new RegExp(`ERROR +\\| Flow run '${name}' - Finished in state Cancelled\\('${message}'\\)`));
        assert.deepEqual(readFileSync(side, "utf8").trim().split("\n"), ["waiting", `task aborted: ${message}`, `onCancellation: ${message}`]);

        const lag = await b.lag(url, row.id);
        assert.ok(lag >= 0 && lag < 1000, `noticed and ended ${lag} ms after the request`);
        const d = JSON.parse((await cli(["runs", "inspect", row.id, "--json"])).stdout);
        assert.equal(d.flowRun.state.name, "Cancelled");
        assert.equal(d.taskRuns.find((t: any) => t.name === "wait-0").state.name, "Cancelled");

        const again = await cli(["runs", "cancel", name]);
        assert.equal(again.code, 2);
        assert.equal(again.stderr, `flowctl: error: Flow run '${name}' has already finished (Cancelled); there is nothing to cancel.\n`);
        process.stderr.write(`# ${b.name}: cancel noticed and the run ended ${lag} ms after the request\n`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
