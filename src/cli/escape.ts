// Strings from a trace (thread names, function names, script paths, the recorder's notes) reach the
// terminal only through escapeTerminal(): a control character could otherwise move the cursor,
// recolour the screen or rewrite earlier lines (ESC sequences), and bidirectional overrides could
// make a name read as something else. Each such character is shown as an escape instead.

// C0 and C1 controls, DEL, zero-width and bidirectional formatting characters, and the line and
// paragraph separators.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** The string with every control or formatting character written as \xNN or \u{NNNN}. */
export function escapeTerminal(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
