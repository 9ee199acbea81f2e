/** This flowctl's version, from its package.json (stores record it with their schema). */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
export const FLOWCTL_VERSION = (require("../package.json") as { version: string }).version;
