/**
 * The lab user, as whom sshd and dropbear run every command of a lab host: the account, the forced command
 * installed where it can read it, and a probe that it can run it, before any host starts.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from '../scripts/paths.js';

export const LAB_USER = 'runbook-lab';

/**
 * Where the forced command is installed for the lab user: sshd runs it as runbook-lab, who may not enter the
 * clone (a 0700 home or mktemp folder). Root's, mode 0755, not writable by the lab user; on tmpfs.
 */
export const RUNTIME_DIR = '/run/runbook-lab';

/** Compile dist/lab/forced-command.js if missing or older than its sources. */
function buildForcedCommand(): string {
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

function rootOnlyDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  chownSync(dir, 0, 0);
  chmodSync(dir, 0o755); // whatever root's umask
}

/**
 * The forced command, installed where the lab user can read it: RUNTIME_DIR/forced-command/<hash of its
 * code>/forced-command.js (with protocol.js). One folder per version of the code, never rewritten: a lab of
 * another clone may be running another version, and a running sshd keeps using its own.
 */
export function ensureForcedCommand(): string {
  const built = dirname(buildForcedCommand());
  const files: Record<string, Buffer> = {
    'forced-command.js': readFileSync(join(built, 'forced-command.js')),
    'protocol.js': readFileSync(join(built, 'protocol.js')),
    'package.json': Buffer.from('{ "type": "module" }\n'),
  };
  const hash = createHash('sha256');
  for (const [name, data] of Object.entries(files)) hash.update(`${name}\0${data.length}\0`).update(data);
  const parent = join(RUNTIME_DIR, 'forced-command');
  const dir = join(parent, hash.digest('hex').slice(0, 16));
  const target = join(dir, 'forced-command.js');
  if (existsSync(target)) return target;
  rootOnlyDir(RUNTIME_DIR);
  rootOnlyDir(parent);
  const tmp = mkdtempSync(join(parent, '.new-'));
  for (const [name, data] of Object.entries(files)) writeFileSync(join(tmp, name), data, { mode: 0o644 });
  for (const name of Object.keys(files)) chmodSync(join(tmp, name), 0o644);
  chmodSync(tmp, 0o755);
  try {
    renameSync(tmp, dir);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(target)) throw error; // otherwise another lab installed the same code meanwhile
  }
  return target;
}

/**
 * What the lab user must reach of one lab — the control socket the forced command talks to, the authorized_keys
 * sshd reads as that user — lives here, not in the lab folder, which may sit in a private folder (a 0700 home):
 * RUNTIME_DIR/labs/<hash of the lab folder>/, root's, mode 0755.
 */
export function labRuntimeDir(labDir: string): string {
  const dir = join(RUNTIME_DIR, 'labs', createHash('sha256').update(labDir).digest('hex').slice(0, 16));
  rootOnlyDir(RUNTIME_DIR);
  rootOnlyDir(join(RUNTIME_DIR, 'labs'));
  rootOnlyDir(dir);
  return dir;
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

// ---------------------------------------------------------------- can the lab user run the forced command?

interface Run { code: number | null; out: string }

/** Run argv as the lab user, as sshd runs a session: its uid, gid and groups, its home, a clean environment. */
function asLabUser(argv: string[]): Promise<Run> {
  return new Promise((resolvePromise) => {
    execFile('/usr/bin/setpriv', ['--reuid', LAB_USER, '--regid', LAB_USER, '--init-groups', '--', ...argv], {
      cwd: '/', env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: labHome(), USER: LAB_USER, LOGNAME: LAB_USER }, timeout: 15_000,
    }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolvePromise({ code, out: `${stdout}${stderr}`.trim() || (error ? error.message : '') });
    });
  });
}

/** Every folder a path goes through, from / down to the one holding it. */
function foldersOf(path: string): string[] {
  const folders: string[] = [];
  for (let d = dirname(path); ; d = dirname(d)) {
    folders.unshift(d);
    if (d === dirname(d)) return folders;
  }
}

function folderFacts(folder: string): string {
  try {
    const st = statSync(folder);
    const owner = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[2] === String(st.uid))?.split(':')[0] ?? String(st.uid);
    return `${folder} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, owner ${owner})`;
  } catch { return folder; }
}

/** Lab folders whose forced command has answered the probe (once per lab folder and process). */
const probed = new Set<string>();

/**
 * Before the first daemon of a lab: run its forced command once as the lab user with --probe (it connects to the
 * lab socket and exits 0). If the lab user cannot run node, read the forced command or reach the socket, every
 * command on every host would fail: refuse to start, naming the folder it cannot enter and the fix.
 */
export async function checkForcedCommand(dir: string, host: string, forceCommand: string): Promise<void> {
  if (probed.has(dir)) return;
  const probe = await asLabUser(['/bin/sh', '-c', `${forceCommand} --probe`]);
  if (probe.code === 0) { probed.add(dir); return; }
  const paths = forceCommand.split(' ').filter((t) => t.startsWith('/'));
  const folders = [...new Set(paths.flatMap(foldersOf))];
  const blocked = await asLabUser(['/bin/sh', '-c', 'for d; do [ -x "$d" ] || { echo "$d"; exit 0; }; done', 'sh', ...folders]);
  const folder = blocked.code === 0 && blocked.out ? blocked.out.split('\n')[0]! : null;
  const why = folder
    ? `it cannot enter ${folderFacts(folder)}. A clone or lab folder under a private folder (a 0700 home, mktemp -d) does that. ` +
      `Fix: put the lab folder (and node) under folders every user may enter (the lab folder is ${dir}), or let the lab user through: ` +
      `setfacl -m u:${LAB_USER}:x ${folder} (or chmod o+x ${folder})`
    : 'see its output';
  throw new Error(
    `lab host ${host}: the lab user ${LAB_USER}, as whom sshd and dropbear run every command, cannot run the forced command ` +
    `\`${forceCommand}\` (exit ${probe.code ?? 'killed'}): ${why}.\nIts output: ${probe.out || '(none)'}`,
  );
}

/** The lab user's home (dropbear reads its authorized_keys there). */
export function labHome(): string {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${LAB_USER}:`));
  return line?.split(':')[5] || `/var/lib/${LAB_USER}`;
}
