/**
 * Control characters from user data (run names, parameters, log messages, error messages)
 * must not reach a terminal raw: `\x1b[2J` would clear the screen, `\r` overwrite a line,
 * `\x1b]0;…\x07` retitle the window, a bidi override reorder what is shown. On the console and
 * in CLI tables they are written escaped, visible as `\x1b[2J`; stored values stay exact.
 */

// C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates
const UNSAFE_MULTILINE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_LINE = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
const ALL_MULTILINE = new RegExp(UNSAFE_MULTILINE.source, "g");
const ALL_LINE = new RegExp(UNSAFE_LINE.source, "g");

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escape(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * `text` safe to print. `multiline` keeps newlines and tabs (log messages, stack traces);
 * otherwise they are escaped too (names and table cells are one line).
 */
export function sanitize(text: string, multiline = false): string {
  if (multiline) return UNSAFE_MULTILINE.test(text) ? text.replace(ALL_MULTILINE, escape) : text;
  return UNSAFE_LINE.test(text) ? text.replace(ALL_LINE, escape) : text;
}

const SGR = /\x1b\[[0-9;]*m/g;

/**
 * Like `sanitize`, for text that already holds our own colors: SGR color sequences
 * (`\x1b[31m`) are kept, every other control character is escaped. Used on CLI output whose
 * user data was not escaped at its source; colors are all such a sequence can do.
 */
export function sanitizeKeepingColors(text: string, multiline = false): string {
  if (!(multiline ? UNSAFE_MULTILINE : UNSAFE_LINE).test(text)) return text;
  let out = "";
  let last = 0;
  for (const m of text.matchAll(SGR)) {
    out += sanitize(text.slice(last, m.index), multiline) + m[0];
    last = m.index + m[0].length;
  }
  return out + sanitize(text.slice(last), multiline);
}
