/**
 * A newcomer's clone: the lab's code in a folder only its owner may enter (mktemp -d, a Debian 12 home), the lab
 * run by a child process as `npm start` runs it, its lab folder inside the private one too (`.lab`). The hosts answer
 * over sshd and dropbear with real output; a SIGKILLed lab leaves no daemon, no session and no tether behind.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Inventory } from '../common/inventory.js';
import { spawnTethered } from '../common/tether.js';
import { repoRoot } from '../scripts/paths.js';
import { eventually } from './helpers/runbooks.js';
import { sshClient } from './helpers/ssh.js';

const SUBNET = 230;
let priv: string;
let clone: string;
let labDir: string;
const children: ChildProcess[] = [];

// Started by `node <clone>/start-lab.mjs LAB_DIR`: a LUKS host waiting in dropbear, a plain one in sshd, and a Ganeti
// node with its members' sshd beside its own (lab/members-sshd.ts).
const START_LAB = `
const [dir, subnet] = process.argv.slice(2);
const { Lab, presets } = await import('./dist/lab/lab.js');
const { luksState, luksVolume } = await import('./dist/lab/capabilities/luks/index.js');
const enc = presets.xenDom0Raid1('enc');
enc.state.luks = luksState([luksVolume({ uuid: '43b0c19b-977b-4fc7-838a-c38494a7681c', paths: ['/dev/sda5'], name: 'sda5_crypt', root: true, passphrases: ['secret'] })]);
try {
  const lab = await Lab.start({ dir, subnet: Number(subnet), hosts: [enc, presets.xenDom0Raid1('plain'), presets.ganetiCluster({ nodes: ['gnt'], prepared: true, bootDelayMs: 300 }).hosts[0]] });
  process.stdout.write('ready ' + lab.inventoryPath + '\\n');
} catch (error) {
  process.stderr.write(error.message + '\\n');
  process.exit(3);
}
setInterval(() => undefined, 1 << 30);
`;

interface Started { child: ChildProcess; ready: Promise<string>; exited: Promise<number | null>; stderr: () => string }

function startLab(dir: string): Started {
  const child = spawnTethered(process.execPath, [join(clone, 'start-lab.mjs'), dir, String(SUBNET)], { cwd: clone, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /^ready (.+)$/m.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`the lab exited (${code}): ${err}`)));
  });
  ready.catch(() => undefined);
  return { child, ready, exited, stderr: () => err };
}

/** `command` null: a connection that runs nothing and stays open (ssh -N) until the server closes it. */
function ssh(inventory: Inventory, host: string, command: string | null, stdin: 'close' | 'hold' = 'close', dir = labDir) {
  return sshClient(inventory, host, command, { dir, hold: stdin === 'hold', stage: host === 'enc' ? 'dropbear' : 'openssh' });
}

function pidNamespace(pid: string): string {
  try { return readlinkSync(`/proc/${pid}/ns/pid`); } catch { return ''; }
}

/** Live processes whose command line names `text` (the lab's daemons and their tethers name its folder). */
function processesNaming(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e) && e !== String(process.pid))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
      if (cmd.includes(text) && state !== 'Z') found.push(`${pid} ${cmd}`);
    } catch { /* gone meanwhile */ }
  }
  return found;
}

beforeAll(() => {
  // A "clone" only its owner may enter: the built code, package.json, and the installed dependencies.
  priv = mkdtempSync(join(tmpdir(), 'runbook-private-'));
  expect(statSync(priv).mode & 0o777).toBe(0o700);
  clone = join(priv, 'clone');
  mkdirSync(clone);
  const root = repoRoot();
  cpSync(join(root, 'dist'), join(clone, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(clone, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'));
  writeFileSync(join(clone, 'start-lab.mjs'), START_LAB);
  // The lab folder itself where the lab user may enter it (as the tests' labs are: under /tmp).
  labDir = mkdtempSync(join(tmpdir(), 'runbook-private-lab-'));
});

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (priv) rmSync(priv, { recursive: true, force: true });
  if (labDir) rmSync(labDir, { recursive: true, force: true });
});

describe('a clone in a private folder', () => {
  it('runs a lab whose folder is inside the private clone, as npm start does (its .lab), and stops it whole', async () => {
    const inside = join(clone, '.lab');
    const own = startLab(inside);
    const inv = JSON.parse(readFileSync(await own.ready, 'utf8')) as Inventory;
    // What the lab user must reach is kept out of the private folder; the lab folder links the control socket.
    expect(readlinkSync(join(inside, 'lab.sock'))).toMatch(/^\/run\/runbook-lab\/labs\/[0-9a-f]{16}\/lab\.sock$/);
    const plain = await ssh(inv, 'plain', 'hostname', 'close', inside).done;
    expect(plain).toMatchObject({ stdout: 'plain\n', stderr: '', code: 0 });
    own.child.kill('SIGKILL');
    await own.exited;
    await eventually('the private lab to stop', () => processesNaming(inside).length === 0 || undefined, 5_000);
  });

  let lab: Started;
  let inventory: Inventory;

  it('answers over dropbear and sshd with real output, the forced command installed outside the clone', async () => {
    lab = startLab(labDir);
    inventory = JSON.parse(readFileSync(await lab.ready, 'utf8')) as Inventory;
    const plain = await ssh(inventory, 'plain', 'hostname').done;
    expect(plain).toMatchObject({ stdout: 'plain\n', stderr: '', code: 0 });
    const enc = await ssh(inventory, 'enc', 'cat /proc/sys/kernel/random/boot_id').done;
    expect(enc.stderr).toBe('');
    expect(enc.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    const config = readFileSync(join(labDir, 'sshd', 'plain.conf'), 'utf8');
    expect(config).toMatch(/^ForceCommand \/run\/runbook-lab\/forced-command\/[0-9a-f]{16}\/forced-command \/run\/runbook-lab\/labs\//m);
    expect(config).not.toContain(priv);
  });

  it('leaves no sshd, dropbear, session or tether behind when the lab process is SIGKILLed', async () => {
    // Sessions that would outlive their daemon (both put each connection in a session of its own): an unlock
    // waiting for its passphrase in dropbear, an idle connection to sshd.
    const unlock = ssh(inventory, 'enc', 'cryptroot-unlock', 'hold');
    const idle = ssh(inventory, 'plain', null, 'hold');
    await eventually('the unlock session', () => processesNaming(`${readlinkSync(join(labDir, 'lab.sock'))} enc dropbear`).length > 0 || undefined, 10_000);
    const daemons = processesNaming(labDir).filter((p) => /^\d+ (sshd: )?\/usr\/sbin\/(sshd|dropbear) /.test(p));
    // Every process of the lab's daemons' PID namespaces (one per daemon: enc's dropbear, plain's sshd, gnt's sshd and
    // its members' sshd): the daemons, their connections, the forced commands.
    const namespaces = new Set(daemons.map((p) => pidNamespace(p.split(' ')[0]!)));
    expect(namespaces.size).toBe(4);
    const inNamespaces = (): string[] => readdirSync('/proc').filter((e) => /^\d+$/.test(e) && namespaces.has(pidNamespace(e)));
    // Each daemon, its connection process(es), the forced command: at least five.
    await eventually('both connections', () => inNamespaces().length >= 5 || undefined, 10_000);

    lab.child.kill('SIGKILL');
    await lab.exited;
    await eventually('every process of the lab to die', () => (processesNaming(labDir).length === 0 && inNamespaces().length === 0) || undefined, 5_000)
      .catch(() => { throw new Error(`left behind:\n${[...processesNaming(labDir), ...inNamespaces()].join('\n')}`); });
    unlock.child.stdin!.end();
    idle.child.stdin!.end();
    expect((await unlock.done).code).not.toBe(0);
    expect((await idle.done).code).not.toBe(0); // the server closed the idle connection
  });
});
