// OpenSSH's own client against a lab host, as an admin would type it: strict host key checking against the key
// pinned for the boot stage, the lab's client key, no agent, no prompt.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BootStage, Inventory } from '../../common/inventory.js';

export interface SshRun {
  stdout: string;
  /** stdout as bytes (binary output such as a boot sector). */
  raw: Buffer;
  stderr: string;
  code: number;
}

export interface SshOptions {
  /** Where the known_hosts file for this host and stage is written. */
  dir: string;
  stage?: BootStage;
  input?: string;
  /** Keep stdin open (a command waiting for input, or `command` null: a connection that runs nothing, ssh -N). */
  hold?: boolean;
}

export function sshClient(inventory: Inventory, host: string, command: string | null, opts: SshOptions): { child: ChildProcess; done: Promise<SshRun> } {
  const stage = opts.stage ?? 'openssh';
  const h = inventory.hosts.find((x) => x.name === host);
  if (!h) throw new Error(`no host ${host} in the lab's inventory`);
  const knownHosts = join(opts.dir, `known_hosts_${host}_${stage}`);
  writeFileSync(knownHosts, `${h.address} ${stage === 'openssh' ? h.hostKeys.openssh : h.hostKeys.dropbear}\n`);
  const child = spawn('ssh', [
    '-i', inventory.ssh.privateKeyPath,
    '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=3', '-o', 'LogLevel=ERROR',
    `${h.user}@${h.address}`, ...(command === null ? ['-N'] : [command]),
  ], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  // An ssh that exits at once (a host going down) closes its stdin before we write: its exit code says so, not an EPIPE.
  child.stdin!.on('error', () => undefined);
  if (!opts.hold) child.stdin!.end(opts.input ?? '');
  const done = new Promise<SshRun>((resolve) => child.on('close', (code) => {
    const raw = Buffer.concat(out);
    resolve({ raw, stdout: raw.toString('utf8'), stderr, code: code ?? -1 });
  }));
  return { child, done };
}
