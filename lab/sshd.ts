/**
 * Real OpenSSH servers for the lab hosts, plus the system plumbing they need (user, keys, forced command).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAB_USER = 'runbook-lab';

/** The repository root, whether we run from lab/*.ts (vitest) or dist/lab/*.js. */
export function repoRoot(): string {
  let root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  if (basename(root) === 'dist') root = dirname(root);
  return root;
}

/** dist/lab/forced-command.js, compiled now if missing or older than its sources. */
export function ensureForcedCommand(): string {
  const root = repoRoot();
  const target = join(root, 'dist', 'lab', 'forced-command.js');
  const sources = ['forced-command.ts', 'protocol.ts'].map((f) => join(root, 'lab', f));
  const stale = !existsSync(target) || sources.some((s) => existsSync(s) && statSync(s).mtimeMs > statSync(target).mtimeMs);
  if (stale) {
    if (!existsSync(sources[0]!)) throw new Error(`${target} is missing and there is no source to build it from`);
    // Compile only these two files: the lab must not depend on the rest of the tree type-checking.
    execFileSync(join(root, 'node_modules', '.bin', 'tsc'), [
      ...sources, '--outDir', join(root, 'dist', 'lab'), '--rootDir', join(root, 'lab'),
      '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node',
      '--strict', '--skipLibCheck', '--sourceMap', '--ignoreConfig',
    ], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  }
  if (!existsSync(target)) throw new Error(`could not build ${target}`);
  return target;
}

export function ensureUser(): void {
  try {
    execFileSync('id', ['-u', LAB_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--home-dir', `/var/lib/${LAB_USER}`, '--create-home', '--shell', '/bin/sh', LAB_USER], { stdio: 'pipe' });
  }
  // A `!` password field is a locked account, which sshd refuses even for key logins.
  const shadow = readFileSync('/etc/shadow', 'utf8').split('\n').find((l) => l.startsWith(`${LAB_USER}:`));
  if (shadow?.split(':')[1] !== '*') execFileSync('usermod', ['-p', '*', LAB_USER], { stdio: 'pipe' });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
}

export function opensshKey(path: string, comment: string): string {
  if (!existsSync(path)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { stdio: 'pipe' });
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

export function dropbearKey(path: string): string {
  if (!existsSync(path)) execFileSync('dropbearkey', ['-t', 'ed25519', '-f', path], { stdio: 'pipe' });
  const out = execFileSync('dropbearkey', ['-y', '-f', path], { encoding: 'utf8' });
  const line = out.split('\n').find((l) => l.startsWith('ssh-ed25519 '));
  if (!line) throw new Error(`dropbearkey -y printed no public key for ${path}`);
  return line.trim();
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

function cmdline(pid: number): string {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '); } catch { return ''; }
}

function killGroup(pid: number): void {
  try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/**
 * Kill sshd left by an earlier lab: any recorded in `runDir`, and any lab sshd (one with our forced
 * command in its config) that listens on one of `addresses`, whatever directory it came from.
 */
export function killStale(runDir: string, addresses: string[]): void {
  if (existsSync(runDir)) {
    for (const file of readdirSync(runDir).filter((f) => f.endsWith('.pid'))) {
      const pid = Number(readFileSync(join(runDir, file), 'utf8').trim());
      if (pid > 1 && alive(pid) && cmdline(pid).includes('sshd')) killGroup(pid);
      rmSync(join(runDir, file), { force: true });
    }
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = cmdline(Number(entry)).trim().split(' ');
    const f = args.indexOf('-f');
    if (!args[0]?.endsWith('sshd') || f < 0 || !args[f + 1]) continue;
    let config = '';
    try { config = readFileSync(args[f + 1]!, 'utf8'); } catch { continue; }
    if (!config.includes('forced-command.js')) continue;
    if (addresses.some((a) => config.includes(`ListenAddress ${a}:22\n`))) killGroup(Number(entry));
  }
}

export interface SshdOptions {
  dir: string;
  host: string;
  address: string;
  hostKeyPath: string;
  authorizedKeysPath: string;
  forceCommand: string;
}

function waitForPort(address: string, port: number, child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolvePromise, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`sshd for ${address} exited: ${stderr().trim()}`));
        return;
      }
      const socket = connect({ host: address, port });
      socket.once('connect', () => { socket.destroy(); resolvePromise(); });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`sshd for ${address} did not listen within ${timeoutMs} ms: ${stderr().trim()}`));
        else setTimeout(attempt, 30);
      });
    };
    attempt();
  });
}

/** Start `sshd -D -e -f config` in its own process group; resolves once it accepts connections. */
export async function startSshd(o: SshdOptions): Promise<ChildProcess> {
  const sshdDir = join(o.dir, 'sshd');
  const runDir = join(o.dir, 'run');
  mkdirSync(sshdDir, { recursive: true });
  mkdirSync(runDir, { recursive: true });
  const config = join(sshdDir, `${o.host}.conf`);
  writeFileSync(config, [
    `# runbook-lab: simulated host ${o.host}`,
    `ListenAddress ${o.address}:22`,
    `HostKey ${o.hostKeyPath}`,
    `PidFile ${join(runDir, `${o.host}.sshd.pid`)}`,
    `AuthorizedKeysFile ${o.authorizedKeysPath}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin no',
    `AllowUsers ${LAB_USER}`,
    'MaxSessions 10',
    'MaxStartups 100:30:200',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'AllowAgentForwarding no',
    'PermitTunnel no',
    'PrintMotd no',
    'LogLevel ERROR',
    `ForceCommand ${o.forceCommand}`,
    '',
  ].join('\n'));
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => { stderr = (stderr + c).slice(-4000); });
  child.on('error', (e) => { stderr += String(e); });
  if (child.pid) writeFileSync(join(runDir, `${o.host}.pid`), `${child.pid}\n`);
  try {
    await waitForPort(o.address, 22, child, 5000, () => stderr);
  } catch (error) {
    if (child.pid) killGroup(child.pid);
    throw error;
  }
  return child;
}

/** Kill an sshd and every session it forked (they share its process group). */
export function stopSshd(child: ChildProcess, runDir: string, host: string): Promise<void> {
  return new Promise((resolvePromise) => {
    rmSync(join(runDir, `${host}.pid`), { force: true });
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) { resolvePromise(); return; }
    child.once('exit', () => resolvePromise());
    killGroup(child.pid);
  });
}

export function killSshdSync(child: ChildProcess): void {
  if (child.pid && child.exitCode === null && child.signalCode === null) killGroup(child.pid);
}
