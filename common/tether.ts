/**
 * Children that die with the process that started them, however it ends (exit, crash, SIGTERM, SIGKILL):
 * util-linux `setpriv --pdeathsig` asks the kernel to signal the child when its parent goes.
 *
 * Two kernel rules shape this module:
 * - PDEATHSIG fires when the *thread* that forked the child exits. Node forks from the thread that calls
 *   spawn(): call these from the main thread of a process, not from a worker_thread that may end first.
 * - It is not inherited by the child's own children. A daemon that forks per connection (sshd, dropbear)
 *   therefore runs under a small sh that is tethered instead and kills its whole process group.
 * A parent that dies before the tether is set would go unnoticed: the sh first checks that its parent is
 * still the process that spawned it.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

const SETPRIV = '/usr/bin/setpriv';

/** Marks the sh of a tethered group in `ps`/`/proc/PID/cmdline` (lab/sshd.ts looks for it to sweep stale daemons). */
export const TETHER_MARK = 'runbook-tether';

// $1 = the pid of the process that spawned us; the command follows.
const EXEC = `# ${TETHER_MARK}
[ "$PPID" = "$1" ] || { echo "${TETHER_MARK}: parent $1 gone before the tether was set" >&2; exit 70; }
shift
exec "$@"`;

// The same, but the command runs as our child in our process group (a detached spawn makes us its leader):
// when our parent dies (SIGUSR1 from the kernel) every process of the group dies, the daemon's sessions too.
const GROUP = `# ${TETHER_MARK}
[ "$PPID" = "$1" ] || { echo "${TETHER_MARK}: parent $1 gone before the tether was set" >&2; exit 70; }
shift
trap 'kill -KILL 0' USR1
"$@" &
wait $!`;

function setprivPath(): string {
  if (!existsSync(SETPRIV)) throw new Error(`${SETPRIV} is missing: install util-linux (apt-get install util-linux), or run scripts/setup.sh`);
  return SETPRIV;
}

/**
 * spawn(command, args, options), tied to this process: the child gets SIGKILL when we die. Same pid as the
 * command (the sh execs it), so signals and exit codes are the command's own.
 */
export function spawnTethered(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawn(setprivPath(), ['--pdeathsig', 'SIGKILL', '--', '/bin/sh', '-c', EXEC, 'sh', String(process.pid), command, ...args], options);
}

/**
 * A daemon that forks per connection, in a new process group led by a tethered sh: when we die, the whole
 * group (daemon and sessions) is killed. The returned child is that sh; stop the daemon by killing the group
 * (process.kill(-child.pid, 'SIGKILL')): a signal to the sh alone would orphan the daemon.
 */
export function spawnTetheredGroup(command: string, args: readonly string[], options: Omit<SpawnOptions, 'detached'> = {}): ChildProcess {
  return spawn(setprivPath(), ['--pdeathsig', 'SIGUSR1', '--', '/bin/sh', '-c', GROUP, 'sh', String(process.pid), command, ...args], { ...options, detached: true });
}
