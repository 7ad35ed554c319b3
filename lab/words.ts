/**
 * A small POSIX word splitter for the simulated hosts.
 *
 * It understands what `quote()` in common/shell.ts produces (bare words, single quotes, `'\''`),
 * plus double quotes and backslashes. Anything that would make a real shell do more than run one
 * command (pipes, lists, redirections, substitutions, sub-shells) is refused: the lab runs one
 * command per SSH session, and a runbook that relies on shell syntax is a bug we want to see.
 */

export class ShellSyntaxError extends Error {
  override name = 'ShellSyntaxError';
}

const OPERATORS = new Set(['|', ';', '&', '>', '<', '`', '(', ')', '\n']);

export function splitWords(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let i = 0;
  const refuse = (what: string): never => {
    throw new ShellSyntaxError(`runbook-lab: shell syntax ${JSON.stringify(what)} is not simulated: send one plain command per SSH session`);
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
      i += 1;
      continue;
    }
    if (OPERATORS.has(c)) refuse(c === '\n' ? 'newline' : c);
    if (c === '$') refuse(text[i + 1] === '(' ? '$(' : '$');
    if (c === '#' && !inWord) refuse('#');
    inWord = true;
    if (c === '\\') {
      if (i + 1 >= text.length) refuse('trailing backslash');
      const next = text[i + 1]!;
      if (next !== '\n') current += next; // backslash-newline is a line continuation
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) refuse("unterminated '");
      current += text.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    if (c === '"') {
      i += 1;
      for (;;) {
        if (i >= text.length) refuse('unterminated "');
        const d = text[i]!;
        if (d === '"') { i += 1; break; }
        if (d === '$' || d === '`') refuse(d === '$' && text[i + 1] === '(' ? '$(' : d);
        if (d === '\\' && i + 1 < text.length && '$`"\\\n'.includes(text[i + 1]!)) {
          if (text[i + 1] !== '\n') current += text[i + 1];
          i += 2;
          continue;
        }
        current += d;
        i += 1;
      }
      continue;
    }
    current += c;
    i += 1;
  }
  if (inWord) words.push(current);
  return words;
}
