import { readFileSync } from "node:fs";
/**
 * A run's `parameters`: the function's declared parameter names mapped to the call's values,
 * literal defaults included. Names are read once, at definition, from the function's source
 * (which is plain JavaScript by then: tsx has stripped the types).
 */

export interface ParamSpec {
  /** positional names, in order; a destructured position is named by its index (`arg0`) */
  names: string[];
  /** literal defaults by name */
  defaults: Map<string, unknown>;
  /** name of a rest parameter (`...items`) */
  rest?: string | undefined;
  /** set when the function takes a single destructured object: its keys */
  objectKeys?: string[] | undefined;
  /** the object pattern has a `...rest` element: any key is accepted */
  objectRest?: boolean | undefined;
}

const NO_VALUE = Symbol("no literal");

/**
 * Read the parameter list of a function from its source. Never throws.
 *
 * The source is what tsx (esbuild) produced, and esbuild renames a nested name that shadows a
 * top-level one (`name` → `name2`). Given the original file, a name that never occurs in it
 * is taken back to the name it was made from.
 */
export function parseParams(fn: Function, originalFile?: string): ParamSpec {
  const spec = parseGeneratedParams(fn);
  if (originalFile === undefined) return spec;
  const original = readOriginal(originalFile);
  if (original === undefined) return spec;
  // esbuild appends the first free number (2, 3, …) to the original name: `limit` → `limit3`
  // when `limit2` is taken, `limit2` → `limit22`. Prefer the longest original that fits.
  const restore = (n: string): string => {
    if (original.has(n)) return n;
    for (let k = n.length - 1; k > 0; k--) {
      const suffix = n.slice(k);
      if (!/^\d+$/.test(suffix) || suffix.startsWith("0") || Number(suffix) < 2) continue;
      const base = n.slice(0, k);
      if (original.has(base)) return base;
    }
    return n;
  };
  spec.names = spec.names.map(restore);
  if (spec.rest !== undefined) spec.rest = restore(spec.rest);
  const defaults = new Map<string, unknown>();
  for (const [k, v] of spec.defaults) defaults.set(spec.objectKeys ? k : restore(k), v);
  spec.defaults = defaults;
  return spec;
}

const originals = new Map<string, Set<string> | undefined>();

/** The identifiers of the original source file (outside strings and comments). */
function readOriginal(file: string): Set<string> | undefined {
  if (!originals.has(file)) {
    let words: Set<string> | undefined;
    try {
      const code = readFileSync(file, "utf8")
        .replace(/\/\*[\s\S]*?\*\//g, " ")
        .replace(/\/\/[^\n]*/g, " ")
        .replace(/(["'])(?:\\.|(?!\1)[^\\\n])*\1/g, " ")
        .replace(/`(?:\\.|[^\\`])*`/g, (t) => t.replace(/^`|`$/g, " ").replace(/[^$]\{|}/g, " ").replace(/\$\{/g, " "));
      words = new Set(code.match(/[A-Za-z_$][\w$]*/g) ?? []);
    } catch {
      words = undefined;
    }
    originals.set(file, words);
  }
  return originals.get(file);
}

function parseGeneratedParams(fn: Function): ParamSpec {
  const spec: ParamSpec = { names: [], defaults: new Map() };
  let src: string;
  try {
    src = Function.prototype.toString.call(fn);
  } catch {
    return spec;
  }
  const list = extractParamList(src);
  if (list === undefined) return spec;
  const parts = splitTopLevel(list, ",").map((p) => p.trim()).filter((p) => p !== "");
  parts.forEach((part, i) => {
    if (part.startsWith("...")) {
      const name = part.slice(3).trim();
      spec.rest = /^[\w$]+$/.test(name) ? name : `arg${i}`;
      return;
    }
    const [target, dflt] = splitDefault(part);
    if (target.startsWith("{")) {
      const name = `arg${i}`;
      spec.names.push(name);
      if (parts.length === 1) {
        const { keys, defaults, rest } = parseObjectPattern(target);
        spec.objectKeys = keys;
        spec.objectRest = rest;
        for (const [k, v] of defaults) spec.defaults.set(k, v);
      }
      return;
    }
    if (target.startsWith("[")) {
      spec.names.push(`arg${i}`);
      return;
    }
    spec.names.push(target);
    if (dflt !== undefined) {
      const v = parseLiteral(dflt);
      if (v !== NO_VALUE) spec.defaults.set(target, v);
    }
  });
  return spec;
}

/** Map a task call's arguments to named parameters. */
export function bindArgs(spec: ParamSpec, args: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (spec.objectKeys !== undefined) {
    const given = args[0];
    for (const [k, v] of spec.defaults) out[k] = v;
    if (typeof given === "object" && given !== null) {
      for (const k of Object.keys(given)) {
        const v = (given as Record<string, unknown>)[k];
        if (v !== undefined || !(k in out)) out[k] = v;
      }
    }
    return out;
  }
  const names = spec.names;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const v = args[i];
    if (v === undefined && spec.defaults.has(name)) out[name] = spec.defaults.get(name);
    else if (i < args.length) out[name] = v;
  }
  if (spec.rest !== undefined) out[spec.rest] = args.slice(names.length);
  else for (let i = names.length; i < args.length; i++) out[`arg${i}`] = args[i];
  return out;
}

function extractParamList(src: string): string | undefined {
  let s = src.trimStart();
  // arrow with a single bare parameter: `x => …`, `async x => …`
  const bare = /^(?:async\s+)?([\w$]+)\s*=>/.exec(s);
  if (bare && bare[1] !== "async") return bare[1];
  const open = findTopLevelParen(s);
  if (open < 0) return undefined;
  const close = matchBracket(s, open);
  if (close < 0) return undefined;
  s = s.slice(open + 1, close);
  return s;
}

/** The first `(` outside strings/comments, skipping a computed method name `[…]`. */
function findTopLevelParen(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "(") return i;
    if (c === "[") {
      const end = matchBracket(s, i);
      if (end < 0) return -1;
      i = end;
    } else if (c === '"' || c === "'" || c === "`") {
      i = skipString(s, i);
    } else if (c === "/" && (s[i + 1] === "/" || s[i + 1] === "*")) {
      i = skipComment(s, i);
    }
  }
  return -1;
}

const PAIRS: Record<string, string> = { "(": ")", "[": "]", "{": "}" };

function matchBracket(s: string, open: number): number {
  const stack: string[] = [PAIRS[s[open]!]!];
  for (let i = open + 1; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' || c === "'" || c === "`") i = skipString(s, i);
    else if (c === "/" && (s[i + 1] === "/" || s[i + 1] === "*")) i = skipComment(s, i);
    else if (c in PAIRS) stack.push(PAIRS[c]!);
    else if (c === ")" || c === "]" || c === "}") {
      if (stack.pop() !== c) return -1;
      if (stack.length === 0) return i;
    }
  }
  return -1;
}

function skipString(s: string, start: number): number {
  const q = s[start];
  for (let i = start + 1; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") i++;
    else if (q === "`" && c === "$" && s[i + 1] === "{") {
      const end = matchBracket(s, i + 1);
      if (end < 0) return s.length;
      i = end;
    } else if (c === q) return i;
  }
  return s.length;
}

function skipComment(s: string, start: number): number {
  if (s[start + 1] === "/") {
    const nl = s.indexOf("\n", start);
    return nl < 0 ? s.length : nl;
  }
  const end = s.indexOf("*/", start + 2);
  return end < 0 ? s.length : end + 1;
}

function splitTopLevel(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' || c === "'" || c === "`") i = skipString(s, i);
    else if (c === "/" && (s[i + 1] === "/" || s[i + 1] === "*")) {
      const end = skipComment(s, i);
      s = s.slice(0, i) + " ".repeat(end - i + 1) + s.slice(end + 1);
    } else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === sep && depth === 0) {
      out.push(s.slice(last, i));
      last = i + 1;
    }
  }
  out.push(s.slice(last));
  return out;
}

/** `name = value` → [name, value]; a `=` inside brackets or strings does not count. */
function splitDefault(part: string): [string, string | undefined] {
  let depth = 0;
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    if (c === '"' || c === "'" || c === "`") i = skipString(part, i);
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === "=" && depth === 0 && part[i + 1] !== ">" && part[i + 1] !== "=") {
      return [part.slice(0, i).trim(), part.slice(i + 1).trim()];
    }
  }
  return [part.trim(), undefined];
}

function parseObjectPattern(pattern: string): { keys: string[]; defaults: Map<string, unknown>; rest: boolean } {
  const inner = pattern.trim().slice(1, -1);
  const keys: string[] = [];
  const defaults = new Map<string, unknown>();
  let rest = false;
  for (const raw of splitTopLevel(inner, ",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    if (entry.startsWith("...")) {
      rest = true;
      continue;
    }
    const [target, dflt] = splitDefault(entry);
    const colon = splitTopLevel(target, ":");
    let key = colon[0]!.trim();
    if (/^(["']).*\1$/.test(key)) key = key.slice(1, -1);
    if (!/^[\w$-]+$/.test(key)) continue;
    keys.push(key);
    if (dflt !== undefined) {
      const v = parseLiteral(dflt);
      if (v !== NO_VALUE) defaults.set(key, v);
    }
  }
  return { keys, defaults, rest };
}

/** Literal values only (numbers, strings, booleans, null, undefined, arrays and objects of those). */
function parseLiteral(text: string): unknown {
  const t = text.trim();
  if (t === "undefined") return undefined;
  if (t === "true") return true;
  if (t === "false") return false;
  if (t === "null") return null;
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return Number(t);
  if (/^0x[0-9a-f]+$/i.test(t)) return Number(t);
  const q = t[0];
  if ((q === '"' || q === "'" || q === "`") && skipString(t, 0) === t.length - 1) {
    if (q === "`" && t.includes("${")) return NO_VALUE;
    return unescapeJs(t.slice(1, -1));
  }
  if (t.startsWith("[") && t.endsWith("]")) {
    const items = splitTopLevel(t.slice(1, -1), ",").map((s) => s.trim()).filter((s) => s !== "");
    const out: unknown[] = [];
    for (const it of items) {
      const v = parseLiteral(it);
      if (v === NO_VALUE) return NO_VALUE;
      out.push(v);
    }
    return out;
  }
  if (t.startsWith("{") && t.endsWith("}")) {
    const out: Record<string, unknown> = {};
    for (const raw of splitTopLevel(t.slice(1, -1), ",")) {
      const entry = raw.trim();
      if (entry === "") continue;
      const kv = splitTopLevel(entry, ":");
      if (kv.length !== 2) return NO_VALUE;
      let k = kv[0]!.trim();
      if (/^(["']).*\1$/.test(k)) k = k.slice(1, -1);
      const v = parseLiteral(kv[1]!);
      if (v === NO_VALUE) return NO_VALUE;
      out[k] = v;
    }
    return out;
  }
  return NO_VALUE;
}

/** The value of a JavaScript string literal's body (esbuild writes control characters as `\x1B`). */
function unescapeJs(body: string): string {
  return body.replace(/\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|\r\n|[\s\S])/g, (_m, e: string) => {
    if (e[0] === "x" && e.length === 3) return String.fromCharCode(parseInt(e.slice(1), 16));
    if (e.startsWith("u{")) return String.fromCodePoint(parseInt(e.slice(2, -1), 16));
    if (e[0] === "u" && e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16));
    const simple: Record<string, string> = { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f", v: "\v", "0": "\0", "\n": "", "\r": "", "\r\n": "" };
    return simple[e] ?? e;
  });
}
