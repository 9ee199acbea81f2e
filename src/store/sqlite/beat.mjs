// The heartbeat's SQL (liveness, see ../liveness.ts): `heartbeat = at` for the live flow runs,
// then their rows as they are now (a flag another process set on one, say). Plain JavaScript:
// the write thread runs it on its own connection, so the main thread never waits on the
// store's write lock for a beat; the main connection runs it when there is no write thread.
/** Refresh these flow runs' heartbeat; returns their rows (`cols`). */
export function beatRows(db, cols, ids, at) {
  if (ids.length === 0) return [];
  const json = JSON.stringify(ids);
  db.prepare("UPDATE flow_runs SET heartbeat = ? WHERE id IN (SELECT value FROM json_each(?))").run(at, json);
  return db.prepare(`SELECT ${cols} FROM flow_runs WHERE id IN (SELECT value FROM json_each(?))`).all(json);
}
