/**
 * A member's VM on Proxmox (proxmox-faimaison-vm-creation-and-planned-reboot.txt, "Création de VMs"): "Les
 * machines adhérents seront toujours des VMs", ids "De 2000 à 2999 pour les VMs adhérents", named by their
 * reference (REF-VM-N), on the members' bridge ("pont vmbr3") and a storage class the member may choose, the
 * firewall "primordial": the IPSet ipfilter-net0 with the VM's IP and the options; then the member's jailed VNC
 * access as on the Ganeti page, the mails, the wait, and the boot order switched to the disk (`qm set`).
 *
 * Safer than the page:
 * - the capacity rules of "Matériel" are checked before the plan is shown (a request that does not fit is refused
 *   with the numbers) and again on the approved node before `qm create`: a third of the cluster spare, no RAM
 *   over-allocated, vCPUs at most 4 × the cores, the storage not over-allocated; and the node must hold the
 *   installer ISO in its own `local` storage (qm create would stop on a volume its node lacks, after the approval);
 * - the firewall is set before the VM first starts: it is never on the members' segment without its IP filter;
 * - the IP is free in DNS and in every member VM's IP filter; the IPSet holds that one address, nothing else;
 * - the VNC display listens on the node's loopback only: the member reaches it through their jailed tunnel.
 */
import type { GuestRef } from '../activities/proxmox.js';
import { firstFreeAddress, nextReference } from '../common/addressing.js';
import { firstFreeVmid, placeMemberVm, type VmSize } from '../common/capacity.js';
import { MEMBER_VMIDS, memberVncPort, proxmox, pveMember, type PveMemberVm } from '../common/commands.js';
import { failure } from '../common/failures.js';
import { hostStep } from './jailedAccess.js';
import { hostLease } from './leases.js';
import type { VmFacts } from './onboardingTexts.js';
import { dnsRecord, installThenBoot, makeAccess, memberAccess, type Onboarding, type VmOnboardingResult } from './onboardingRun.js';
import { hostChange, readOnly } from './proxies.js';
import { summarized } from './runbook.js';
import { planOf, runStep } from './steps.js';

/** "Une configuration de base pour les VMs pourrait être : 1 Go de RAM, 20 Go de disque dur, 1 vCPU." */
const BASE = { memoryMiB: 1024, cores: 1, diskGiB: 20 } as const;
/** How long `qm shutdown` waits for the guest's ACPI shutdown before it gives up (and a person decides). */
const SHUTDOWN_SECONDS = 300;

export async function onProxmox(o: Onboarding): Promise<VmOnboardingResult> {
  const { request, facts, runbook } = o;
  const pve = facts.plan.proxmox;
  if (!pve) throw failure('InvalidInput', 'the inventory\'s memberVms has no proxmox section (bridge, storages, iso)');
  const size: VmSize = {
    memoryMiB: request.memoryMiB ?? BASE.memoryMiB, cores: request.cores ?? BASE.cores, diskGiB: request.diskGiB ?? BASE.diskGiB,
    storage: request.storage ?? pve.storages[0]!,
  };
  if (!pve.storages.includes(size.storage)) throw failure('InvalidInput', `invalid input:\nstorage: members' VMs go on ${pve.storages.join(' or ')} (the inventory's memberVms.proxmox.storages), not ${size.storage}`);
  const nodes = facts.cluster.nodes;
  const capacity = () => summarized(readOnly.readMemberCapacity, `nodes, guests, storages and the installer ISO of ${facts.cluster.name}`)(nodes, pve.iso);
  const asked = `${size.memoryMiB} MiB, ${size.cores} vCPU, ${size.diskGiB} GiB on ${size.storage}`;

  const placed = await runbook.step('la capacité (Matériel)', async () => {
    const seen = await capacity();
    const verdict = placeMemberVm(seen, size);
    if (!verdict.fits) throw failure('Refused', `a VM of ${asked} does not fit the page's rules ("Matériel"): ${verdict.why}; nothing was changed`);
    runbook.detail({ node: verdict.node, numbers: verdict.numbers });
    return { node: verdict.node, numbers: verdict.numbers, guests: seen.guests };
  });
  const node = placed.node;

  const found = await runbook.step("l'identifiant, la référence et l'IP (adressage)", async () => {
    const inDns = await summarized(readOnly.zoneAddresses, `the A records of ${facts.zone} (zone transfer)`)();
    const inFilters = await summarized(readOnly.memberVmAddresses, 'the addresses in the members\' VMs\' IP filters')(nodes);
    const vmid = firstFreeVmid(placed.guests.map((g) => g.vmid), MEMBER_VMIDS.first, MEMBER_VMIDS.last);
    if (vmid === undefined) throw failure('Refused', `no free VM id in ${MEMBER_VMIDS.first}–${MEMBER_VMIDS.last}; nothing was changed`);
    const ref = nextReference([...facts.refsInUse, ...placed.guests.map((g) => g.name.toUpperCase())], 'REF-VM-');
    const ip = firstFreeAddress(facts.plan.network, facts.plan.reserved, [...inDns, ...inFilters]);
    if (!ip) throw failure('Refused', `no free address in the members' subnet ${facts.plan.network}: ${inDns.length} A records, ${inFilters.length} in IP filters, ${facts.plan.reserved.length} reserved; nothing was changed`);
    runbook.detail({ vmid, ref, ip });
    return { vmid, ref, ip };
  });
  const { vmid, ref, ip } = found;
  const user = ref.toLowerCase();
  const name = `${user}.${facts.zone}`;
  const vm = (): VmFacts => ({ ref, user, ip, dnsName: name, hypervisor: node, vncPort: memberVncPort(vmid) });
  const access = await memberAccess(o, node, user, vm);

  // The steps, built once: the plan shows them, the run runs them.
  const config: PveMemberVm = { vmid, name: ref, ...size, bridge: pve.bridge, iso: pve.iso };
  const guest: GuestRef & { node: string } = { vmid, type: 'qemu', node };
  const create = hostStep(node, pveMember.create(config), `"Création de VMs": ${ref}, id ${vmid}, ${asked}, bridge ${pve.bridge}, the installer ISO first`,
    (c) => summarized(hostChange.createMemberVm, `qm create ${vmid} (${ref}) on ${node}`)(node, config, c));
  const firewall = [
    hostStep(node, pveMember.createIpset(node, vmid), '"Firewall → IPSet → Create, Name : ipfilter-net0"',
      (c) => summarized(hostChange.ensureMemberIpset, `the IPSet ipfilter-net0 of VM ${vmid}`)(node, vmid, c)),
    hostStep(node, pveMember.addToIpset(node, vmid, ip), `"« Add » à droite, IP/CIDR : l'IP voulue": ${ip}, the one address the VM may use`,
      (c) => summarized(hostChange.ensureIpsetAddress, `${ip} in the IPSet of VM ${vmid}`)(node, vmid, ip, c)),
    hostStep(node, pveMember.setOptions(node, vmid), '"Firewall, MAC Filter, IP Filter à Yes et DHCP et Router Advertisement à No", "Input Policy à ACCEPT"',
      (c) => summarized(hostChange.ensureMemberFirewall, `the firewall options of VM ${vmid}`)(node, vmid, c)),
  ] as const;
  const start = (why: string) => hostStep(node, proxmox.start('qemu', vmid), why, (c) => summarized(hostChange.startGuest, `qm start ${vmid} on ${node}`)(guest, c));
  const installer = start('the installer boots, behind its firewall');
  const bootSteps = [
    hostStep(node, proxmox.shutdown('qemu', vmid, SHUTDOWN_SECONDS), 'once the member says the install is done',
      (c) => summarized(hostChange.shutdownGuest, `qm shutdown ${vmid} on ${node}`)({ ...guest, timeoutSeconds: SHUTDOWN_SECONDS }, c)),
    hostStep(node, pveMember.bootFromDisk(vmid), 'boot on the disk instead of the installer ISO',
      (c) => summarized(hostChange.setMemberBootOrder, `the boot order of VM ${vmid}`)(node, vmid, 'order=scsi0', c)),
    start('the VM boots from its disk'),
  ] as const;

  const approvedBy = await o.approve({
    summary: `A VM for the member ${facts.member.name} <${facts.member.email}>: ${ref} (id ${vmid}), ${ip}, ${name} on ${node}`,
    steps: planOf([create, ...firewall, installer, ...access.planned, ...bootSteps]),
    facts: {
      member: facts.member, mailVerdict: o.verdict,
      key: { type: facts.key.type, bits: facts.key.bits, fingerprint: facts.key.fingerprint }, reference: ref, vmid, ip,
      dns: `${name}. A ${ip} (RFC 2136 update, TSIG)`, node, ...size, bridge: pve.bridge, iso: pve.iso, capacity: placed.numbers,
      vncPort: memberVncPort(vmid),
    },
  }, `approve the VM of ${facts.member.name} (${ref}, ${ip}); see the "plan" query`);

  await o.leases.take([hostLease(node)]);
  o.record('qm create', await runbook.step('qm create', async () => {
    // Days may have passed since the plan: the approved node must still take the VM (this VM itself, if a
    // previous attempt made it, is not counted twice).
    const now = await capacity();
    const verdict = placeMemberVm({ ...now, guests: now.guests.filter((g) => g.vmid !== vmid) }, size, node);
    if (!verdict.fits) throw failure('Refused', `since the approval, a VM of ${asked} no longer fits on ${node}: ${verdict.why}; nothing was changed`);
    return runStep(o.people, create, o.doneSoFar);
  }));
  await o.change('Firewall → IPSet ipfilter-net0', 'IPSet ipfilter-net0', firewall[0]);
  await o.change("l'IP dans l'IPSet", `${ip} in ipfilter-net0`, firewall[1]);
  await o.change('Firewall → Options', 'firewall options', firewall[2]);
  await dnsRecord(o, ref, name, ip);
  await o.change("qm start (l'installateur)", 'qm start (installer)', installer);
  await makeAccess(o, access);
  return installThenBoot(o, vm(), node, [
    ['qm shutdown', 'qm shutdown', bootSteps[0]],
    ['qm set --boot order=scsi0', 'boot order=scsi0', bootSteps[1]],
    ['qm start', 'qm start', bootSteps[2]],
  ], { platform: 'proxmox', instance: `${vmid} ${ref}`, nodes: { primary: node }, approvedBy });
}
