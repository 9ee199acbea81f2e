/**
 * Is this store ours, and of a schema this flowctl knows? Checked before anything is written:
 * a database holding tables but no `schema_migrations` is someone else's (refused, nothing
 * added to it); recorded migrations this flowctl does not have mean a newer flowctl wrote it
 * (refused, naming the version that did, from `store_meta`); fewer mean an older one (migrated).
 * Both backends keep the same two bookkeeping tables.
 */
import { FlowctlError } from "../errors.ts";
import { FLOWCTL_VERSION } from "../version.ts";
import { loadMigrations, type Migration } from "./migrations.ts";

export const BOOKKEEPING_SQL = [
  "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
  // key/value facts about the store; `schema_written_by` = the flowctl that applied the newest migration
  "CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

export interface StoreShape {
  /** every table in the database (or schema) */
  tables: string[];
  /** rows of schema_migrations, when that table exists */
  recorded: { version: number; name: string }[] | undefined;
  /** store_meta.schema_written_by, when recorded */
  writtenBy: string | undefined;
}

const BOOKKEEPING = new Set(["schema_migrations", "store_meta"]);

function foreign(location: string, what: string): FlowctlError {
  return new FlowctlError(
    "STORE_INCOMPATIBLE",
    `${location} is not a flowctl run store (${what}); point PREFECT_API_DATABASE_CONNECTION_URL at a new file or an empty database`,
  );
}

/** The migrations still to apply; throws STORE_INCOMPATIBLE for a foreign or newer store. */
export function pendingMigrations(shape: StoreShape, location: string): Migration[] {
  const ours = loadMigrations();
  const recorded = shape.recorded ?? [];
  if (recorded.length === 0) {
    const others = shape.tables.filter((t) => !BOOKKEEPING.has(t));
    if (others.length === 0) return ours;
    const shown = others.slice(0, 5).join(", ") + (others.length > 5 ? ", …" : "");
    throw foreign(location, `it holds other tables: ${shown}`);
  }
  // a store of ours records its first migration under our name for it
  const first = recorded.find((r) => r.version === ours[0]!.version);
  if (!first || first.name !== ours[0]!.name) throw foreign(location, "its schema_migrations table is not flowctl's");
  const known = new Map(ours.map((m) => [m.version, m]));
  const newest = ours.at(-1)!.version;
  const theirs = Math.max(...recorded.map((r) => r.version));
  if (theirs > newest) {
    // the same version number: a later build of it (a development checkout) changed the schema
    const use = !shape.writtenBy
      ? `a flowctl newer than ${FLOWCTL_VERSION}`
      : shape.writtenBy === FLOWCTL_VERSION
        ? `a later build of flowctl ${shape.writtenBy}`
        : `flowctl ${shape.writtenBy} or later`;
    throw new FlowctlError(
      "STORE_INCOMPATIBLE",
      `The run store at ${location} has schema version ${theirs}${shape.writtenBy ? `, written by flowctl ${shape.writtenBy}` : ""}; this flowctl ${FLOWCTL_VERSION} knows schema version ${newest}: use ${use} with this store`,
    );
  }
  const odd = recorded.find((r) => known.get(r.version)?.name !== r.name);
  if (odd) throw foreign(location, `its schema version ${odd.version} is '${odd.name}', which this flowctl does not know`);
  const done = new Set(recorded.map((r) => r.version));
  return ours.filter((m) => !done.has(m.version));
}
