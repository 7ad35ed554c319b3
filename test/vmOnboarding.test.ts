/**
 * vmOnboarding end to end: a lab Ganeti cluster (master + node, hypervisors prepared), the lab's Knot (RFC 2136 and
 * a real DNS query), its SMTP sink, the real worker process and dev server. What is asserted is what an admin would
 * check: the instance booting from its disk, the DNS record answering, the user, authorized_keys and the Match User
 * block once (checked by the real `sshd -t`), the member's mails; a refused sshd_config put back and never reloaded;
 * a worker killed during `gnt-instance add` ending with one instance. Lab subnet 247.
 */
import { execFileSync } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { matchGroupBlock } from '../common/commands.js';
import { SSHD_CONFIG } from '../lab/capabilities/sshd/index.js';
import type { GanetiNodeState } from '../lab/hosts/ganeti-node.js';
import type { Lab } from '../lab/lab.js';
import { LAB_PEOPLE, type LabMail } from '../lab/mail-services.js';
import { approveUpdate, decideUpdate, installDoneUpdate, planQuery } from '../workflows/messages.js';
import type { VmOnboardingResult } from '../workflows/vmOnboarding.js';
import { startMembersLab, type MembersLab } from './helpers/members-lab.js';
import { eventually, recordHistory, waitingFor } from './helpers/runbooks.js';

const address = inject('temporalAddress');
const SUBNET = 247;
const TASK_QUEUE = `runbooks-onboarding-${process.pid}`;
const [alice, bruno] = LAB_PEOPLE.filter((p) => p.roles.includes('member'));
const [chloe, david] = LAB_PEOPLE.filter((p) => p.roles.includes('board'));
const ADMIN = LAB_PEOPLE.find((p) => p.roles.includes('admin'))!;
const MASTER = 'gnt-master';

let m: MembersLab;
let lab: Lab;
let labMail: LabMail;

const node = (host: string) => lab.state<GanetiNodeState>(host);
const instances = () => node(MASTER).ganeti!.instances!;

function memberKey(name: string): string {
  const path = join(m.dir, `${name}_ed25519`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@laptop`, '-f', path]);
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

function start(member: string, sshKey: string, id: string): Promise<WorkflowHandle> {
  return m.client.workflow.start('vmOnboarding', {
    taskQueue: TASK_QUEUE, workflowId: `onboarding-${id}-${Date.now()}`,
    args: [{ member, sshKey, requestedBy: 'admin-cli', request: { messageId: `<${id}@lab.invalid>`, verdict: 'ok: an authenticated member' } }],
  });
}

async function approve(handle: WorkflowHandle, by: string): Promise<void> {
  await waitingFor(handle, approveUpdate.name);
  await handle.executeUpdate(approveUpdate, { args: [{ by }] });
}

beforeAll(async () => {
  m = await startMembersLab({ name: 'onboarding', subnet: SUBNET, address, taskQueue: TASK_QUEUE, cluster: { nodes: [MASTER, 'gnt-node'], prepared: true, addMs: 3000 } });
  ({ lab, labMail } = m);
});

afterAll(() => m?.stop());

describe('vmOnboarding', () => {
  it('creates the VM, its DNS record and the jailed account once, mails the member, and boots from the disk once the install is done', async () => {
    const key = memberKey('alice');
    const handle = await start(alice!.email, key, 'alice-1');
    await waitingFor(handle, approveUpdate.name);
    const plan = (await handle.query(planQuery))!;
    expect(plan.facts).toMatchObject({ reference: 'REF-HOST-VM-8', ip: '192.0.2.2', mailVerdict: 'ok: an authenticated member', key: { type: 'ssh-ed25519' } });
    expect(plan.steps.map((s) => `${s.host}: ${s.command}`)).toContain(`${MASTER}: gnt-instance modify -H boot_order=disk ref-host-vm-8.lab.invalid`);
    // The member is not the board: their approval is refused.
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: alice!.name }] })).rejects.toThrow();
    await handle.executeUpdate(approveUpdate, { args: [{ by: chloe!.name }] });

    await waitingFor(handle, installDoneUpdate.name);
    const primary = (plan.facts as { primary: string }).primary;
    const vm = instances().find((i) => i.name === 'ref-host-vm-8.lab.invalid')!;
    expect(vm).toMatchObject({ status: 'running', bootOrder: 'cdrom', ips: ['192.0.2.2'], pnode: primary });
    const host = node(primary);
    expect(host.users!.filter((u) => u.name === 'ref-host-vm-8')).toEqual([expect.objectContaining({ shell: '/bin/false', gid: 1001, passwordDisabled: true })]);
    expect(host.homes!['/home/ref-host-vm-8/.ssh/authorized_keys']).toBe(`${key}\n`);
    expect(host.homes!['/home/ref-host-vm-8/banner']).toContain(`Port VNC pour accéder à votre VM : ${vm.networkPort}`);
    const config = host.sshFiles![SSHD_CONFIG]!;
    const block = `Match User ref-host-vm-8\n    Banner /home/ref-host-vm-8/banner\n    PermitOpen localhost:${vm.networkPort}\n`;
    expect(config.split(block).length).toBe(2);
    expect(config.indexOf(block)).toBeLessThan(config.indexOf(matchGroupBlock('ref-host-vm')));
    expect(host.sshdRunning).toBe(config);
    const ready = await labMail.smtp.waitFor((m) => m.to.includes(alice!.email) && m.subject.includes('prête'));
    expect(ready.text).toContain(`ssh -N -L ${vm.networkPort}:localhost:${vm.networkPort} ref-host-vm-8@${primary}`);
    expect(ready.headers['in-reply-to']).toBe('<alice-1@lab.invalid>');
    const resolver = new Resolver();
    resolver.setServers([`${labMail.dns.host}:${labMail.dns.port}`]);
    expect(await resolver.resolve4('ref-host-vm-8.lab.invalid')).toEqual(['192.0.2.2']);

    // Only the member or an admin says the install is done.
    await expect(handle.executeUpdate(installDoneUpdate, { args: [{ by: chloe!.name }] })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/only the member or an admin/) } });
    await handle.executeUpdate(installDoneUpdate, { args: [{ by: alice!.name }] });
    const result = (await handle.result()) as VmOnboardingResult;
    expect(result).toMatchObject({ reference: 'REF-HOST-VM-8', ip: '192.0.2.2', vncPort: vm.networkPort, installDoneBy: alice!.name, approvedBy: [expect.objectContaining({ by: chloe!.name })] });
    expect(Object.values(result.outcomes).every((o) => o === 'done')).toBe(true);
    expect(instances().find((i) => i.name === vm.name)).toMatchObject({ status: 'running', bootOrder: 'disk', bootedFrom: 'disk' });
    expect(result.mails.map((m) => m.subject)).toEqual(['Votre VM REF-HOST-VM-8 est prête à être installée', 'Votre VM REF-HOST-VM-8 démarre maintenant sur son disque']);
    await labMail.smtp.waitFor((m) => m.to.includes(alice!.email) && m.subject.includes('démarre maintenant'));
    // Every command of the plan ran on its host, as shown.
    for (const step of plan.steps) expect(lab.audit(step.host).some((e) => e.command === step.command && e.exitCode === 0), step.command).toBe(true);
    await recordHistory(handle, 'vmOnboarding', m.codecKeyFile);
  }, 60_000);

  it('ends with one instance when the worker is killed during gnt-instance add', async () => {
    const handle = await start(bruno!.email, memberKey('bruno'), 'bruno-1');
    await approve(handle, david!.name);
    const added = () => lab.audit(MASTER).filter((e) => e.command.startsWith('systemd-run') && e.command.includes('ref-host-vm-9.lab.invalid'));
    await eventually('gnt-instance add started', () => added().length === 1 || undefined, 30_000);
    m.worker.kill('SIGKILL');
    await m.worker.stopped;
    expect(instances().find((i) => i.name === 'ref-host-vm-9.lab.invalid')?.readyAt).toBeDefined();
    await m.restartWorker();
    await waitingFor(handle, installDoneUpdate.name);
    await handle.executeUpdate(installDoneUpdate, { args: [{ by: ADMIN.name }] });
    const result = (await handle.result()) as VmOnboardingResult;
    expect(result.reference).toBe('REF-HOST-VM-9');
    expect(instances().filter((i) => i.name === 'ref-host-vm-9.lab.invalid')).toHaveLength(1);
    expect(added()).toHaveLength(1);
    expect(instances().find((i) => i.name === 'ref-host-vm-9.lab.invalid')).toMatchObject({ bootOrder: 'disk', status: 'running' });
  }, 90_000);

  it('puts the previous sshd_config back when sshd -t refuses it, never reloads, and asks a person', async () => {
    const handle = await start(alice!.email, memberKey('alice2'), 'alice-2');
    await waitingFor(handle, approveUpdate.name);
    const primary = ((await handle.query(planQuery))!.facts as { primary: string }).primary;
    // Someone left a broken block in the file (never reloaded): the new file fails sshd -t.
    const broken = lab.update<GanetiNodeState, string>(primary, (s) => (s.sshFiles![SSHD_CONFIG] += 'Match User old-member\n    PermitOpen localhost:nowhere\n'));
    const reloads = node(primary).sshReloads;
    const running = node(primary).sshdRunning;
    await handle.executeUpdate(approveUpdate, { args: [{ by: chloe!.name }] });
    await waitingFor(handle, decideUpdate.name);
    expect(node(primary).sshFiles![SSHD_CONFIG]).toBe(broken);
    expect(node(primary).sshReloads).toBe(reloads);
    expect(node(primary).sshdRunning).toBe(running);
    const mail = await labMail.smtp.waitFor((m) => m.subject.includes(`${primary}: tee /etc/ssh/sshd_config failed`));
    expect(mail.text).toContain('sshd -t refused');
    await handle.executeUpdate(decideUpdate, { args: [{ by: ADMIN.name, decision: 'abort', comment: 'fix the old block first' }] });
    await expect(handle.result()).rejects.toThrow();
    expect(node(primary).sshFiles![SSHD_CONFIG]).toBe(broken);
    expect(node(primary).sshReloads).toBe(reloads);
  }, 60_000);
});
