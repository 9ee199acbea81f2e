/**
 * Stores that are not ours, or not of our schema: a SQLite file holding someone else's tables,
 * a file that is not SQLite, and a store migrated by a newer flowctl are refused with exit 2
 * and nothing added; an older store is migrated, with a copy kept from before. PostgreSQL the
 * same (no file copy there). Through the real bin/flowctl.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { runCli } from "../../support/cli.ts";
import { POSTGRES_URL, postgresSchema } from "../../fixtures/redis/services.ts";
import { loadMigrations } from "../../../src/store/migrations.ts";

const HELLO = "workflows/hello.ts";
const pkgVersion = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
const newest = loadMigrations().at(-1)!.version;

function tempHome() {
  const dir = mkdtempSync(join(tmpdir(), "flowctl-compat-"));
  return { dir, db: join(dir, "flowctl.db"), done: () => rmSync(dir, { recursive: true, force: true }) };
}

function tables(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

test("a SQLite file holding someone else's tables is refused, exit 2, and gets no tables added", async () => {
  const h = tempHome();
  try {
    const db = new Database(h.db);
    db.exec("CREATE TABLE flow_runs (id INTEGER PRIMARY KEY, owner TEXT); CREATE TABLE invoices (n INTEGER)");
    db.close();
    const before = tables(h.db);
    for (const args of [["run", HELLO], ["runs", "ls"]]) {
      const r = await runCli(args, { home: h.dir });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(
        r.stderr.trim(),
        `flowctl: error: ${h.db} is not a flowctl run store (it holds other tables: flow_runs, invoices); point PREFECT_API_DATABASE_CONNECTION_URL at a new file or an empty database`,
      );
    }
    assert.deepEqual(tables(h.db), before);
  } finally {
    h.done();
  }
});

test("a file that is not SQLite is refused, exit 2, and left byte for byte as it was", async () => {
  const h = tempHome();
  try {
    writeFileSync(h.db, "name,amount\nalice,10\n".repeat(100));
    const before = readFileSync(h.db);
    const r = await runCli(["run", HELLO], { home: h.dir });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim(), `flowctl: error: ${h.db} is not a flowctl run store (not a SQLite database); point PREFECT_API_DATABASE_CONNECTION_URL at a new file`);
    assert.deepEqual(readFileSync(h.db), before);
  } finally {
    h.done();
  }
});

test("a store migrated by a newer flowctl is refused, exit 2, naming the version to use", async () => {
  const h = tempHome();
  try {
    assert.equal((await runCli(["run", HELLO], { home: h.dir })).code, 0);
    const db = new Database(h.db);
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(newest + 1, "9999-future", Date.now());
    db.prepare("UPDATE store_meta SET value = '9.4.0' WHERE key = 'schema_written_by'").run();
    db.close();
    for (const args of [["run", HELLO], ["runs", "ls"]]) {
      const r = await runCli(args, { home: h.dir });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(
        r.stderr.trim(),
        `flowctl: error: The run store at ${h.db} has schema version ${newest + 1}, written by flowctl 9.4.0; this flowctl ${pkgVersion} knows schema version ${newest}: use flowctl 9.4.0 or later with this store`,
      );
    }
    // a later build of this very version (a development checkout) changed the schema
    const same = new Database(h.db);
    same.prepare("UPDATE store_meta SET value = ? WHERE key = 'schema_written_by'").run(pkgVersion);
    same.close();
    const r = await runCli(["runs", "ls"], { home: h.dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`written by flowctl ${pkgVersion.replace(/\./g, "\\.")}; .*: use a later build of flowctl ${pkgVersion.replace(/\./g, "\\.")} with this store$`, "m"));
  } finally {
    h.done();
  }
});

test("an older store is migrated, keeping a private copy of it from before the first migration", async () => {
  const h = tempHome();
  try {
    // a store as the first flowctl left it: schema version 1 only
    const db = new Database(h.db);
    const first = loadMigrations()[0]!;
    db.exec(first.sql);
    db.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
    db.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(first.version, first.name, Date.now());
    db.close();
    const from = first.version;
    const r = await runCli(["run", HELLO], { home: h.dir });
    assert.equal(r.code, 0, r.stderr);
    const backup = `${h.db}.schema-${from}.bak`;
    assert.match(r.stderr, new RegExp(`flowctl: notice: migrating the run store at ${h.db} from schema version ${from} to ${newest}; the store as it was is kept at ${backup.replace(/[.]/g, "\\.")}`));
    assert.ok(readdirSync(h.dir).includes(`flowctl.db.schema-${from}.bak`));
    assert.equal(execFileSync("stat", ["-c", "%a", backup], { encoding: "utf8" }).trim(), "600");
    const old = new Database(backup, { readonly: true });
    assert.equal((old.prepare("SELECT max(version) AS v FROM schema_migrations").get() as { v: number }).v, from);
    assert.equal((old.prepare("SELECT count(*) AS n FROM flow_runs").get() as { n: number }).n, 0);
    old.close();
    const now = new Database(h.db, { readonly: true });
    assert.equal((now.prepare("SELECT max(version) AS v FROM schema_migrations").get() as { v: number }).v, newest);
    assert.equal((now.prepare("SELECT count(*) AS n FROM flow_runs").get() as { n: number }).n, 1);
    now.close();
    // a store already current is not copied again
    const again = await runCli(["run", HELLO], { home: h.dir });
    assert.doesNotMatch(again.stderr, /migrating/);
    assert.equal(readdirSync(h.dir).filter((n) => n.endsWith(".bak")).length, 1);
  } finally {
    h.done();
  }
});

test("PostgreSQL: a schema holding other tables, or a newer flowctl's schema, is refused with exit 2", async () => {
  const target = postgresSchema("flowctl_compat");
  const h = tempHome();
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA "${target.schema}"`);
    await client.query(`CREATE TABLE "${target.schema}".orders (id INTEGER)`);
    const env = { PREFECT_API_DATABASE_CONNECTION_URL: target.url };
    const r = await runCli(["run", HELLO], { home: h.dir, env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.trim(), /^flowctl: error: postgresql:\/\/.* is not a flowctl run store \(it holds other tables: orders\); point PREFECT_API_DATABASE_CONNECTION_URL at a new file or an empty database$/);
    const { rows } = await client.query("SELECT table_name FROM information_schema.tables WHERE table_schema = $1", [target.schema]);
    assert.deepEqual(rows.map((x) => x.table_name), ["orders"]);

    await client.query(`DROP TABLE "${target.schema}".orders`);
    assert.equal((await runCli(["run", HELLO], { home: h.dir, env })).code, 0);
    await client.query(`INSERT INTO "${target.schema}".schema_migrations VALUES ($1, 'future', 0)`, [newest + 1]);
    await client.query(`UPDATE "${target.schema}".store_meta SET value = '9.4.0'`);
    const n = await runCli(["runs", "ls"], { home: h.dir, env });
    assert.equal(n.code, 2, n.stderr);
    assert.match(n.stderr, new RegExp(`has schema version ${newest + 1}, written by flowctl 9\\.4\\.0; this flowctl ${pkgVersion.replace(/\./g, "\\.")} knows schema version ${newest}: use flowctl 9\\.4\\.0 or later with this store`));
  } finally {
    await client.end();
    await target.drop();
    h.done();
  }
});
