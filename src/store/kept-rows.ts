/** Reading `task_run_results` rows (the same columns on every backend). */
import type { KeptResultRow } from "./types.ts";

export function keptRow(r: Record<string, unknown>): KeptResultRow {
  const payload = r.payload as Uint8Array | null | undefined;
  return {
    taskRunId: r.task_run_id as string,
    flowRunId: r.flow_run_id as string,
    inputsKey: (r.inputs_key as string | null) ?? null,
    sourceHash: r.source_hash as string,
    kind: r.kind as KeptResultRow["kind"],
    payload: payload == null ? null : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
    message: (r.message as string | null) ?? null,
    created: Number(r.created),
  };
}
