/**
 * The Ganeti node skeleton: a kind added as one module of lab/hosts/, with no change to a generic lab file, answers
 * SSH through the base dispatcher and the shared capabilities. Lab subnet 217 only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredKinds } from '../lab/hosts/index.js';
import { Lab, presets } from '../lab/lab.js';
import { sshClient, type SshRun } from './helpers/ssh.js';

let lab: Lab;
let dir: string;

const ssh = (host: string, command: string): Promise<SshRun> => sshClient(lab.inventory, host, command, { dir }).done;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-lab-ganeti-'));
  lab = await Lab.start({ dir, subnet: 217, hosts: [presets.ganetiNodeSkeleton('gnt1', { bootDelayMs: 300 })], clusters: [{ name: 'gnt', kind: 'ganeti', hosts: ['gnt1'] }] });
}, 30_000);

afterAll(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Ganeti node skeleton', () => {
  it('is discovered, and answers SSH through the base dispatcher and the shared capabilities', async () => {
    expect(registeredKinds()).toContain('ganeti-node');
    expect(lab.inventory.hosts[0]).toMatchObject({ name: 'gnt1', kind: 'ganeti-node' });
    expect((await ssh('gnt1', 'hostname')).stdout).toBe('gnt1\n');
    expect((await ssh('gnt1', 'cat /proc/sys/kernel/random/boot_id')).stdout).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}\n$/);
    expect((await ssh('gnt1', 'cat /proc/mdstat')).stdout).toContain('md1 : active raid1 sdb3[1] sda3[0]\n');
    const gnt = await ssh('gnt1', 'gnt-cluster version');
    expect([gnt.code, gnt.stderr]).toEqual([127, 'bash: gnt-cluster: command not found\n']);
    lab.failDisk('gnt1', 0); // the disks capability's control operation works on any kind that has it
    expect((await ssh('gnt1', 'cat /proc/mdstat')).stdout).toContain('md1 : active raid1 sdb3[1] sda3[0](F)\n');
    expect(lab.audit('gnt1').map((e) => e.exitCode)).toEqual([0, 0, 0, 127, 0]);
  }, 20_000);
});
