/**
 * vmOnboarding on Proxmox end to end: the lab's three-node cluster of the page (its guests REF-VM-01…11 and the
 * association's), nodes prepared for members' jailed accounts, the lab's Knot and SMTP sink, the real worker and dev
 * server. What is asserted is what an admin would check with `qm config` and `pvesh` on the node: the VM on vmbr3
 * with its IPSet and firewall options, booting the installer then its disk; the DNS record answering; the member's
 * account and Match User block once; the mails. A VM that does not fit the page's capacity rules is refused with
 * the numbers before anything changes; a worker killed during the sshd change ends with one of everything.
 * Lab subnet 233.
 */
import { execFileSync } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SSHD_CONFIG } from '../lab/capabilities/sshd/index.js';
import { presets } from '../lab/lab.js';
import { LAB_PEOPLE } from '../lab/mail-services.js';
import { RFB_GREETING } from '../lab/vnc.js';
import { approveUpdate, installDoneUpdate, planQuery, type Plan } from '../workflows/messages.js';
import type { VmOnboardingResult } from '../workflows/vmOnboarding.js';
import { startMembersLab, type MembersLab } from './helpers/members-lab.js';
import { eventually, recordHistory, waitingFor } from './helpers/runbooks.js';
import { sshClient } from './helpers/ssh.js';
import { forwardReads, memberLogin, tryExec } from './helpers/tunnel.js';

const address = inject('temporalAddress');
const SUBNET = 233;
const TASK_QUEUE = `runbooks-onboarding-pve-${process.pid}`;
const [alice, bruno] = LAB_PEOPLE.filter((p) => p.roles.includes('member'));
const [chloe] = LAB_PEOPLE.filter((p) => p.roles.includes('board'));
const ADMIN = LAB_PEOPLE.find((p) => p.roles.includes('admin'))!;

let m: MembersLab;

/** The node's sshd files as the simulator keeps them. */
interface SshdView { users?: { name: string; shell: string }[]; homes?: Record<string, string>; sshFiles?: Record<string, string>; sshdRunning?: string }
const sshdOf = (host: string) => m.lab.state<SshdView>(host);

const ssh = async (host: string, command: string): Promise<string> => {
  const run = await sshClient(m.lab.inventory, host, command, { dir: m.dir }).done;
  if (run.code !== 0) throw new Error(`${command} on ${host}: exit ${run.code}: ${run.stderr}`);
  return run.stdout;
};
const json = async <T>(host: string, path: string): Promise<T> => JSON.parse(await ssh(host, `pvesh get ${path} --output-format json`)) as T;

function memberKey(name: string): string {
  const path = join(m.dir, `${name}_ed25519`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@laptop`, '-f', path]);
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

const start = (member: string, id: string, extra: Record<string, unknown> = {}): Promise<WorkflowHandle> =>
  m.client.workflow.start('vmOnboarding', {
    taskQueue: TASK_QUEUE, workflowId: `onboarding-pve-${id}-${process.pid}`,
    args: [{ member, sshKey: memberKey(`${id}`), requestedBy: 'admin-cli', ...extra }],
  });

async function approved(handle: WorkflowHandle): Promise<Plan> {
  await waitingFor(handle, approveUpdate.name);
  const plan = (await handle.query(planQuery))!;
  await handle.executeUpdate(approveUpdate, { args: [{ by: chloe!.name }] });
  return plan;
}

beforeAll(async () => {
  m = await startMembersLab({ name: 'onboarding-pve', subnet: SUBNET, address, taskQueue: TASK_QUEUE, cluster: presets.proxmoxCluster({ prepared: true }) });
});

afterAll(async () => {
  await m?.stop();
});

describe('vmOnboarding on Proxmox', () => {
  it('creates the VM behind its firewall, the DNS record and the jailed account, and boots from the disk once installed', async () => {
    const handle = await start(alice!.email, 'alice');
    const plan = await approved(handle);
    const facts = plan.facts as { reference: string; vmid: number; ip: string; node: string; vncPort: number; capacity: string };
    expect(facts).toMatchObject({ reference: 'REF-VM-12', vmid: 2000, ip: '192.0.2.2', vncPort: 6900 });
    expect(facts.capacity).toMatch(/^RAM: .* allocated \+ 1\.0 GiB asked, at most .*; vCPU: .*; disk: 20\.0 GiB asked on lvm_noluks_shared/);
    const node = facts.node;
    expect(plan.steps.map((s) => `${s.host}: ${s.command}`)).toEqual(expect.arrayContaining([
      `${node}: qm create 2000 --name REF-VM-12 --memory 1024 --cores 1 --sockets 1 --ostype l26 --scsihw virtio-scsi-pci --net0 virtio,bridge=vmbr3,firewall=1 --scsi0 lvm_noluks_shared:20 --ide2 local:iso/debian-12.8.0-amd64-netinst.iso,media=cdrom --boot 'order=ide2;scsi0' --args '-vnc 127.0.0.1:1000'`,
      `${node}: pvesh create /nodes/${node}/qemu/2000/firewall/ipset/ipfilter-net0 --cidr 192.0.2.2`,
      `${node}: qm set 2000 --boot order=scsi0`,
    ]));

    await waitingFor(handle, installDoneUpdate.name);
    // As an admin checks it on the node: the VM, its IP filter and options, the installer running.
    const config = await ssh(node, 'qm config 2000');
    expect(config).toMatch(/^net0: virtio=[0-9A-F:]+,bridge=vmbr3,firewall=1$/m);
    expect(config).toContain("args: -vnc 127.0.0.1:1000\n");
    expect(config).toContain('boot: order=ide2;scsi0\n');
    expect(await json<{ cidr: string }[]>(node, `/nodes/${node}/qemu/2000/firewall/ipset/ipfilter-net0`)).toEqual([expect.objectContaining({ cidr: '192.0.2.2' })]);
    expect(await json(node, `/nodes/${node}/qemu/2000/firewall/options`)).toMatchObject({ enable: 1, macfilter: 1, ipfilter: 1, dhcp: 0, radv: 0, policy_in: 'ACCEPT' });
    expect(await ssh(node, 'qm status 2000')).toBe('status: running\n');
    const host = sshdOf(node);
    expect(host.users!.filter((u) => u.name === 'ref-vm-12')).toEqual([expect.objectContaining({ shell: '/bin/false' })]);
    expect(host.homes!['/home/ref-vm-12/banner']).toContain('Port VNC pour accéder à votre VM : 6900');
    expect(host.sshFiles![SSHD_CONFIG]).toContain('Match User ref-vm-12\n    Banner /home/ref-vm-12/banner\n    PermitOpen localhost:6900\n');
    const ready = await m.labMail.smtp.waitFor((mail) => mail.to.includes(alice!.email) && mail.subject.includes('REF-VM-12'));
    expect(ready.text).toContain(`ssh -N -L 6900:localhost:6900 ref-vm-12@${node}`);
    const resolver = new Resolver();
    resolver.setServers([`${m.labMail.dns.host}:${m.labMail.dns.port}`]);
    expect(await resolver.resolve4('ref-vm-12.lab.invalid')).toEqual(['192.0.2.2']);

    await handle.executeUpdate(installDoneUpdate, { args: [{ by: ADMIN.name }] });
    const result = (await handle.result()) as VmOnboardingResult;
    expect(result).toMatchObject({ platform: 'proxmox', reference: 'REF-VM-12', instance: '2000 REF-VM-12', vncPort: 6900, installDoneBy: ADMIN.name });
    expect(Object.values(result.outcomes).every((o) => o === 'done')).toBe(true);
    expect(await ssh(node, 'qm config 2000')).toContain('boot: order=scsi0\n');
    expect(await ssh(node, 'qm status 2000')).toBe('status: running\n');
    // Every command of the plan ran on its host, as shown.
    for (const step of plan.steps) expect(m.lab.audit(step.host).some((e) => e.command === step.command && e.exitCode === 0), step.command).toBe(true);
    await recordHistory(handle, 'vmOnboarding-proxmox', m.codecKeyFile);
    // The member's tunnel to QEMU's display on the node's loopback, through the jailed account on the node's real
    // sshd (lab/members-sshd.ts): the console answers, nothing else does.
    const session = await memberLogin(m.lab.inventory, node, 'ref-vm-12', join(m.dir, 'alice_ed25519'));
    expect(session.banner).toContain('Port VNC pour accéder à votre VM : 6900');
    expect(await forwardReads(session.client, 'localhost', 6900)).toBe(RFB_GREETING);
    await expect(forwardReads(session.client, 'localhost', 8006)).rejects.toThrow(/administratively prohibited/);
    expect(await tryExec(session.client, 'id')).toEqual({ code: 1, output: '' });
    session.client.end();
  }, 90_000);

  it('refuses a VM that does not fit the page\'s capacity rules, with the numbers, before anything changes', async () => {
    const before = m.lab.hostNames().map((h) => m.lab.audit(h).length);
    // As the mail intake starts it: the board, told a plan awaits them, hears why there is none.
    const handle = await start(bruno!.email, 'bruno-big', { memoryMiB: 200 * 1024, request: { messageId: `<big-${process.pid}@lab.invalid>`, verdict: 'ok: an authenticated member' } });
    const numbers = /does not fit the page's rules \("Matériel"\): RAM: .* allocated \+ 200\.0 GiB asked, at most 128\.0 GiB \(2\/3 of 192\.0 GiB on 3 nodes\).*nothing was changed/;
    await expect(handle.result()).rejects.toMatchObject({ cause: { message: expect.stringMatching(numbers) } });
    const board = await m.labMail.smtp.waitFor((mail) => mail.to.includes(chloe!.email) && mail.subject.endsWith(`VM request of ${bruno!.email}: refused before its plan`));
    expect(board.text).toMatch(numbers);
    const commands = m.lab.hostNames().flatMap((h, i) => m.lab.audit(h).slice(before[i]).map((e) => e.command));
    expect(commands.filter((c) => !/^pvesh get |^qm config |^qm status /.test(c))).toEqual([]);
  }, 60_000);

  it('ends with one VM, one user, one Match block and one DNS record when the worker is killed during the sshd change', async () => {
    const handle = await start(bruno!.email, 'bruno');
    m.lab.faults.slow({ host: null, pattern: `tee ${SSHD_CONFIG}`, delayMs: 3000, times: 1 });
    const plan = await approved(handle);
    const node = (plan.facts as { node: string }).node;
    await eventually('the new sshd_config on its way', () => m.lab.faults.underWay().find((f) => f.host === node && f.command === `tee ${SSHD_CONFIG}`), 60_000);
    m.worker.kill('SIGKILL');
    await m.worker.stopped;
    await m.restartWorker();
    await waitingFor(handle, installDoneUpdate.name);
    await handle.executeUpdate(installDoneUpdate, { args: [{ by: bruno!.name }] });
    const result = (await handle.result()) as VmOnboardingResult;
    expect(result.reference).toBe('REF-VM-13');
    const guests = await json<{ vmid: number; name: string }[]>(node, '/cluster/resources');
    expect(guests.filter((g) => g.name === 'REF-VM-13')).toHaveLength(1);
    const host = sshdOf(node);
    expect(host.users!.filter((u) => u.name === 'ref-vm-13')).toHaveLength(1);
    expect(host.sshFiles![SSHD_CONFIG]!.split('Match User ref-vm-13\n').length).toBe(2);
    expect(host.sshdRunning).toBe(host.sshFiles![SSHD_CONFIG]);
    const resolver = new Resolver();
    resolver.setServers([`${m.labMail.dns.host}:${m.labMail.dns.port}`]);
    expect(await resolver.resolve4('ref-vm-13.lab.invalid')).toEqual([result.ip]);
  }, 120_000);

  it('places the VM on a node that holds the installer ISO, and refuses before the plan when none does', async () => {
    // An admin removed the installer from two nodes' local storage (`local` is each node's own): the VM goes to the third.
    const iso = 'local:iso/debian-12.8.0-amd64-netinst.iso';
    for (const node of ['skumenn', 'gueuza']) await ssh(node, `pvesm free ${iso}`);
    const handle = await start(alice!.email, 'alice-iso');
    await waitingFor(handle, approveUpdate.name);
    const plan = (await handle.query(planQuery))!;
    expect((plan.facts as { node: string }).node).toBe('kurun');
    expect(plan.steps.find((s) => s.command.startsWith('qm create'))).toMatchObject({ host: 'kurun' });
    await handle.terminate('the test has seen where the plan puts the VM');
    await ssh('kurun', `pvesm free ${iso}`);
    const before = m.lab.hostNames().map((h) => m.lab.audit(h).length);
    const refused = await start(alice!.email, 'alice-no-iso');
    await expect(refused.result()).rejects.toMatchObject({ cause: { message: expect.stringMatching(/the installer ISO local:iso\/debian-12\.8\.0-amd64-netinst\.iso \(the inventory's memberVms\.proxmox\.iso\) is not on (skumenn|gueuza|kurun)( or (skumenn|gueuza|kurun)){2}, the nodes with the memory: upload it there first.*nothing was changed/) } });
    const commands = m.lab.hostNames().flatMap((h, i) => m.lab.audit(h).slice(before[i]).map((e) => e.command));
    expect(commands.filter((c) => !/^pvesh get |^qm config |^qm status /.test(c))).toEqual([]);
  }, 60_000);
});
