/** The result/cache layer: cache policies, value hashing, the serializer and result storage. */
export {
  INPUTS,
  TASK_SOURCE,
  RUN_ID,
  FLOW_PARAMETERS,
  NONE,
  DEFAULT,
  taskInputHash,
  taskInputHashResult,
  isCachePolicy,
  type CachePolicy,
  type InputsPolicy,
  type CacheKeyInput,
  type CacheKeyFnContext,
  type KeyResult,
} from "./cache-policies.ts";
export { stableHash, stableSerialize, UnhashableError } from "./hashing.ts";
export { serializeValue, deserializeValue } from "./serializer.ts";
export {
  ResultStorage,
  getResultStorage,
  type EntryMeta,
  type WriteOptions,
  type ClearOptions,
} from "./storage.ts";
