/**
 * Children that die with the process that started them, however it ends (exit, crash, SIGTERM, SIGKILL):
 * util-linux `setpriv --pdeathsig` asks the kernel to signal the child when its parent goes.
 *
 * Two kernel rules shape this module:
 * - PDEATHSIG fires when the *thread* that forked the child exits. Node forks from the thread that calls
 *   spawn(): call these from the main thread of a process, not from a worker_thread that may end first.
 * - It is not inherited by the child's own children, and sshd and dropbear put each connection in a session
 *   of its own (setsid), out of their process group. A daemon therefore runs as the init of a new PID
 *   namespace (util-linux `unshare --pid --fork --kill-child`): when it dies, the kernel kills every process
 *   of the namespace, its connections and their commands too.
 * A parent that dies before the tether is set would go unnoticed: a tiny sh first checks that its parent is
 * still the process that spawned it, then execs the command (same pid).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

const SETPRIV = '/usr/bin/setpriv';
const UNSHARE = '/usr/bin/unshare';

// $1 = the pid of the process that spawned us; the command follows.
const EXEC = `[ "$PPID" = "$1" ] || { echo "tether: parent $1 gone before the tether was set" >&2; exit 70; }
shift
exec "$@"`;

function utilLinux(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: install util-linux (apt-get install util-linux), or run scripts/setup.sh`);
  return path;
}

/**
 * spawn(command, args, options), tied to this process: the child gets SIGKILL when we die. Same pid as the
 * command, so signals and exit codes are the command's own.
 */
export function spawnTethered(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawn(utilLinux(SETPRIV), ['--pdeathsig', 'SIGKILL', '--', '/bin/sh', '-c', EXEC, 'sh', String(process.pid), command, ...args], options);
}

/**
 * A daemon that forks per connection (root only: it gets a PID namespace of its own), tied to this process:
 * the returned child is `unshare`, leader of a new process group, whose child the daemon is. Killing that group
 * (process.kill(-child.pid, 'SIGKILL')), the daemon alone, or this process ending, ends the daemon and every
 * process it started.
 */
export function spawnTetheredDaemon(command: string, args: readonly string[], options: Omit<SpawnOptions, 'detached'> = {}): ChildProcess {
  return spawnTethered(utilLinux(UNSHARE), ['--pid', '--fork', '--kill-child=SIGKILL', '--', command, ...args], { ...options, detached: true });
}
