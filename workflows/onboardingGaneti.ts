/**
 * A member's VM on Ganeti (ganeti-member-vm-onboarding.txt, "Lorsqu'une demande de VM arrive sur la liste bureau@"):
 * the next REF-HOST-VM-N and a free IP of the members' subnet, the least-loaded node pair, the board's approval,
 * `REF.zone A IP` in DNS, `gnt-instance add` on the master, its VNC port, the member's jailed account on the primary
 * node, the mail "Prévenir l'adhérent"; then, days or weeks later, the member's "install done" and the boot order
 * switched to the disk ("gnt-instance shutdown", "modify -H boot_order=disk", "startup"), and a last mail.
 *
 * Safer than the page:
 * - the IP is free in the cluster AND in DNS (a zone transfer), the DNS record is checked by a query, never overwritten;
 * - `gnt-instance add` runs as a detached job (a unit on the master): a worker that dies re-attaches, never adds twice;
 * - the tunnel command names the jailed account (`ssh -N -L P:localhost:P REF@HYP`), its only way in.
 */
import type { JobStatus } from '../activities/jobs.js';
import { firstFreeAddress, leastLoadedPair, nextReference } from '../common/addressing.js';
import { gnt } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { plannedJob, runDetached, type DetachedJob } from './detached.js';
import { hostStep } from './jailedAccess.js';
import { hostLease } from './leases.js';
import type { VmFacts } from './onboardingTexts.js';
import { dnsRecord, installThenBoot, makeAccess, memberAccess, type Onboarding, type VmOnboardingResult } from './onboardingRun.js';
import { hostChange, readOnly } from './proxies.js';
import { summarized } from './runbook.js';
import { planOf, type HostStep, type Skipped } from './steps.js';

/** The page's `-s 10G`. */
const DISK_GIB = 10;

export async function onGaneti(o: Onboarding): Promise<VmOnboardingResult> {
  const { request, facts, runbook, people } = o;
  const master = facts.cluster.master;
  if (!master) throw failure('InvalidInput', `cluster ${facts.cluster.name} has no Ganeti master in the inventory`);
  for (const field of ['memoryMiB', 'cores', 'storage'] as const) {
    if (request[field] !== undefined) throw failure('InvalidInput', `invalid input:\n${field}: Ganeti takes the cluster's instance defaults; only diskGiB and os are chosen here`);
  }
  const diskGiB = request.diskGiB ?? DISK_GIB;

  const found = await runbook.step("la référence et l'IP (adressage)", async () => {
    const instances = await summarized(readOnly.ganetiInstances, `gnt-instance list on ${master}`)(master);
    const inDns = await summarized(readOnly.zoneAddresses, `the A records of ${facts.zone} (zone transfer)`)();
    const ref = nextReference([...facts.refsInUse, ...instances.map((i) => i.name.toUpperCase())]);
    const ip = firstFreeAddress(facts.plan.network, facts.plan.reserved, [...instances.flatMap((i) => i.ips), ...inDns]);
    if (!ip) throw failure('Refused', `no free address in the members' subnet ${facts.plan.network}: ${instances.length} instances, ${inDns.length} A records, ${facts.plan.reserved.length} reserved; nothing was changed`);
    runbook.detail({ ref, ip });
    return { ref, ip };
  });
  const ref = found.ref;
  const user = ref.toLowerCase();
  const name = `${user}.${facts.zone}`;
  let vncPort = 0;
  const vm = (): VmFacts => ({ ref, user, ip: found.ip, dnsName: name, hypervisor: nodes.primary, vncPort });

  const nodes = await runbook.step("l'hyperviseur le moins chargé", async () => {
    const rows = await summarized(readOnly.ganetiNodes, `gnt-node list on ${master}`)(master);
    const pair = leastLoadedPair(rows);
    if (!pair) throw failure('Refused', `cluster ${facts.cluster.name} has ${rows.length} node(s): a DRBD instance needs two; nothing was changed`);
    runbook.detail({ ...pair, nodes: rows });
    return pair;
  });
  const { primary, secondary } = nodes;
  const access = await memberAccess(o, primary, user, vm);

  // The steps, built once: the plan shows them, the run runs them.
  const addJob: DetachedJob = {
    host: master, step: 'gnt-instance-add', command: gnt.add({ name, ip: found.ip, pnode: primary, snode: secondary, diskGiB, os: request.os }),
    why: `"Créer la VM sur l'hyperviseur choisi": ${name} on ${primary}:${secondary}, as a detached job (disks, OS install: minutes)`, pollInterval: '2s',
  };
  const change = (command: HostStep['command'], want: { status?: string; bootOrder?: string }, why: string) =>
    hostStep(master, command, why, (c) => summarized(hostChange.ganetiInstanceChange, `${c.text} on ${master}`)(master, name, want, c));
  const bootSteps = [
    change(gnt.shutdown(name), { status: 'ADMIN_down' }, 'once the member says the install is done'),
    change(gnt.bootFromDisk(name), { bootOrder: 'disk' }, 'boot on the disk instead of the installer ISO'),
    change(gnt.startup(name), { status: 'running' }, 'the VM boots from its disk'),
  ] as const;

  const approvedBy = await o.approve({
    summary: `A VM for the member ${facts.member.name} <${facts.member.email}>: ${ref}, ${found.ip}, ${name} on ${primary}:${secondary}`,
    steps: planOf([plannedJob(addJob), ...access.planned, ...bootSteps]),
    facts: {
      member: facts.member, mailVerdict: o.verdict,
      key: { type: facts.key.type, bits: facts.key.bits, fingerprint: facts.key.fingerprint }, reference: ref, ip: found.ip,
      dns: `${name}. A ${found.ip} (RFC 2136 update, TSIG)`, master, primary, secondary, diskGiB, os: request.os,
    },
  }, `approve the VM of ${facts.member.name} (${ref}, ${found.ip}); see the "plan" query`);

  await o.leases.take([hostLease(master), hostLease(primary)]);
  await dnsRecord(o, ref, name, found.ip);

  const existing = (await summarized(readOnly.ganetiInstances, `gnt-instance list on ${master}`)(master)).find((i) => i.name === name);
  if (existing) {
    if (!existing.ips.includes(found.ip) || existing.pnode !== primary) throw failure('InvalidInput', `${name} exists already with ${existing.ips.join(',') || 'no IP'} on ${existing.pnode}, not ${found.ip} on ${primary}: a person must look; DNS record ${name} A ${found.ip} is in place`);
    o.record('gnt-instance add', 'already done');
    runbook.skip('gnt-instance add', `${name} is in the cluster already`);
  } else {
    const job = await runbook.step('gnt-instance add', () => runDetached(runbook, people, addJob, o.doneSoFar));
    o.record('gnt-instance add', (job as JobStatus).phase ? 'done' : (job as Skipped));
  }

  vncPort = await runbook.step('le port VNC', async () => {
    const port = (await summarized(readOnly.ganetiInstances, `gnt-instance list -o +network_port ${name}`)(master)).find((i) => i.name === name)?.networkPort;
    if (!port) throw failure('CommandFailed', `gnt-instance list shows no network_port for ${name}`);
    runbook.detail({ vncPort: port });
    return port;
  });

  await makeAccess(o, access);
  return installThenBoot(o, vm(), master, [
    ['gnt-instance shutdown', 'shutdown', bootSteps[0]],
    ['gnt-instance modify -H boot_order=disk', 'boot_order=disk', bootSteps[1]],
    ['gnt-instance startup', 'startup', bootSteps[2]],
  ], { platform: 'ganeti', instance: name, nodes, approvedBy });
}
