/**
 * The Proxmox page's capacity rules ("Matériel"), pure so the workflow decides and the plan shows the numbers:
 * "il faut considérer environ 2/3 des ressources comme le maximum" (the cluster survives a hypervisor's failure),
 * "la RAM ne devrait pas être sur-allouée", "ne pas dépasser un rapport de 3 à 4x le nombre de cœurs … en vCPU",
 * and the storage not over-allocated either. Memory and vCPUs are counted as allocated (every guest's maximum,
 * running or not: a stopped VM may start), against the nodes online now: a node away does not count, which is the
 * safe side.
 */

export interface MemberCapacity {
  nodes: { name: string; memBytes: number; cores: number }[];
  offline: string[];
  guests: { vmid: number; name: string; node: string; memBytes: number; vcpus: number }[];
  storages: { storage: string; node: string; shared: boolean; freeBytes: number }[];
  /** The installer ISO and the nodes whose storage holds it (absent in a read from before it was looked at). */
  installer?: { iso: string; nodes: string[] };
}

export interface VmSize { memoryMiB: number; cores: number; diskGiB: number; storage: string }

export const USABLE_SHARE = 2 / 3;
export const VCPUS_PER_CORE = 4;

const GiB = 2 ** 30;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;

export type CapacityVerdict =
  | { fits: true; node: string; numbers: string }
  | { fits: false; why: string };

/**
 * Whether a VM of `size` fits the rules, and on which node: `onNode` (the approved one, checked again before the
 * change), else the one with the most memory left unallocated.
 */
export function placeMemberVm(c: MemberCapacity, size: VmSize, onNode?: string): CapacityVerdict {
  const want = { mem: size.memoryMiB * 2 ** 20, vcpus: size.cores, disk: size.diskGiB * GiB };
  const allocated = (node?: string) => c.guests.filter((g) => node === undefined || g.node === node);
  const memOf = (node?: string) => allocated(node).reduce((s, g) => s + g.memBytes, 0);
  const totalMem = c.nodes.reduce((s, n) => s + n.memBytes, 0);
  const totalCores = c.nodes.reduce((s, n) => s + n.cores, 0);
  const usableMem = totalMem * USABLE_SHARE;
  const usableVcpus = Math.floor(totalCores * USABLE_SHARE * VCPUS_PER_CORE);
  const vcpus = allocated().reduce((s, g) => s + g.vcpus, 0);
  const away = c.offline.length ? ` (${c.offline.join(', ')} offline, not counted)` : '';
  const memLine = `RAM: ${gib(memOf())} allocated + ${gib(want.mem)} asked, at most ${gib(usableMem)} (2/3 of ${gib(totalMem)} on ${c.nodes.length} nodes${away})`;
  const cpuLine = `vCPU: ${vcpus} allocated + ${want.vcpus} asked, at most ${usableVcpus} (${VCPUS_PER_CORE} × 2/3 of ${totalCores} cores)`;
  const problems: string[] = [];
  if (memOf() + want.mem > usableMem) problems.push(memLine);
  if (vcpus + want.vcpus > usableVcpus) problems.push(cpuLine);
  // A node takes the VM only where its own memory is not over-allocated either, and where the installer ISO is:
  // qm create refuses a volume its node does not hold (the ISO storage, `local`, is each node's own).
  const withIso = (name: string) => !c.installer || c.installer.nodes.includes(name);
  const roomy = c.nodes
    .map((n) => ({ name: n.name, free: n.memBytes - memOf(n.name) }))
    .filter((n) => n.free >= want.mem && (onNode === undefined || n.name === onNode));
  const candidates = roomy.filter((n) => withIso(n.name)).sort((a, b) => b.free - a.free || (a.name < b.name ? -1 : 1));
  if (!roomy.length) problems.push(onNode ? `${onNode} has less than ${gib(want.mem)} of memory not allocated` : `no node has ${gib(want.mem)} of memory not allocated yet`);
  else if (!candidates.length) problems.push(`the installer ISO ${c.installer!.iso} (the inventory's memberVms.proxmox.iso) is not on ${roomy.map((n) => n.name).join(' or ')}, the node${roomy.length > 1 ? 's' : ''} with the memory: upload it there first`);
  const node = candidates[0]?.name;
  const storage = c.storages.find((s) => s.storage === size.storage && (node === undefined || s.node === node));
  const diskLine = storage ? `disk: ${gib(want.disk)} asked on ${size.storage}, ${gib(storage.freeBytes)} free` : `disk: storage ${size.storage} is not active${node ? ` on ${node}` : ''}`;
  if (!storage || storage.freeBytes < want.disk) problems.push(diskLine);
  if (problems.length || !node) return { fits: false, why: problems.join('; ') };
  return { fits: true, node, numbers: [memLine, cpuLine, diskLine].join('; ') };
}

/** The lowest VM id of [first, last] no guest of the cluster has. */
export function firstFreeVmid(inUse: readonly number[], first: number, last: number): number | undefined {
  const taken = new Set(inUse);
  for (let id = first; id <= last; id++) if (!taken.has(id)) return id;
  return undefined;
}
