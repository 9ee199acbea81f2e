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

/** Create the schema (when named) and apply every migration not yet recorded. */
export async function migrate(client: pg.PoolClient, schema: string | undefined): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`flowctl.migrate:${schema ?? ""}`]);
    if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    );
    const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_migrations");
    const done = new Set(rows.map((r) => r.version));
    for (const m of postgresMigrations()) {
      if (done.has(m.version)) continue;
      try {
        await client.query(m.sql);
        if (m.extra) await client.query(m.extra);
      } catch (err) {
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
      await client.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [m.version, m.name, Date.now()]);
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}
