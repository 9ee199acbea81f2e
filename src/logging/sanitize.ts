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
