/**
 * What every lab daemon (sshd, dropbear, Dovecot, Knot) needs around its tethered process: wait until it listens,
 * kill the one an earlier lab recorded, stop it with everything it forked.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';

export function killGroup(pid: number): void {
  try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** Kill the daemon whose group leader an earlier lab recorded in `pidFile`, if that pid still runs `name`. */
export function killRecorded(pidFile: string, name: string): void {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  let cmd = '';
  try { if (pid > 1) cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { /* gone */ }
  if (cmd.includes(name)) killGroup(pid);
  rmSync(pidFile, { force: true });
}

/** Kill a tethered daemon's group (its PID namespace dies with it) and forget its pid file. */
export function stopDaemon(child: ChildProcess, pidFile: string): Promise<void> {
  return new Promise((resolve) => {
    rmSync(pidFile, { force: true });
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) { resolve(); return; }
    child.once('exit', () => resolve());
    killGroup(child.pid);
  });
}

export function waitForPort(name: string, address: string, port: number, child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolvePromise, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`${name} for ${address} exited: ${stderr().trim()}`));
        return;
      }
      const socket = connect({ host: address, port });
      socket.once('connect', () => { socket.destroy(); resolvePromise(); });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`${name} for ${address} did not listen within ${timeoutMs} ms: ${stderr().trim()}`));
        else setTimeout(attempt, 30);
      });
    };
    attempt();
  });
}
