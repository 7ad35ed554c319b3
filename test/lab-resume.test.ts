/**
 * A lab started again on the folder of a stopped one (Lab.start({ resume: true }), what `npm start` does): the hosts
 * are as they were left. One that was up answers without a boot, one powered off stays off, one whose reboot was
 * answered but not done reboots, and the audits keep their lines; a different host set starts fresh.
 * Lab subnet 228.
 */
import { chmodSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Lab, presets } from '../lab/lab.js';
import { eventually, tempDir } from './helpers/runbooks.js';
import { sshExec } from './helpers/stack.js';

const BOOT_ID = 'cat /proc/sys/kernel/random/boot_id';
const dir = tempDir('lab-resume');
chmodSync(dir, 0o755);
const specs = () => ['r-up', 'r-off', 'r-reboot'].map((name) => presets.xenDom0Raid1(name, { bootDelayMs: 300 }));
let lab: Lab | undefined;

afterAll(async () => { await lab?.stop(); });

function ssh(l: Lab, host: string, command: string): Promise<string> {
  const h = l.inventory.hosts.find((x) => x.name === host)!;
  return sshExec(h, readFileSync(l.inventory.ssh.privateKeyPath), command);
}

describe('a resumed lab', () => {
  it('meets its hosts as the stopped lab left them, audits kept', async () => {
    lab = await Lab.start({ dir, subnet: 228, hosts: specs(), resume: true });
    expect(lab.resumed).toEqual({ yes: false, reason: 'no saved state' });
    const upBootId = await ssh(lab, 'r-up', BOOT_ID);
    const rebootBootId = await ssh(lab, 'r-reboot', BOOT_ID);
    await ssh(lab, 'r-off', 'poweroff');
    await eventually('r-off down', () => lab!.stage('r-off') === 'down' || undefined, 10_000);
    await ssh(lab, 'r-reboot', 'reboot');
    await lab.stop(); // before the host went down: the reboot was answered, not done

    lab = await Lab.start({ dir, subnet: 228, hosts: specs(), resume: true });
    expect(lab.resumed).toEqual({ yes: true });
    expect(await ssh(lab, 'r-up', BOOT_ID)).toBe(upBootId);
    expect(lab.audit('r-up').filter((e) => e.command === BOOT_ID)).toHaveLength(2);
    expect(lab.stage('r-off')).toBe('down');
    expect(lab.audit('r-off').map((e) => e.command)).toEqual(['poweroff']);
    await eventually('r-reboot up again', () => lab!.isUp('r-reboot') || undefined, 10_000);
    expect(await ssh(lab, 'r-reboot', BOOT_ID)).not.toBe(rebootBootId);
    await lab.stop();
  });

  it('starts fresh for another host set, or when not asked to resume', async () => {
    lab = await Lab.start({ dir, subnet: 228, hosts: specs().slice(0, 1), resume: true });
    expect(lab.resumed).toMatchObject({ yes: false, reason: expect.stringMatching(/saved states are for other hosts/) });
    expect(lab.audit('r-up')).toEqual([]);
    await lab.stop();

    lab = await Lab.start({ dir, subnet: 228, hosts: specs() });
    expect(lab.resumed).toEqual({ yes: false, reason: 'fresh lab asked' });
    expect(lab.stage('r-off')).toBe('openssh');
    expect(lab.audit('r-up')).toEqual([]);
    await lab.stop();
    lab = undefined;
  });
});
