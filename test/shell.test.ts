import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { quote, sh } from '../common/shell.js';

/** What a real POSIX shell makes of the command: the words it passes on, NUL-separated. */
function wordsSeenByShell(text: string): string[] {
  return execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${text}`], { encoding: 'utf8' }).split('\0').slice(0, -1);
}

describe('sh: the one way to build a command', () => {
  it('leaves plain words alone so commands read like the wiki', () => {
    expect(sh`mdadm --manage ${'/dev/md0'} --fail ${'/dev/sda2'}`.text).toBe('mdadm --manage /dev/md0 --fail /dev/sda2');
  });

  it.each([
    'sda; rm -rf /',
    '$(reboot)',
    '`id`',
    "it's",
    'a b',
    'x\ny',
    '>/etc/passwd',
    '',
    '*',
    '"quoted"',
    '\\',
  ])('keeps %j one word that a real shell does not interpret', (hostile) => {
    expect(wordsSeenByShell(sh`${hostile}`.text)).toEqual([hostile]);
  });

  it('expands arrays to several quoted words', () => {
    expect(wordsSeenByShell(sh`${['a b', 'c;d']}`.text)).toEqual(['a b', 'c;d']);
    expect(quote(42)).toBe('42');
  });
});
