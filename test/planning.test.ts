import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES, planDrain, type ClusterFacts } from '../common/drain-plan.js';
import { checkDependencies, findCycle, shutdownBatches } from '../common/shutdown-order.js';
import { XEN_PAGE_GUESTS as PAGE_GUESTS } from '../lab/hosts/xen-dom0.js';

const GiB = 1024 ** 3;

describe('Xen shutdown order', () => {
  it('stops every guest after the guests that depend on it, the firewall last', () => {
    const all = PAGE_GUESTS.map((g) => g.name);
    const batches = shutdownBatches(PAGE_GUESTS, all);
    expect(batches).toEqual([
      ['firewall-slave', 'guest1', 'guest2', 'machin'],
      ['srvpub'],
      ['srvlan', 'srvnfs'],
      ['firewall'],
    ]);
    const position = new Map(batches.flatMap((b, i) => b.map((n) => [n, i] as const)));
    for (const g of PAGE_GUESTS) for (const d of g.dependsOn) expect(position.get(g.name)!).toBeLessThan(position.get(d)!);
  });

  it('keeps the order through guests that do not run, and stops unknown guests first', () => {
    const chain = [{ name: 'a', dependsOn: ['b'] }, { name: 'b', dependsOn: ['c'] }, { name: 'c', dependsOn: [] }];
    expect(shutdownBatches(chain, ['a', 'c', 'stray'])).toEqual([['stray'], ['a'], ['c']]);
  });

  it('refuses a cycle and names it', () => {
    const cyclic = [{ name: 'dns', dependsOn: ['firewall'] }, { name: 'firewall', dependsOn: ['ldap'] }, { name: 'ldap', dependsOn: ['dns'] }];
    expect(findCycle(cyclic)).toEqual(['dns', 'firewall', 'ldap', 'dns']);
    expect(() => checkDependencies(cyclic)).toThrow('the guests\' dependencies have a cycle: dns → firewall → ldap → dns');
    expect(() => checkDependencies([{ name: 'a', dependsOn: ['ghost'] }])).toThrow('guest "a" depends on "ghost", which is not a guest of this host');
  });
});

function cluster(overrides: Partial<ClusterFacts> = {}): ClusterFacts {
  return {
    quorate: true,
    bootFreeBytes: 200 * 1024 ** 2,
    sharedStorages: ['lvm_luks_shared', 'lvm_noluks_shared'],
    nodes: ['pve1', 'pve2', 'pve3'].map((node) => ({ node, online: true, memBytes: 64 * GiB, cpus: 24 })),
    guests: [
      { vmid: 1001, type: 'qemu', name: 'web', node: 'pve1', status: 'running', memBytes: 8 * GiB, cpus: 4, storages: ['lvm_luks_shared'] },
      { vmid: 1002, type: 'lxc', name: 'dns', node: 'pve1', status: 'running', memBytes: 2 * GiB, cpus: 2, storages: ['lvm_luks_shared'] },
      { vmid: 2001, type: 'qemu', name: 'REF-VM-01', node: 'pve1', status: 'running', memBytes: 4 * GiB, cpus: 2, storages: ['lvmthin_luks_local'] },
      { vmid: 2002, type: 'qemu', name: 'REF-VM-02', node: 'pve1', status: 'stopped', memBytes: 4 * GiB, cpus: 2, storages: ['lvm_noluks_shared'] },
      { vmid: 1003, type: 'qemu', name: 'mail', node: 'pve2', status: 'running', memBytes: 16 * GiB, cpus: 4, storages: ['lvm_luks_shared'] },
    ],
    ...overrides,
  };
}

describe('Proxmox drain plan', () => {
  it('migrates VMs live, restarts containers elsewhere, shuts down what lives on local storage, spreads by free RAM', () => {
    const plan = planDrain(cluster(), 'pve1');
    expect(plan.refusals).toEqual([]);
    expect(plan.moves).toEqual([
      expect.objectContaining({ vmid: 1001, action: 'live-migrate', to: 'pve3' }),
      expect.objectContaining({ vmid: 2001, action: 'shut down' }),
      expect.objectContaining({ vmid: 1002, action: 'restart-migrate', to: 'pve3' }),
    ]);
    expect(plan.moves.find((m) => m.vmid === 2002)).toBeUndefined(); // stopped: stays where it is
  });

  it('refuses with the numbers when the other nodes would overcommit RAM', () => {
    const small = cluster({ nodes: [{ node: 'pve1', online: true, memBytes: 64 * GiB, cpus: 24 }, { node: 'pve2', online: true, memBytes: 18 * GiB, cpus: 24 }] });
    const plan = planDrain(small, 'pve1');
    expect(plan.refusals.join('\n')).toContain('no node can take VM 1001 (web, 8.0 GiB, 4 vCPU) without overcommitting RAM');
    expect(plan.refusals.join('\n')).toContain('pve2 2.0 GiB free');
  });

  it('refuses when the cluster has no spare third, when not quorate, and when /boot is short after an upgrade', () => {
    const full = cluster({ guests: [{ vmid: 1, type: 'qemu', name: 'big', node: 'pve2', status: 'running', memBytes: 150 * GiB, cpus: 4, storages: ['lvm_luks_shared'] }] });
    expect(planDrain(full, 'pve1').refusals.join('\n')).toContain('the running guests use 150.0 GiB of 192.0 GiB');
    expect(planDrain(cluster({ quorate: false }), 'pve1').refusals.join('\n')).toContain('not quorate');
    const boot = planDrain(cluster({ bootFreeBytes: 40 * 1024 ** 2 }), 'pve1', { ...DEFAULT_RULES, afterUpgrade: true });
    expect(boot.refusals.join('\n')).toContain('/boot has 40 MB free, the page asks for about 70 MB');
  });
});
