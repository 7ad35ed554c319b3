// The Proxmox page's capacity rules ("Matériel") for a member's VM, the members' VM ids, and the pvesh outputs the
// onboarding reads (node status, the ISO images a storage holds, the VM's IPSet and firewall options).
import { describe, expect, it } from 'vitest';
import { parseContentVolids, parseFirewallOptions, parseIpsetEntries, parseIpsets, parseNodeStatus } from '../activities/parsers/pve-members.js';
import { firstFreeVmid, placeMemberVm, type MemberCapacity } from '../common/capacity.js';
import { memberVncPort, pveMember } from '../common/commands.js';

const GiB = 2 ** 30;
/** The page's three DL360G7: 64 GiB, 2 × 6 cores each. */
const cluster = (guests: MemberCapacity['guests'], offline: string[] = []): MemberCapacity => ({
  nodes: ['skumenn', 'gueuza', 'kurun'].filter((n) => !offline.includes(n)).map((name) => ({ name, memBytes: 64 * GiB, cores: 12 })),
  offline,
  guests,
  storages: ['skumenn', 'gueuza', 'kurun'].map((node) => ({ storage: 'lvm_noluks_shared', node, shared: true, freeBytes: 100 * GiB })),
});
const vm = (vmid: number, node: string, memGiB: number, vcpus = 1) => ({ vmid, name: `vm${vmid}`, node, memBytes: memGiB * GiB, vcpus });
const base = { memoryMiB: 1024, cores: 1, diskGiB: 20, storage: 'lvm_noluks_shared' };

describe('the capacity rules', () => {
  it('places the VM on the node with the most memory left, and says the numbers', () => {
    const verdict = placeMemberVm(cluster([vm(1001, 'skumenn', 32), vm(1002, 'gueuza', 8)]), base);
    expect(verdict).toMatchObject({ fits: true, node: 'kurun' });
    expect(verdict.fits && verdict.numbers).toContain('RAM: 40.0 GiB allocated + 1.0 GiB asked, at most 128.0 GiB (2/3 of 192.0 GiB on 3 nodes)');
  });

  it('keeps a third of the memory spare and never over-allocates a node', () => {
    const full = cluster([vm(1001, 'skumenn', 60), vm(1002, 'gueuza', 60), vm(1003, 'kurun', 4)]);
    const verdict = placeMemberVm(full, { ...base, memoryMiB: 8192 });
    expect(verdict.fits).toBe(false);
    expect(!verdict.fits && verdict.why).toMatch(/RAM: 124\.0 GiB allocated \+ 8\.0 GiB asked, at most 128\.0 GiB/);
    // Within the two thirds, but no single node has 40 GiB unallocated.
    expect(placeMemberVm(cluster([vm(1001, 'skumenn', 30), vm(1002, 'gueuza', 30), vm(1003, 'kurun', 30)]), { ...base, memoryMiB: 40 * 1024 })).toMatchObject({ fits: false, why: expect.stringMatching(/no node has 40\.0 GiB/) });
  });

  it('allows at most 4 vCPUs per core of two thirds of the cluster, and counts only the nodes online', () => {
    const busy = cluster([vm(1001, 'skumenn', 1, 90)]);
    expect(placeMemberVm(busy, { ...base, cores: 6 })).toMatchObject({ fits: true });
    expect(placeMemberVm(busy, { ...base, cores: 7 })).toMatchObject({ fits: false, why: expect.stringContaining('vCPU: 90 allocated + 7 asked, at most 96 (4 × 2/3 of 36 cores)') });
    expect(placeMemberVm(cluster([], ['kurun']), { ...base, memoryMiB: 90 * 1024 })).toMatchObject({ fits: false, why: expect.stringContaining('(kurun offline, not counted)') });
  });

  it('refuses a disk the storage cannot hold, and checks again on the approved node', () => {
    expect(placeMemberVm(cluster([]), { ...base, diskGiB: 200 })).toMatchObject({ fits: false, why: expect.stringContaining('disk: 200.0 GiB asked on lvm_noluks_shared, 100.0 GiB free') });
    expect(placeMemberVm(cluster([vm(1001, 'skumenn', 63.5)]), base, 'skumenn')).toMatchObject({ fits: false, why: expect.stringContaining('skumenn has less than 1.0 GiB') });
  });

  it('places the VM only where the installer ISO is, and says where it is missing', () => {
    const iso = 'local:iso/debian-12.8.0-amd64-netinst.iso';
    const roomiest = cluster([vm(1001, 'skumenn', 32), vm(1002, 'gueuza', 8)]);
    expect(placeMemberVm({ ...roomiest, installer: { iso, nodes: ['skumenn', 'gueuza'] } }, base)).toMatchObject({ fits: true, node: 'gueuza' });
    expect(placeMemberVm({ ...roomiest, installer: { iso, nodes: [] } }, base)).toMatchObject({
      fits: false, why: `the installer ISO ${iso} (the inventory's memberVms.proxmox.iso) is not on skumenn or gueuza or kurun, the nodes with the memory: upload it there first`,
    });
    // The approved node, checked again before qm create: the ISO removed from it since.
    expect(placeMemberVm({ ...roomiest, installer: { iso, nodes: ['skumenn'] } }, base, 'kurun')).toMatchObject({ fits: false, why: expect.stringContaining('is not on kurun, the node with the memory') });
    // A capacity read from before the ISO was looked at (a recorded history) places as it did.
    expect(placeMemberVm(roomiest, base)).toMatchObject({ fits: true, node: 'kurun' });
  });

  it('hands out the lowest free VM id of the members\' range', () => {
    expect(firstFreeVmid([1001, 2000, 2001, 2003], 2000, 2999)).toBe(2002);
    expect(firstFreeVmid([2000, 2001], 2000, 2001)).toBeUndefined();
  });
});

describe('the commands and outputs of a member\'s VM', () => {
  it('puts the VNC display on the loopback, clear of Proxmox\'s own ports', () => {
    expect(memberVncPort(2000)).toBe(6900);
    expect(memberVncPort(2999)).toBe(7899);
    expect(pveMember.create({ vmid: 2001, name: 'REF-VM-1', memoryMiB: 1024, cores: 1, bridge: 'vmbr3', storage: 'lvm_noluks_shared', diskGiB: 20, iso: 'local:iso/debian.iso' }).text)
      .toBe("qm create 2001 --name REF-VM-1 --memory 1024 --cores 1 --sockets 1 --ostype l26 --scsihw virtio-scsi-pci --net0 virtio,bridge=vmbr3,firewall=1 --scsi0 lvm_noluks_shared:20 --ide2 local:iso/debian.iso,media=cdrom --boot 'order=ide2;scsi0' --args '-vnc 127.0.0.1:1001'");
    expect(pveMember.setOptions('skumenn', 2001).text).toBe('pvesh set /nodes/skumenn/qemu/2001/firewall/options --enable 1 --macfilter 1 --ipfilter 1 --dhcp 0 --radv 0 --policy_in ACCEPT');
  });

  it('reads the node status, the IPSets and the firewall options', () => {
    expect(parseNodeStatus('{"cpuinfo":{"cores":6,"sockets":2,"cpus":24,"model":"E5645"},"memory":{"total":68719476736,"used":1,"free":2},"uptime":5}')).toEqual({ cores: 12, threads: 24, memBytes: 64 * GiB });
    expect(parseIpsets('[{"name":"ipfilter-net0","digest":"ab"}]')).toEqual(['ipfilter-net0']);
    expect(parseIpsetEntries('[{"cidr":"192.0.2.3","digest":"ab"},{"cidr":"192.0.2.9","nomatch":1}]')).toEqual(['192.0.2.3']);
    expect(parseFirewallOptions('{"enable":1,"policy_in":"ACCEPT","digest":"ab"}')).toEqual({ enable: 1, policy_in: 'ACCEPT' });
    expect(() => parseNodeStatus('{"cpuinfo":{}}')).toThrow(/node status/);
    expect(pveMember.isoContent('kurun', 'local').text).toBe('pvesh get /nodes/kurun/storage/local/content --content iso --output-format json');
    expect(parseContentVolids('[{"volid":"local:iso/debian-12.iso","content":"iso","format":"iso","size":659554304,"ctime":1700000000}]')).toEqual(['local:iso/debian-12.iso']);
    expect(() => parseContentVolids('{"data":[]}')).toThrow(/storage content/);
  });
});
