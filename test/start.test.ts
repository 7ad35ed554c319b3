/**
 * `npm start` as a newcomer runs it (node dist/scripts/start.js, what `npm start` runs after setup.sh), in a
 * temporary data and lab folder, on free ports and lab subnet 214: the UI answers, the lab hosts answer SSH,
 * a worker runs; Ctrl-C (SIGINT) stops it all and leaves no process behind.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client as SshClient } from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import type { Inventory } from '../common/inventory.js';
import { spawnTethered } from '../common/tether.js';
import { eventually, tempDir } from './helpers/runbooks.js';
import { freePort } from './setup/global.js';

const START = fileURLToPath(new URL('../dist/scripts/start.js', import.meta.url));
let stack: ChildProcess | undefined;
let seen: { pid: number; cmd: string }[] = [];

afterAll(async () => {
  // Only if an assertion failed midway. SIGINT first, so that it stops its children in order (a SIGKILL leaves
  // them to their tethers, common/tether.ts).
  if (stack && stack.exitCode === null && stack.signalCode === null) {
    const exited = new Promise((resolve) => stack!.once('exit', resolve));
    stack.kill('SIGINT');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
  }
  for (const p of [...seen, ...(stack?.pid ? [{ pid: stack.pid, cmd: '' }] : [])]) {
    if (alive(p.pid)) process.kill(p.pid, 'SIGKILL');
  }
});

/** Every process below pid, from /proc (the stack's children run detached, in their own sessions). */
function descendants(pid: number): { pid: number; cmd: string }[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* gone meanwhile */
    }
  }
  const found: { pid: number; cmd: string }[] = [];
  const walk = (p: number): void => {
    for (const child of children.get(p) ?? []) {
      try {
        found.push({ pid: child, cmd: readFileSync(`/proc/${child}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() });
      } catch {
        continue;
      }
      walk(child);
    }
  };
  walk(pid);
  return found;
}

function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); // a zombie is gone too
  } catch {
    return false;
  }
}

function sshExec(host: Inventory['hosts'][number], privateKey: Buffer, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = new SshClient();
    conn
      .on('ready', () => {
        conn.exec(command, (error, channel) => {
          if (error) return reject(error);
          let out = '';
          channel.on('data', (d: Buffer) => (out += d.toString())).on('close', () => {
            conn.end();
            resolve(out);
          });
          channel.stderr.resume();
        });
      })
      .on('error', reject)
      .connect({ host: host.address, port: host.port, username: host.user, privateKey, readyTimeout: 10_000 });
  });
}

describe('npm start', () => {
  it('starts the dev server, UI, codec server, lab and worker, and stops every one of them on Ctrl-C', async () => {
    const dir = tempDir('start');
    chmodSync(dir, 0o755); // the lab's sshd reads authorized_keys below it as the lab user
    const [temporalPort, uiPort, codecPort] = [await freePort(), await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      RUNBOOK_DATA_DIR: join(dir, 'data'),
      RUNBOOK_LAB_DIR: join(dir, 'lab'),
      RUNBOOK_LAB_SUBNET: '214',
      RUNBOOK_TEMPORAL_PORT: String(temporalPort),
      RUNBOOK_UI_PORT: String(uiPort),
      RUNBOOK_CODEC_PORT: String(codecPort),
    };
    // As on a fresh machine: nothing points elsewhere (the suite's own server, keys or inventory).
    for (const name of Object.keys(env)) {
      if (/^(TEMPORAL_|RUNBOOK_(INVENTORY|CODEC_KEY|CODEC_TOKEN|SEALING|TASK_QUEUE))/.test(name)) delete env[name];
    }
    env.TEMPORAL_CONFIG_FILE = join(dir, 'no-temporal-profile.toml'); // nor a temporal CLI profile in ~/.config
    // Tethered: npm start, and so all it started, dies with this test process however it ends.
    const child = spawnTethered(process.execPath, [START], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    stack = child;
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    await eventually('"worker running" from npm start', () => {
      if (child.exitCode !== null) throw new Error(`npm start exited (${child.exitCode}):\n${output}`);
      return /worker running/.test(output) || undefined;
    }, 110_000);
    expect(output).toContain('THE HOSTS ARE SIMULATED');
    expect(output).toContain(`UI: http://127.0.0.1:${uiPort}`);

    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);

    const inventory = JSON.parse(readFileSync(join(dir, 'lab', 'inventory.json'), 'utf8')) as Inventory;
    expect(inventory.hosts.map((h) => `${h.name} ${h.address}`)).toEqual(['dom0-a 127.0.214.10', 'dom0-b 127.0.214.11', 'dom0-c 127.0.214.12', 'pve1 127.0.214.13', 'pve2 127.0.214.14', 'pve3 127.0.214.15']);
    const key = readFileSync(inventory.ssh.privateKeyPath);
    for (const host of inventory.hosts) expect((await sshExec(host, key, 'hostname')).trim()).toBe(host.name);
    expect(await sshExec(inventory.hosts[0]!, key, 'cat /proc/mdstat')).toMatch(/^md\d : active raid1 /m);
    expect(readFileSync(join(dir, 'lab', 'audit', 'dom0-a.jsonl'), 'utf8')).toContain('"command":"cat /proc/mdstat"');
    expect(existsSync(join(dir, 'data', 'temporal.db'))).toBe(true);

    const processes = (seen = descendants(child.pid!));
    expect(processes.some((p) => /temporal\S* server start-dev/.test(p.cmd)), JSON.stringify(processes)).toBe(true);
    expect(processes.some((p) => p.cmd.includes('dist/worker/main.js'))).toBe(true);
    expect(processes.some((p) => p.cmd.includes('dist/codec-server/main.js'))).toBe(true);
    // The daemons themselves (not the tethers of common/tether.ts, whose command line names them too).
    expect(processes.filter((p) => /^(sshd: )?\/usr\/sbin\/sshd -D/.test(p.cmd))).toHaveLength(inventory.hosts.length);

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('[start] stopped.');
    await eventually('every child of npm start to be gone', () => processes.every((p) => !alive(p.pid)) || undefined, 10_000)
      .catch(() => { throw new Error(`left running: ${JSON.stringify(processes.filter((p) => alive(p.pid)))}`); });
    await expect(fetch(`http://127.0.0.1:${uiPort}/`)).rejects.toThrow();
  });
});
