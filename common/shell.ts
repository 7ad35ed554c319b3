/**
 * The one way to build a command string for a remote shell.
 *
 *   sh`mdadm --manage ${array} --fail ${partition}`
 *
 * Every interpolated value is shell-quoted, the way zx's `$` does, so no input can add shell syntax.
 * Arrays expand to several quoted words. Only the literal parts of the template are trusted.
 */

/** A command ready to send: the text, and a short label for logs and the Temporal UI. */
export interface Command {
  readonly text: string;
}

export type ShellValue = string | number | bigint | readonly (string | number | bigint)[] | Command;

/** Characters that never need quoting in a POSIX shell word. */
const SAFE_WORD = /^[A-Za-z0-9_\-./:=@,+%^]+$/;

/** Quote one value as a single POSIX shell word. */
export function quote(value: string | number | bigint): string {
  const text = String(value);
  if (text === '') return "''";
  if (SAFE_WORD.test(text)) return text;
  // Inside single quotes nothing is special except the quote itself: close, escape it, reopen.
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function isCommand(value: unknown): value is Command {
  return typeof value === 'object' && value !== null && 'text' in value && !Array.isArray(value);
}

export function sh(literals: TemplateStringsArray, ...values: ShellValue[]): Command {
  let text = literals[0] ?? '';
  values.forEach((value, i) => {
    if (isCommand(value)) text += value.text; // an already-quoted command, e.g. a sub-command
    else if (Array.isArray(value)) text += value.map((v) => quote(v)).join(' ');
    else text += quote(value as string | number | bigint);
    text += literals[i + 1] ?? '';
  });
  return { text };
}
