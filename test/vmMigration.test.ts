/**
 * vmMigration end to end: a lab Ganeti cluster of three prepared nodes with Bruno's VM (REF-HOST-VM-7) and his
 * jailed account on its primary set up in the lab's state as vmOnboarding leaves them; the lab's SMTP sink, the
 * real worker process and dev server. Asserted as an admin would check it: the instance's primary is the new node,
 * the member's user, files and Match User block on it once (the real `sshd -t` accepted and the file reloaded), the
 * old node's banner naming the new one, each planned change made once, the mail; a target that is not a node of the
 * cluster refused with nothing changed; the lab's `gnt-instance migrate` refusals; a migrate that keeps failing asks a
 * person and mails the admins, and an abort leaves the hosts as they are. Lab subnet 250.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { matchGroupBlock, matchUserBlock } from '../common/commands.js';
import { SSHD_CONFIG } from '../lab/capabilities/sshd/index.js';
import type { GanetiNodeState } from '../lab/hosts/ganeti-node.js';
import { presets, type Lab } from '../lab/lab.js';
import { LAB_PEOPLE, LAB_ZONE } from '../lab/mail-services.js';
import { approveUpdate, decideUpdate, planQuery } from '../workflows/messages.js';
import { bannerText } from '../workflows/onboardingTexts.js';
import type { VmMigrationResult } from '../workflows/vmMigration.js';
import { sshClient } from './helpers/ssh.js';
import { startMembersLab, type MembersLab } from './helpers/members-lab.js';
import { recordHistory, waitingFor } from './helpers/runbooks.js';

const address = inject('temporalAddress');
const SUBNET = 250;
const TASK_QUEUE = `runbooks-migration-${process.pid}`;
const bruno = LAB_PEOPLE.find((p) => p.ref === 'REF-HOST-VM-7')!;
const ADMIN = LAB_PEOPLE.find((p) => p.roles.includes('admin'))!;
const [MASTER, OLD, NEW] = ['gnt-master', 'gnt-a', 'gnt-b'];
const USER = 'ref-host-vm-7';
const NAME = `${USER}.${LAB_ZONE}`;
const PORT = 11003;

let m: MembersLab;
let lab: Lab;
let key: string;

const node = (host: string) => lab.state<GanetiNodeState>(host);
const instance = () => node(MASTER).ganeti!.instances!.find((i) => i.name === NAME)!;
const banner = (hypervisor: string) => bannerText({ ref: 'REF-HOST-VM-7', user: USER, ip: '192.0.2.7', dnsName: NAME, hypervisor, vncPort: PORT });
const changes = (host: string) => lab.audit(host).filter((e) => /^(gnt-instance migrate|adduser|tee|cp|systemctl|mkdir)/.test(e.command));

/** What vmOnboarding leaves: the instance running on OLD (DRBD secondary NEW), Bruno's account and block on OLD. */
function bornOnOld(): void {
  lab.update<GanetiNodeState, void>(MASTER, (s) => void s.ganeti!.instances!.push({
    name: NAME, pnode: OLD, snode: NEW, os: 'debootstrap+default', hypervisor: 'kvm', status: 'running', maxmemMiB: 512, diskMiB: 10240,
    ips: ['192.0.2.7'], networkPort: PORT, bootOrder: 'disk', bootedFrom: 'disk',
  }));
  lab.update<GanetiNodeState, void>(OLD, (s) => {
    s.users = [{ name: USER, uid: 1001, gid: 1001, shell: '/bin/false', passwordDisabled: true }];
    s.homes = { [`/home/${USER}`]: null, [`/home/${USER}/.ssh`]: null, [`/home/${USER}/.ssh/authorized_keys`]: `${key}\n`, [`/home/${USER}/banner`]: banner(OLD) };
    const group = matchGroupBlock('ref-host-vm');
    s.sshFiles![SSHD_CONFIG] = s.sshFiles![SSHD_CONFIG]!.replace(group, `${matchUserBlock(USER, PORT)}\n${group}`);
    s.sshdRunning = s.sshFiles![SSHD_CONFIG];
  });
}

function start(targetNode: string, id: string): Promise<WorkflowHandle> {
  return m.client.workflow.start('vmMigration', {
    taskQueue: TASK_QUEUE, workflowId: `migration-${id}-${Date.now()}`,
    args: [{ instance: 'REF-HOST-VM-7', targetNode, reason: `${OLD} is drained`, requestedBy: 'admin-cli' }],
  });
}

beforeAll(async () => {
  m = await startMembersLab({ name: 'migration', subnet: SUBNET, address, taskQueue: TASK_QUEUE, cluster: presets.ganetiCluster({ nodes: [MASTER, OLD, NEW], prepared: true }) });
  lab = m.lab;
  const path = join(m.dir, 'bruno_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bruno@laptop', '-f', path]);
  key = readFileSync(`${path}.pub`, 'utf8').trim();
  bornOnOld();
});

afterAll(() => m?.stop());

describe('vmMigration', () => {
  it('migrates the VM to its secondary, makes the member\'s access there once, updates both banners and mails the member', async () => {
    const handle = await start(NEW, 'bruno');
    await waitingFor(handle, approveUpdate.name);
    const plan = (await handle.query(planQuery))!;
    expect(plan.facts).toMatchObject({ instance: NAME, from: OLD, to: NEW, vncPort: PORT, master: MASTER });
    expect(plan.steps[0]).toMatchObject({ host: MASTER, command: `gnt-instance migrate -f -n ${NEW} ${NAME}` });
    expect(changes(MASTER).concat(changes(OLD), changes(NEW))).toEqual([]);
    await handle.executeUpdate(approveUpdate, { args: [{ by: ADMIN.name }] });
    const result = (await handle.result()) as VmMigrationResult;

    expect(result).toMatchObject({ instance: NAME, from: OLD, to: NEW, vncPort: PORT });
    expect(Object.values(result.outcomes).every((o) => o === 'done')).toBe(true);
    expect(instance()).toMatchObject({ pnode: NEW, snode: OLD, status: 'running', networkPort: PORT });
    const host = node(NEW);
    expect(host.users!.filter((u) => u.name === USER)).toEqual([expect.objectContaining({ shell: '/bin/false', gid: 1001, passwordDisabled: true })]);
    expect(host.homes![`/home/${USER}/.ssh/authorized_keys`]).toBe(`${key}\n`);
    expect(host.homes![`/home/${USER}/banner`]).toBe(banner(NEW));
    const config = host.sshFiles![SSHD_CONFIG]!;
    expect(config.split(`${matchUserBlock(USER, PORT)}\n`).length).toBe(2);
    expect(config.indexOf(`Match User ${USER}`)).toBeLessThan(config.indexOf(matchGroupBlock('ref-host-vm')));
    expect(host.sshdRunning).toBe(config);
    // The page's update on the old node: its banner names the new hypervisor.
    expect(node(OLD).homes![`/home/${USER}/banner`]).toBe(banner(NEW));
    // Each planned command ran once, on its host, and nothing else changed anything.
    for (const step of plan.steps) expect(lab.audit(step.host).filter((e) => e.command === step.command && e.exitCode === 0), `${step.host}: ${step.command}`).toHaveLength(1);
    expect(changes(MASTER).map((e) => e.command)).toEqual([`gnt-instance migrate -f -n ${NEW} ${NAME}`]);
    const mail = await m.labMail.smtp.waitFor((m) => m.to.includes(bruno.email) && m.subject.includes("changé d'hyperviseur"));
    expect(mail.text).toContain(`ssh -N -L ${PORT}:localhost:${PORT} ${USER}@${NEW}`);
    await recordHistory(handle, 'vmMigration', m.codecKeyFile);
  }, 45_000);

  it('refuses a target that is not a node of the cluster, with nothing changed', async () => {
    const before = [MASTER, OLD, NEW].map((h) => changes(h).length);
    const handle = await start('gnt-nowhere', 'nowhere');
    await expect(handle.result()).rejects.toMatchObject({ cause: { message: expect.stringMatching(/gnt-nowhere is not a node of cluster gnt .*nothing was changed/) } });
    expect([MASTER, OLD, NEW].map((h) => changes(h).length)).toEqual(before);
    expect(instance()).toMatchObject({ pnode: NEW, snode: OLD });
  }, 30_000);

  it('the lab\'s gnt-instance migrate refuses as Ganeti does, and a DRBD migrate swaps the nodes', async () => {
    const gnt = async (args: string) => sshClient(lab.inventory, MASTER, `gnt-instance migrate ${args}`, { dir: m.dir }).done;
    expect((await gnt(`-f -n gnt-nowhere ${NAME}`)).stderr).toContain("Node 'gnt-nowhere' not known");
    // DRBD: the target is the secondary or nothing; the primary itself is "arbitrary" too.
    expect((await gnt(`-f -n ${NEW} ${NAME}`)).stderr).toContain('Instances with disk template drbd cannot be migrated to arbitrary nodes');
    expect((await gnt(`-n ${OLD} ${NAME}`)).stderr).toContain('Continue?');
    lab.update<GanetiNodeState, void>(MASTER, (st) => void (st.ganeti!.instances!.find((i) => i.name === NAME)!.status = 'ADMIN_down'));
    expect((await gnt(`-f -n ${OLD} ${NAME}`)).stderr).toContain(`error type: wrong_state, error details:\nCan't migrate, please use failover: Instance ${NAME} is not running`);
    expect(instance()).toMatchObject({ pnode: NEW, snode: OLD });
    lab.update<GanetiNodeState, void>(MASTER, (st) => void (st.ganeti!.instances!.find((i) => i.name === NAME)!.status = 'running'));
    const run = await gnt(`-f ${NAME}`);
    expect([run.code, run.stdout]).toEqual([0, expect.stringContaining(`* migrating instance to ${OLD}`)]);
    expect(instance()).toMatchObject({ pnode: OLD, snode: NEW, networkPort: PORT });
  }, 30_000);

  it('asks a person and mails the admins when the migrate fails; an abort leaves the hosts as they are', async () => {
    // Ganeti holds the instance's lock (a job on it): every migrate is refused.
    lab.update<GanetiNodeState, void>(MASTER, (st) => void (st.ganeti!.instances!.find((i) => i.name === NAME)!.readyAt = Date.now() + 3_600_000));
    const before = [OLD, NEW].map((h) => changes(h).length);
    const handle = await start(NEW, 'locked');
    await waitingFor(handle, approveUpdate.name);
    await handle.executeUpdate(approveUpdate, { args: [{ by: ADMIN.name }] });
    await waitingFor(handle, decideUpdate.name);
    const mail = await m.labMail.smtp.waitFor((x) => x.subject.includes(`${MASTER}: gnt-instance migrate -f -n ${NEW} ${NAME} failed`));
    expect(mail.text).toContain('holds the lock');
    await handle.executeUpdate(decideUpdate, { args: [{ by: ADMIN.name, decision: 'abort', comment: 'wait for the job' }] });
    await expect(handle.result()).rejects.toMatchObject({ cause: { message: expect.stringMatching(/aborted the runbook/) } });
    expect(instance()).toMatchObject({ pnode: OLD, snode: NEW });
    expect([OLD, NEW].map((h) => changes(h).length)).toEqual(before);
  }, 60_000);
});
