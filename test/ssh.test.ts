/**
 * The SSH executor against real OpenSSH servers started here, on loopback only.
 * Needs root (creates the system user runbook-test) and /usr/sbin/sshd.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Host } from '../common/inventory.js';
import { sh } from '../common/shell.js';
import { spawnTethered } from '../common/tether.js';
import { HostKeyMismatchError, SshPool, SshTimeoutError, fingerprint } from '../activities/ssh/pool.js';

const USER = 'runbook-test';
const PORT = 2222;
const ADDR_OPENSSH = '127.0.201.1';
const ADDR_DROPBEAR = '127.0.201.2'; // an sshd presenting the "dropbear" stage key
const ADDR_NOTHING = '127.0.201.3';

let dir: string;
let opensshKey: string;
let dropbearKey: string;
let strangerKey: string;
let privateKey: Buffer;
const servers = new Map<string, ChildProcess>();

function keygen(name: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  return readFileSync(join(dir, `${name}.pub`), 'utf8').trim();
}

function waitForPort(address: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = createConnection(PORT, address);
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`sshd on ${address} did not start`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

async function startSshd(address: string, hostKeyName: string): Promise<void> {
  const cfg = join(dir, `sshd-${address}.conf`);
  writeFileSync(
    cfg,
    [
      `ListenAddress ${address}:${PORT}`,
      `HostKey ${join(dir, hostKeyName)}`,
      `PidFile ${join(dir, `sshd-${address}.pid`)}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `AllowUsers ${USER}`,
      `ForceCommand ${join(dir, 'force.sh')}`,
      '',
    ].join('\n'),
  );
  // Tethered: dies with this test process, however it ends.
  const child = spawnTethered('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.once('exit', (code) => {
    if (servers.get(address) === child && code !== 0 && code !== null) console.error(`sshd ${address} exited ${code}: ${stderr}`);
  });
  servers.set(address, child);
  await waitForPort(address);
}

/** Stops the listener and every per-connection sshd it forked (all started by this test, found by parent pid). */
async function stopSshd(address: string): Promise<void> {
  const child = servers.get(address);
  if (!child?.pid) return;
  servers.delete(address);
  let children: number[] = [];
  try {
    children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(child.pid)], { encoding: 'utf8' })
      .split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
  } catch {
    /* no children */
  }
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  for (const pid of children) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  await exited;
}

function host(address: string, keys: Host['hostKeys'], name = 'lab-dom0'): Host {
  return { name, address, port: PORT, user: USER, kind: 'xen-dom0', hostKeys: keys };
}

function commandLog(): string {
  return readFileSync(join(dir, 'commands.log'), 'utf8');
}

beforeAll(async () => {
  try {
    execFileSync('id', [USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--shell', '/bin/sh', '--home-dir', '/', '--no-create-home', USER]);
  }
  const home = execFileSync('getent', ['passwd', USER], { encoding: 'utf8' }).split(':')[5] ?? '';
  if (!existsSync(home)) execFileSync('usermod', ['-d', '/', USER]); // sshd warns on stderr otherwise

  execFileSync('usermod', ['-p', '*', USER]);
  execFileSync('mkdir', ['-p', '/run/sshd']);
  dir = mkdtempSync(join(tmpdir(), 'runbook-ssh-test-'));
  chmodSync(dir, 0o755);
  opensshKey = keygen('host_openssh');
  dropbearKey = keygen('host_dropbear');
  strangerKey = keygen('host_stranger');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'worker', '-f', join(dir, 'client')]);
  privateKey = readFileSync(join(dir, 'client'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')));
  chmodSync(join(dir, 'authorized_keys'), 0o644);
  // The server's own record of every command it received, written before running it.
  writeFileSync(join(dir, 'commands.log'), '');
  chmodSync(join(dir, 'commands.log'), 0o666);
  writeFileSync(
    join(dir, 'force.sh'),
    `#!/bin/sh\nprintf '%s\\n' "$SSH_ORIGINAL_COMMAND" >> ${join(dir, 'commands.log')}\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n`,
  );
  chmodSync(join(dir, 'force.sh'), 0o755);
  await startSshd(ADDR_OPENSSH, 'host_openssh');
  await startSshd(ADDR_DROPBEAR, 'host_dropbear');
}, 30_000);

afterAll(async () => {
  for (const address of [...servers.keys()]) await stopSshd(address);
  if (dir && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
});

describe('SshPool against OpenSSH', () => {
  const pools: SshPool[] = [];
  const newPool = (maxChannelsPerHost?: number) => {
    const pool = new SshPool({ privateKey, readyTimeoutMs: 5_000, maxChannelsPerHost });
    pools.push(pool);
    return pool;
  };
  afterAll(() => pools.forEach((p) => p.close()));
  const dom0 = () => host(ADDR_OPENSSH, { openssh: opensshKey, dropbear: dropbearKey });

  it('returns exit code, stdout and stderr', async () => {
    const pool = newPool();
    const r = await pool.exec(dom0(), 'openssh', sh`echo out; echo err >&2; exit 3`);
    expect(r).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
    const ok = await pool.exec(dom0(), 'openssh', sh`printf %s ${"it's quoted; $HOME"}`);
    expect(ok).toEqual({ exitCode: 0, stdout: "it's quoted; $HOME", stderr: '' });
  });

  it('delivers stdin byte-exact, without a trailing newline, and closes it when absent', async () => {
    const pool = newPool();
    const bytes = Buffer.from([0x00, 0x01, 0xff, 0x0a, 0x41, 0x42, 0xc3, 0xa9, 0x0d]);
    const r = await pool.exec(dom0(), 'openssh', sh`od -An -tx1 -v | tr -d ' \n'`, { stdin: bytes });
    expect(r.stdout).toBe(bytes.toString('hex'));
    const count = await pool.exec(dom0(), 'openssh', sh`wc -c`, { stdin: 'abc' });
    expect(count.stdout.trim()).toBe('3');
    // without stdin, a reader sees EOF at once instead of hanging
    const empty = await pool.exec(dom0(), 'openssh', sh`wc -c`, { timeoutMs: 5_000 });
    expect(empty.stdout.trim()).toBe('0');
  });

  it('runs 20 concurrent commands on one host (channels capped, the rest queued)', async () => {
    const pool = newPool();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pool.exec(dom0(), 'openssh', sh`sleep 0.3; echo ${i}`)),
    );
    results.forEach((r, i) => expect(r).toEqual({ exitCode: 0, stdout: `${i}\n`, stderr: '' }));
  });

  it('without the cap, OpenSSH (MaxSessions 10) refuses channels past 10: the cap is what makes 20 work', async () => {
    const pool = newPool(20);
    const settled = await Promise.allSettled(
      Array.from({ length: 20 }, () => pool.exec(dom0(), 'openssh', sh`sleep 2`)),
    );
    expect(settled.some((s) => s.status === 'rejected')).toBe(true);
  });

  it('refuses a host presenting an unpinned key: HostKeyMismatchError, and no command reaches the server', async () => {
    const pool = newPool();
    const marker = `marker-${Date.now()}`;
    const wrong = host(ADDR_OPENSSH, { openssh: strangerKey });
    const error = await pool.exec(wrong, 'openssh', sh`echo ${marker}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostKeyMismatchError);
    const message = (error as Error).message;
    expect(message).toContain('lab-dom0');
    expect(message).toContain('openssh');
    expect(message).toContain(fingerprint(strangerKey));
    expect(message).toContain(fingerprint(opensshKey));
    expect(fingerprint(opensshKey)).toBe(
      execFileSync('ssh-keygen', ['-lf', join(dir, 'host_openssh.pub')], { encoding: 'utf8' }).split(' ')[1],
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(commandLog()).not.toContain(marker);
    // the same pool still works with the right key
    const ok = await pool.exec(dom0(), 'openssh', sh`echo ${marker}-ok`);
    expect(ok.stdout).toBe(`${marker}-ok\n`);
    expect(commandLog()).toContain(`${marker}-ok`);
  });

  it('redacts secrets and stdin from stdout, stderr and errors', async () => {
    const pool = newPool();
    const secret = 'correct horse battery staple';
    const r = await pool.exec(dom0(), 'openssh', sh`cat; echo; echo ${'pw=' + secret} >&2; echo tok-XYZ`, {
      stdin: secret,
      secrets: ['tok-XYZ'],
    });
    expect(r.stdout).toBe('[redacted]\n[redacted]\n');
    expect(r.stderr).toBe('pw=[redacted]\n');
    const error = await pool
      .exec(dom0(), 'openssh', sh`sleep 5; echo ${secret}`, { secrets: [secret], timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SshTimeoutError);
    const message = (error as Error).message;
    expect(message).toContain('lab-dom0');
    expect(message).toContain('timed out');
    expect(message).toContain('sleep 5; echo');
    expect(message).not.toContain('horse');
    expect(message).toContain('[redacted]');
  });

  it('cancels a running command through its AbortSignal', async () => {
    const pool = newPool();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    await expect(pool.exec(dom0(), 'openssh', sh`sleep 10`, { signal: controller.signal })).rejects.toThrow(/cancelled/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reconnects after sshd restarts', async () => {
    const pool = newPool();
    expect((await pool.exec(dom0(), 'openssh', sh`echo before`)).stdout).toBe('before\n');
    await stopSshd(ADDR_OPENSSH);
    await new Promise((r) => setTimeout(r, 200));
    await expect(pool.exec(dom0(), 'openssh', sh`echo during`)).rejects.toThrow(/lab-dom0/);
    await startSshd(ADDR_OPENSSH, 'host_openssh');
    expect((await pool.exec(dom0(), 'openssh', sh`echo after`)).stdout).toBe('after\n');
  }, 30_000);

  it('probes: up, other stage, down, mismatch', async () => {
    const pool = newPool();
    const logBefore = commandLog();
    expect(await pool.probe(dom0(), 'openssh')).toBe('up');
    const atDropbear = host(ADDR_DROPBEAR, { openssh: opensshKey, dropbear: dropbearKey });
    expect(await pool.probe(atDropbear, 'openssh')).toEqual({ stage: 'dropbear' });
    expect(await pool.probe(atDropbear, 'dropbear')).toBe('up');
    expect(await pool.probe(dom0(), 'dropbear')).toEqual({ stage: 'openssh' });
    expect(await pool.probe(host(ADDR_NOTHING, { openssh: opensshKey }), 'openssh', 2_000)).toBe('down');
    await expect(pool.probe(host(ADDR_OPENSSH, { openssh: strangerKey, dropbear: dropbearKey }), 'openssh')).rejects.toBeInstanceOf(
      HostKeyMismatchError,
    );
    expect(commandLog()).toBe(logBefore); // probing never runs anything
  });
});
