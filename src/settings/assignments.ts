/**
 * `flowctl config set` arguments: `KEY=VALUE` pairs, and the seed's spaced form
 * `KEY = [1, 10, 100]`, which the shell hands over as `["KEY", "=", "[1,", "10,", "100]"]`.
 */
import { UsageError, closest } from "../errors.ts";
import { SETTINGS, SETTINGS_BY_KEY, type SettingSpec } from "./schema.ts";

export interface Assignment {
  key: string;
  /** the value as typed, its shell words joined by single spaces */
  text: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NAME_EQ = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;

/** Does a new pair start at `words[i]` (`KEY=...`, or `KEY` followed by a word starting with `=`)? */
function startsPair(words: readonly string[], i: number): boolean {
  const word = words[i] ?? "";
  return NAME_EQ.test(word) || (NAME.test(word) && (words[i + 1] ?? "").startsWith("="));
}

/**
 * Split shell words into pairs. A value runs until the next word that starts a pair, so
 * `A=1 B = [1, 2]` is two pairs and `A = 1,2, 3` is one.
 */
export function parseAssignments(words: readonly string[]): Assignment[] {
  const out: Assignment[] = [];
  let i = 0;
  while (i < words.length) {
    const word = words[i]!;
    let key: string;
    const parts: string[] = [];
    const eq = NAME_EQ.exec(word);
    if (eq) {
      key = eq[1]!;
      if (eq[2] !== "") parts.push(eq[2]!);
      i += 1;
    } else if (startsPair(words, i)) {
      key = word;
      const rest = words[i + 1]!.slice(1);
      if (rest !== "") parts.push(rest);
      i += 2;
    } else {
      throw new UsageError(`Expected KEY=VALUE, got '${word}' (write lists as KEY=[1, 10, 100] or KEY=1,10,100).`);
    }
    while (i < words.length && !startsPair(words, i)) parts.push(words[i++]!);
    out.push({ key, text: parts.join(" ") });
  }
  return out;
}

/** The spec of a setting name, or exit 2 with `Unknown setting name 'KEY'.` and the closest name. */
export function specFor(key: string): SettingSpec {
  const spec = SETTINGS_BY_KEY.get(key);
  if (spec) return spec;
  throw new UsageError(unknownSettingMessage(key));
}

/** `where` is the file (and line) the name was found in, if any. */
export function unknownSettingMessage(key: string, where?: string): string {
  const near = closest(key, SETTINGS.map((s) => s.key));
  return `Unknown setting name '${key}'${where ? ` in ${where}` : ""}.${near ? ` Did you mean '${near}'?` : ""}`;
}
