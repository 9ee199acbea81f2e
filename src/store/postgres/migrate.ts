/**
 * Migrations for the PostgreSQL store. The numbered `.sql` files in `src/store/migrations/` are
 * shared with SQLite and written in SQL both accept; the few SQLite-only forms are translated
 * here (see `toPostgres`). For a migration that needs more than that, a file of the same number
 * in `src/store/postgres/migrations/` replaces it (`0002-foo.sql`), and a `NNNN-*.extra.sql`
 * file there is run right after migration NNNN (PostgreSQL-only additions).
 *
 * All of it runs in one transaction holding a transaction-level advisory lock keyed by the
 * schema, so processes that open a fresh store at the same moment apply each migration once
 * (the others wait, then find it recorded in `schema_migrations`).
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type pg from "pg";
import { loadMigrations, type Migration } from "../migrations.ts";
import { BOOKKEEPING_SQL, pendingMigrations, type StoreShape } from "../compat.ts";
import { FLOWCTL_VERSION } from "../../version.ts";

const ownDir = fileURLToPath(new URL("./migrations/", import.meta.url));

/**
 * Rewrite the SQLite-only forms the shared migrations may use (upper-case keywords only, so
 * prose in comments and string literals is left alone).
 */
export function toPostgres(sql: string): string {
  return sql
    .replace(/\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b/g, "BIGSERIAL PRIMARY KEY")
    .replace(/\bBLOB\b/g, "BYTEA")
    .replace(/\bREAL\b/g, "DOUBLE PRECISION")
    .replace(/\bINSERT\s+OR\s+IGNORE\s+INTO\b([^;]*);/g, "INSERT INTO$1 ON CONFLICT DO NOTHING;");
}

interface PgMigration extends Migration {
  extra: string | undefined;
}

export function postgresMigrations(): PgMigration[] {
  const own = readdirSync(ownDir).filter((f) => /^\d{4}-.+\.sql$/.test(f));
  const read = (f: string) => readFileSync(ownDir + f, "utf8");
  return loadMigrations().map((m) => {
    const prefix = String(m.version).padStart(4, "0") + "-";
    const replacement = own.find((f) => f.startsWith(prefix) && !f.endsWith(".extra.sql"));
    const extra = own.filter((f) => f.startsWith(prefix) && f.endsWith(".extra.sql")).sort().map(read).join("\n");
    return { ...m, sql: replacement ? read(replacement) : toPostgres(m.sql), extra: extra || undefined };
  });
}

/** What is in the store's schema now (see compat.ts). */
async function readShape(client: pg.PoolClient, schema: string | undefined): Promise<StoreShape> {
  const { rows } = await client.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = COALESCE($1, current_schema()) ORDER BY table_name",
    [schema ?? null],
  );
  const tables = rows.map((r) => r.table_name);
  let recorded: StoreShape["recorded"];
  if (tables.includes("schema_migrations")) {
    try {
      await client.query("SAVEPOINT shape");
      recorded = (await client.query<{ version: number; name: string }>("SELECT version, name FROM schema_migrations")).rows;
    } catch {
      await client.query("ROLLBACK TO SAVEPOINT shape");
      recorded = [{ version: -1, name: "(a schema_migrations table of another shape)" }];
    }
  }
  let writtenBy: string | undefined;
  if (tables.includes("store_meta")) {
    writtenBy = (await client.query<{ value: string }>("SELECT value FROM store_meta WHERE key = 'schema_written_by'")).rows[0]?.value;
  }
  return { tables, recorded, writtenBy };
}

/**
 * Create the schema (when named) and apply every migration not yet recorded; a schema holding
 * someone else's tables or a newer flowctl's schema is refused before anything is created.
 * (No backup here: PostgreSQL stores are backed up with the server's own tools; each
 * migration runs in the one transaction, so a failed one leaves the store as it was.)
 */
export async function migrate(client: pg.PoolClient, schema: string | undefined, location = "PostgreSQL"): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`flowctl.migrate:${schema ?? ""}`]);
    const pending = pendingMigrations(await readShape(client, schema), location);
    if (pending.length === 0) {
      await client.query("COMMIT");
      return;
    }
    if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    for (const sql of BOOKKEEPING_SQL) await client.query(sql);
    const byVersion = new Map(postgresMigrations().map((m) => [m.version, m]));
    for (const p of pending) {
      const m = byVersion.get(p.version)!;
      try {
        await client.query(m.sql);
        if (m.extra) await client.query(m.extra);
      } catch (err) {
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
      await client.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [m.version, m.name, Date.now()]);
    }
    await client.query(
      "INSERT INTO store_meta (key, value) VALUES ('schema_written_by', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      [FLOWCTL_VERSION],
    );
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}
