/**
 * The members' sshd of a lab hypervisor (lab/members-sshd.ts): the page's jailed account, made by the page's commands
 * over the engine's sshd, and a member with ssh2 on the real OpenSSH sshd that runs the host's reloaded sshd_config.
 * The tunnel to their VNC port reads the console's RFB greeting; another port, a shell, a command, a pty, another key
 * are refused. A config not reloaded is not what sshd runs; files rewritten on the host are what it reads; a lab
 * started on the same addresses kills it, a stopped lab leaves none. Subnet 218.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jailedAccount, matchUserBlock } from '../common/commands.js';
import type { Command } from '../common/shell.js';
import { SSHD_CONFIG } from '../lab/capabilities/sshd/index.js';
import type { GanetiNodeState } from '../lab/hosts/ganeti-node.js';
import { Lab, presets } from '../lab/lab.js';
import type { BaseHostState } from '../lab/core/types.js';
import { RFB_GREETING, vncPorts } from '../lab/vnc.js';
import { tempDir } from './helpers/runbooks.js';
import { sshClient } from './helpers/ssh.js';
import { forwardReads, memberLogin, tryExec } from './helpers/tunnel.js';

const HOST = 'gnt-node';
const USER = 'ref-host-vm-1';
let dir: string;
let lab: Lab;

function key(name: string): string {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path]);
  return path;
}

/** As the engine runs it: over the host's own sshd; a failing command fails the test. */
async function run(command: Command | string, input?: string): Promise<string> {
  const text = typeof command === 'string' ? command : command.text;
  const r = await sshClient(lab.inventory, HOST, text, { dir, ...(input !== undefined ? { input } : {}) }).done;
  if (r.code !== 0) throw new Error(`${text}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const login = (keyPath: string, user = USER) => memberLogin(lab.inventory, HOST, user, keyPath);

beforeAll(async () => {
  dir = tempDir('members-tunnel');
  lab = await Lab.start({ dir, subnet: 218, ...presets.ganetiCluster({ nodes: ['gnt-master', HOST], prepared: true, bootDelayMs: 100 }) });
  // Two members' instances running on the node: their consoles on 127.0.0.1:11000 and :11001.
  lab.update<GanetiNodeState, void>('gnt-master', (s) => {
    for (const [i, port] of [[1, 11000], [2, 11001]] as const) {
      s.ganeti!.instances!.push({
        name: `ref-host-vm-${i}.lab.invalid`, pnode: HOST, snode: 'gnt-master', os: 'debootstrap+default', hypervisor: 'kvm', status: 'running',
        maxmemMiB: 1024, diskMiB: 10240, ips: [`192.0.2.${i + 1}`], networkPort: port, bootOrder: 'cdrom', bootedFrom: 'cdrom',
      });
    }
  });
}, 30_000);

afterAll(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the members' sshd", () => {
  it('lets the member open their VNC tunnel through the jailed account, and nothing else', async () => {
    const memberKey = key('member');
    const strangerKey = key('stranger');
    // The page's steps on the hypervisor, but the reload: the running sshd knows no such user yet.
    await run(jailedAccount.add(USER, 1001));
    await run(jailedAccount.mkdir(`/home/${USER}/.ssh`));
    await run(jailedAccount.write(`/home/${USER}/.ssh/authorized_keys`), readFileSync(`${memberKey}.pub`, 'utf8'));
    await run(jailedAccount.write(`/home/${USER}/banner`), 'Port VNC pour accéder à votre VM : 11000\n');
    const config = lab.state<GanetiNodeState>(HOST).sshFiles![SSHD_CONFIG]!;
    await run(jailedAccount.write(SSHD_CONFIG), config.replace('Match group', `${matchUserBlock(USER, 11000)}\nMatch group`));
    // Not reloaded: the group block's `PermitOpen none` is what sshd runs.
    let session = await login(memberKey);
    await expect(forwardReads(session.client, 'localhost', 11000)).rejects.toThrow(/administratively prohibited/);
    session.client.end();

    await run('systemctl reload ssh');
    session = await login(memberKey);
    expect(session.banner).toContain('Port VNC pour accéder à votre VM : 11000');
    expect(await forwardReads(session.client, 'localhost', 11000)).toBe(RFB_GREETING);
    // Another member's console, the host's own sshd, the same port by another name: refused.
    await expect(forwardReads(session.client, 'localhost', 11001)).rejects.toThrow(/administratively prohibited/);
    await expect(forwardReads(session.client, 'localhost', 22)).rejects.toThrow(/administratively prohibited/);
    await expect(forwardReads(session.client, '127.0.0.1', 11000)).rejects.toThrow(/administratively prohibited/);
    // No shell and no command: /bin/false runs and prints nothing; no pty.
    expect(await tryExec(session.client, 'id')).toEqual({ code: 1, output: '' });
    expect(await tryExec(session.client, null)).toEqual({ code: 1, output: '' });
    expect(await tryExec(session.client, null, true)).toMatchObject({ refused: expect.any(String) });
    session.client.end();
    // A key not in authorized_keys, or the member's key for root: refused.
    await expect(login(strangerKey)).rejects.toThrow(/authentication methods failed/);
    await expect(login(memberKey, 'root')).rejects.toThrow(/authentication methods failed/);
  }, 60_000);

  it('reads the files as the host has them now; a stopped instance has no console', async () => {
    const memberKey = join(dir, 'member');
    // A migration rewrites the banner; the member's key replaced by another.
    await run(jailedAccount.write(`/home/${USER}/banner`), 'Hyperviseur hébergeant votre VM : gnt-master\n');
    let session = await login(memberKey);
    expect(session.banner).toContain('Hyperviseur hébergeant votre VM : gnt-master');
    session.client.end();
    const newKey = key('member-new');
    await run(jailedAccount.write(`/home/${USER}/.ssh/authorized_keys`), readFileSync(`${newKey}.pub`, 'utf8'));
    await expect(login(memberKey)).rejects.toThrow(/authentication methods failed/);
    session = await login(newKey);
    expect(await forwardReads(session.client, 'localhost', 11000)).toBe(RFB_GREETING);
    session.client.end();
    // The instance stopped: its console is gone.
    lab.update<GanetiNodeState, void>('gnt-master', (s) => { s.ganeti!.instances![0]!.status = 'ADMIN_down'; });
    session = await login(newKey);
    await expect(forwardReads(session.client, 'localhost', 11000)).rejects.toThrow(/connect failed/);
    session.client.end();
  }, 60_000);

  it('is killed by a lab started on its addresses from another folder, and stops with that lab', async () => {
    const other = tempDir('members-tunnel-other');
    const membersSshd = (folder: string) => processesNaming(join(folder, 'sshd', `${HOST}.members.conf`));
    expect(membersSshd(dir).length).toBeGreaterThan(0);
    const second = await Lab.start({ dir: other, subnet: 218, ...presets.ganetiCluster({ nodes: ['gnt-master', HOST], prepared: true, bootDelayMs: 100 }) });
    try {
      expect(membersSshd(dir)).toEqual([]);
      expect(membersSshd(other).length).toBeGreaterThan(0);
    } finally {
      await second.stop();
    }
    expect(processesNaming(other)).toEqual([]);
    rmSync(other, { recursive: true, force: true });
  }, 60_000);
});

describe('the VNC consoles', () => {
  it("listen for running Ganeti instances' network ports and running Proxmox guests' -vnc displays", () => {
    const gnt = { ganeti: { instances: [
      { networkPort: 11000, status: 'running' }, { networkPort: 11001, status: 'ADMIN_down' }, { networkPort: 11002, status: 'running', readyAt: 1 },
    ] } };
    const pve = { guests: [
      { status: 'running', args: '-vnc 127.0.0.1:42' }, { status: 'stopped', args: '-vnc 127.0.0.1:43' }, { status: 'running' },
    ] };
    expect(vncPorts([gnt, pve] as unknown as BaseHostState[]).sort()).toEqual([11000, 5942]);
  });
});

/** Live processes whose command line names `text`. */
function processesNaming(text: string): string[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).flatMap((pid) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      return cmd.includes(text) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ') ? [`${pid} ${cmd}`] : [];
    } catch { return []; }
  });
}
