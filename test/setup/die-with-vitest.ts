/**
 * Runs in every test process (vitest's forks). Vitest stops its forks when a run ends normally, but not when it
 * is itself ended (SIGTERM to `npm test`, SIGKILL, a crash): a fork would go on running its test file, with its
 * labs, workers and their daemons, until it next reports to the dead parent. Its IPC channel to vitest closes
 * then: die at once; what this process started is tethered to it (common/tether.ts) and dies too.
 */
const key = Symbol.for('runbook.dieWithVitest');
const flags = globalThis as { [key]?: boolean };
if (process.connected && !flags[key]) {
  flags[key] = true;
  process.once('disconnect', () => process.kill(process.pid, 'SIGKILL'));
}
