/**
 * Real SSH servers for the lab hosts — OpenSSH for the running system, Debian's dropbear for the initramfs —
 * plus the keys they need. The lab user they run commands as, and its forced command: lab-user.ts.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnTetheredDaemon } from '../common/tether.js';
import { killGroup, waitForPort } from './daemons.js';
import { checkForcedCommand, labHome, LAB_USER } from './lab-user.js';
import { MEMBERS_MARKER, MEMBERS_SSH_PORT } from './members-sshd.js';

// What lab.ts takes from here, though it lives with the lab user.
export { ensureForcedCommand, ensureUser, LAB_USER, labRuntimeDir } from './lab-user.js';

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

function netNamespace(pid: string): string {
  try { return readlinkSync(`/proc/${pid}/ns/net`); } catch { return ''; }
}

/**
 * Kill sshd and dropbear left by an earlier lab: any recorded in `runDir`, and any lab daemon (an sshd with our
 * forced command in its config or a members' sshd, a dropbear with it in its -c) listening on one of `addresses`,
 * whatever directory it came from.
 */
export function killStale(runDir: string, addresses: string[]): void {
  if (existsSync(runDir)) {
    for (const file of readdirSync(runDir).filter((f) => f.endsWith('.pid'))) {
      const pid = Number(readFileSync(join(runDir, file), 'utf8').trim());
      const cmd = pid > 1 && alive(pid) ? cmdline(pid) : '';
      if (cmd.includes('sshd') || cmd.includes('dropbear')) killGroup(pid);
      rmSync(join(runDir, file), { force: true });
    }
  }
  // A daemon in another network namespace (another lab run in its own sandbox) does not hold our addresses.
  const ourNet = netNamespace('self');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (netNamespace(entry) !== ourNet) continue;
    let argv: string[];
    try { argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    if (argv[0]?.endsWith('dropbear')) {
      const forced = argv[argv.indexOf('-c') + 1] ?? '';
      const listen = argv[argv.indexOf('-p') + 1] ?? '';
      if (forced.includes('forced-command') && addresses.some((a) => listen === `${a}:22`)) killGroup(Number(entry));
      continue;
    }
    // A listening sshd retitles itself: `sshd: /usr/sbin/sshd -D -e -f CONFIG [listener] ...`.
    const f = /^(?:sshd: )?\S*sshd -D -e -f (\S+)/.exec(argv.join(' '));
    if (!f) continue;
    let config = '';
    try { config = readFileSync(f[1]!, 'utf8'); } catch { continue; }
    // The engine's sshd (our forced command, port 22) or a members' sshd (members-sshd.ts).
    const port = config.includes('forced-command') ? 22 : config.startsWith(MEMBERS_MARKER) ? MEMBERS_SSH_PORT : 0;
    if (port && addresses.some((a) => config.includes(`ListenAddress ${a}:${port}\n`))) killGroup(Number(entry));
  }
}

// ---------------------------------------------------------------- dropbear's authorized_keys

/**
 * dropbear has no AuthorizedKeysFile option: it reads ~runbook-lab/.ssh/authorized_keys, which every lab on
 * this machine shares. Each lab's line carries `runbook-lab:<its dir>` as comment; a lab adds its own line and
 * drops only its own, or those of labs whose directory is gone. A lock directory serializes the labs.
 */
function withKeysLock<T>(sshDir: string, fn: () => T): T {
  const lock = join(sshDir, '.authorized_keys.lock');
  const deadline = Date.now() + 5000;
  for (;;) {
    try { mkdirSync(lock); break; } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A lock older than 10 s belongs to a lab that died holding it.
      try { if (Date.now() - statSync(lock).mtimeMs > 10_000) rmSync(lock, { recursive: true, force: true }); } catch { /* gone */ }
      if (Date.now() > deadline) throw new Error(`${lock} is held by another lab`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try { return fn(); } finally { rmSync(lock, { recursive: true, force: true }); }
}

function rewriteDropbearKeys(edit: (lines: string[]) => string[]): void {
  const home = labHome();
  const sshDir = join(home, '.ssh');
  const uid = Number(execFileSync('id', ['-u', LAB_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', LAB_USER], { encoding: 'utf8' }).trim());
  mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  // dropbear refuses keys in a directory or file writable by anyone but the user (or root).
  chownSync(sshDir, uid, gid);
  chmodSync(sshDir, 0o700);
  withKeysLock(sshDir, () => {
    const file = join(sshDir, 'authorized_keys');
    const before = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()) : [];
    const after = edit(before);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, after.map((l) => `${l}\n`).join(''), { mode: 0o600 });
    chownSync(tmp, uid, gid);
    renameSync(tmp, file);
  });
}

function labOf(line: string): string | null {
  const m = / runbook-lab:(\/.*)$/.exec(line);
  return m ? m[1]! : null;
}

/** Let `publicKey` log in to the lab's dropbears, keeping every other live lab's key. */
export function addDropbearKey(publicKey: string, labDir: string): void {
  const [type, blob] = publicKey.trim().split(/\s+/);
  const line = `${type} ${blob} runbook-lab:${labDir}`;
  rewriteDropbearKeys((lines) => [
    ...lines.filter((l) => { const dir = labOf(l); return dir === null || (dir !== labDir && existsSync(dir)); }),
    line,
  ]);
}

export function removeDropbearKey(labDir: string): void {
  rewriteDropbearKeys((lines) => lines.filter((l) => labOf(l) !== labDir));
}

export interface SshdOptions {
  dir: string;
  host: string;
  address: string;
  hostKeyPath: string;
  authorizedKeysPath: string;
  forceCommand: string;
}

/** Start `sshd -D -e -f config` in its own process group and PID namespace; resolves once it accepts connections. */
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
    // sshd writes its namespace pid (1) there; without a PidFile it would overwrite the system's /run/sshd.pid.
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
  await checkForcedCommand(o.dir, o.host, o.forceCommand);
  // Init of its own PID namespace, tethered: sshd and its connections die with this process, however it ends.
  const child = spawnTetheredDaemon('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => { stderr = (stderr + c).slice(-4000); });
  child.on('error', (e) => { stderr += String(e); });
  if (child.pid) writeFileSync(join(runDir, `${o.host}.pid`), `${child.pid}\n`);
  try {
    await waitForPort('sshd', o.address, 22, child, 5000, () => stderr);
  } catch (error) {
    if (child.pid) killGroup(child.pid);
    throw error;
  }
  return child;
}

export interface DropbearOptions {
  dir: string;
  host: string;
  address: string;
  /** dropbear's own key format, as dropbearkey writes it. */
  hostKeyPath: string;
  forceCommand: string;
}

/**
 * Start Debian's dropbear as an initramfs would: keys only, no forwarding, one forced command (it puts the
 * client's command in SSH_ORIGINAL_COMMAND). Foreground, own process group and PID namespace, log in dir/sshd/HOST.dropbear.log.
 */
export async function startDropbear(o: DropbearOptions): Promise<ChildProcess> {
  const sshdDir = join(o.dir, 'sshd');
  const runDir = join(o.dir, 'run');
  mkdirSync(sshdDir, { recursive: true });
  mkdirSync(runDir, { recursive: true });
  const log = join(sshdDir, `${o.host}.dropbear.log`);
  const pidFile = join(runDir, `${o.host}.dropbear.pid`);
  await checkForcedCommand(o.dir, o.host, o.forceCommand);
  const logFd = openSync(log, 'a');
  let child: ChildProcess;
  try {
    // Like sshd. Our pid file holds the group's leader; dropbear writes its own (namespace) pid beside it.
    child = spawnTetheredDaemon('/usr/sbin/dropbear', [
      '-F', '-E', '-s', '-g', '-w', '-j', '-k', '-m',
      '-p', `${o.address}:22`, '-r', o.hostKeyPath, '-P', join(runDir, `${o.host}.dropbear.daemon.pid`), '-c', o.forceCommand,
    ], { stdio: ['ignore', 'ignore', logFd] });
  } finally {
    closeSync(logFd);
  }
  let spawnError = '';
  child.on('error', (e) => { spawnError = String(e); });
  if (child.pid) writeFileSync(pidFile, `${child.pid}\n`);
  const tail = () => { try { return spawnError + readFileSync(log, 'utf8').slice(-2000); } catch { return spawnError; } };
  try {
    await waitForPort('dropbear', o.address, 22, child, 5000, tail);
  } catch (error) {
    if (child.pid) killGroup(child.pid);
    throw error;
  }
  return child;
}

export function stopDropbear(child: ChildProcess, runDir: string, host: string): Promise<void> {
  return stopDaemon(child, join(runDir, `${host}.dropbear.pid`));
}

/** Kill an sshd and every session it forked (they live in its PID namespace: common/tether.ts). */
export function stopSshd(child: ChildProcess, runDir: string, host: string): Promise<void> {
  return stopDaemon(child, join(runDir, `${host}.pid`));
}

function stopDaemon(child: ChildProcess, pidFile: string): Promise<void> {
  return new Promise((resolvePromise) => {
    rmSync(pidFile, { force: true });
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) { resolvePromise(); return; }
    child.once('exit', () => resolvePromise());
    killGroup(child.pid);
  });
}

export function killSshdSync(child: ChildProcess): void {
  if (child.pid && child.exitCode === null && child.signalCode === null) killGroup(child.pid);
}
