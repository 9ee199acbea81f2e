/**
 * PostgreSQL connection URLs. Besides what `pg` reads from a URL, flowctl takes a `schema`
 * query parameter (as Prisma does): the store's tables then live in that schema, which is
 * created when missing, and every pooled connection gets it as its `search_path`. Several
 * independent stores can so share one database (test runs, staging and production).
 */
import { FlowctlError } from "../../errors.ts";

export interface PgTarget {
  /** the URL handed to `pg`, without flowctl's own parameters */
  connectionString: string;
  /** the schema the tables live in; undefined = the server's default search_path */
  schema: string | undefined;
  /** startup `options` for every connection (search_path, plus the URL's own options) */
  options: string | undefined;
  /** printable: the URL without its password */
  location: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function parsePgUrl(url: string): PgTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FlowctlError("CONFIG_ERROR", `Invalid PostgreSQL URL '${redact(url)}': expected postgresql://USER@HOST:PORT/DATABASE`);
  }
  const schema = u.searchParams.get("schema") ?? undefined;
  if (schema !== undefined && !IDENT.test(schema)) {
    throw new FlowctlError(
      "CONFIG_ERROR",
      `Invalid schema '${schema}' in PREFECT_API_DATABASE_CONNECTION_URL: expected letters, digits and underscores, not starting with a digit`,
    );
  }
  const urlOptions = u.searchParams.get("options") ?? undefined;
  u.searchParams.delete("schema");
  if (schema !== undefined) u.searchParams.delete("options");
  const options = schema === undefined ? undefined : [urlOptions, `-c search_path=${schema}`].filter(Boolean).join(" ");
  const shown = new URL(u.href);
  if (shown.password) shown.password = "";
  if (schema !== undefined) shown.searchParams.set("schema", schema);
  return { connectionString: u.href, schema, options, location: shown.href };
}

/** The URL with any password removed, for messages. */
export function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1@");
}
