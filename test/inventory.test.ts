import { describe, expect, it } from 'vitest';
import { parseInventory } from '../common/inventory.js';

const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const valid = {
  ssh: { privateKeyPath: '/etc/runbooks/id_ed25519' },
  hosts: [{ name: 'dom0-a', address: '192.0.2.10', kind: 'xen-dom0', hostKeys: { openssh: key } }],
};

describe('inventory', () => {
  it('accepts the README example shape and fills defaults', () => {
    const inventory = parseInventory(valid);
    expect(inventory.hosts[0]).toMatchObject({ port: 22, user: 'root' });
    expect(inventory.simulated).toBe(false);
  });

  it('names the bad field', () => {
    const bad = { ...valid, hosts: [{ ...valid.hosts[0], hostKeys: { openssh: 'not a key' } }] };
    expect(() => parseInventory(bad, 'inv.json')).toThrow(/inv\.json is invalid:\nhosts\[0\]\.hostKeys\.openssh: must be a public key line/);
    expect(() => parseInventory({ ...valid, hosts: [{ ...valid.hosts[0], kind: 'toaster' }] })).toThrow(/hosts\[0\]\.kind/);
    expect(() => parseInventory({ ...valid, clusters: [{ name: 'c1', kind: 'proxmox', hosts: ['nope'] }] })).toThrow(/clusters\[0\]\.hosts\[0\]: unknown host "nope"/);
  });
});
