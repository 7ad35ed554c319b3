/**
 * The lab user, as whom sshd and dropbear run every command of a lab host: the account, the forced command
 * installed where it can read it, and a probe that it can run it, before any host starts.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAB_USER = 'runbook-lab';

/**
 * Where the forced command is installed for the lab user: sshd runs it as runbook-lab, who may not enter the
 * clone (a 0700 home or mktemp folder). Root's, mode 0755, not writable by the lab user; on tmpfs.
 */
export const RUNTIME_DIR = '/run/runbook-lab';

/** The relay's C source: beside this module (the build copies it into dist/lab, a clone may hold only dist/). */
const RELAY_SOURCE = fileURLToPath(new URL('./forced-command.c', import.meta.url));
const CC_FLAGS = ['-O2', '-Wall', '-Wextra', '-Werror', '-std=c11', '-D_DEFAULT_SOURCE'];

function rootOnlyDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  chownSync(dir, 0, 0);
  chmodSync(dir, 0o755); // whatever root's umask
}

/**
 * The forced command, compiled (Debian's gcc, scripts/setup.sh) and installed where the lab user can run it:
 * RUNTIME_DIR/forced-command/<hash of its source and flags>/forced-command. One folder per version of the code,
 * never rewritten: a lab of another clone may be running another version, and a running sshd keeps using its own.
 */
export function ensureForcedCommand(): string {
  if (!existsSync(RELAY_SOURCE)) throw new Error(`${RELAY_SOURCE} is missing: rebuild (npm run build copies it into dist/lab)`);
  const source = readFileSync(RELAY_SOURCE);
  const hash = createHash('sha256').update(CC_FLAGS.join(' ')).update('\0').update(source).digest('hex').slice(0, 16);
  const parent = join(RUNTIME_DIR, 'forced-command');
  const dir = join(parent, hash);
  const target = join(dir, 'forced-command');
  if (existsSync(target)) return target;
  rootOnlyDir(RUNTIME_DIR);
  rootOnlyDir(parent);
  const tmp = mkdtempSync(join(parent, '.new-'));
  try {
    execFileSync('gcc', [...CC_FLAGS, '-o', join(tmp, 'forced-command'), RELAY_SOURCE], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    const e = error as { code?: string; stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('gcc is missing: the lab compiles its forced command with it (npm run setup installs it)');
    throw new Error(`could not compile the lab's forced command ${RELAY_SOURCE}:\n${e.stderr?.toString() ?? String(error)}`);
  }
  chmodSync(join(tmp, 'forced-command'), 0o755);
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
 * lab socket and exits 0). If the lab user cannot run the forced command or reach the socket, every
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
      `Fix: put the lab folder under folders every user may enter (the lab folder is ${dir}), or let the lab user through: ` +
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
