/**
 * common/tether.ts: what a process starts dies with it, however it ends. A parent process (node, importing the
 * built module) starts a tethered `sleep` and a tethered daemon that forks a child into a session of its own (as
 * sshd and dropbear do per connection); then the parent is SIGKILLed, which runs no handler: all of them die.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../scripts/paths.js';
import { eventually } from './helpers/runbooks.js';

/** Live (not zombie) processes whose command line is exactly `argv`. */
function running(argv: string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).flatMap((pid) => {
    try {
      const zombie = /^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      return !zombie && readFileSync(`/proc/${pid}/cmdline`, 'utf8') === want ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

describe('tethered children', () => {
  it("die with a SIGKILLed parent, a daemon's setsid child included", async () => {
    const tether = join(repoRoot(), 'dist', 'common', 'tether.js');
    expect(existsSync(tether)).toBe(true);
    // Durations unique to this run, to tell our sleeps from anyone else's.
    const plainSleep = ['/bin/sleep', String(100_000 + process.pid)];
    const sessionSleep = ['/bin/sleep', String(200_000 + process.pid)];
    const parent = spawn(process.execPath, ['--input-type=module', '-e', `
      import { spawnTethered, spawnTetheredDaemon } from ${JSON.stringify(tether)};
      spawnTethered(${JSON.stringify(plainSleep[0])}, [${JSON.stringify(plainSleep[1])}], { stdio: 'ignore' });
      spawnTetheredDaemon('/bin/sh', ['-c', 'setsid ${sessionSleep.join(' ')} & wait'], { stdio: 'ignore' });
      setInterval(() => undefined, 1 << 30);
    `], { stdio: 'ignore' });
    try {
      await eventually('both sleeps', () => (running(plainSleep).length === 1 && running(sessionSleep).length === 1) || undefined, 10_000);
      parent.kill('SIGKILL');
      await eventually('the tethered children to die', () => (running(plainSleep).length === 0 && running(sessionSleep).length === 0) || undefined, 5_000)
        .catch(() => { throw new Error(`still running: ${[...running(plainSleep), ...running(sessionSleep)].join(' ')}`); });
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
