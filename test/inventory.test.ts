import { describe, expect, it } from 'vitest';
import { approvalPolicyOf, parseInventory } from '../common/inventory.js';

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

describe('inventory: people and approval policies', () => {
  const people = [
    { name: 'alice', email: 'alice@example.org', roles: ['board'], sshKey: key },
    { name: 'bob', email: 'bob@example.org', roles: ['admin'] },
  ];

  it('takes people and per-runbook policies, with the lab\'s default of one unsigned approval by anyone', () => {
    expect(approvalPolicyOf(parseInventory(valid), 'hypervisorReboot')).toEqual({ count: 1, signature: 'optional', expireAfter: '7 days' });
    const inventory = parseInventory({
      ...valid, people,
      approvals: { default: { roles: ['board', 'admin'] }, runbooks: { hypervisorReboot: { roles: ['board', 'admin'], count: 2, remindAfter: '1 day', escalateTo: { roles: ['board'], after: '2 days' } } } },
    });
    expect(approvalPolicyOf(inventory, 'hypervisorReboot')).toMatchObject({ count: 2, signature: 'optional', expireAfter: '7 days' });
    expect(approvalPolicyOf(inventory, 'rollingClusterReboot')).toMatchObject({ roles: ['board', 'admin'], count: 1 });
  });

  it('names the bad field of a person or a policy', () => {
    const bad = (extra: Record<string, unknown>) => () => parseInventory({ ...valid, people, ...extra }, 'inv.json');
    expect(bad({ people: [{ ...people[0], email: 'nope' }] })).toThrow(/people\[0\]\.email: must be a mail address/);
    expect(bad({ people: [{ ...people[0], sshKey: 'ssh-rsa AAAAB3Nza' }] })).toThrow(/people\[0\]\.sshKey: must be an ssh-ed25519 key/);
    expect(bad({ people: [people[0], people[0]] })).toThrow(/people\[1\]\.name: person "alice" is listed twice/);
    expect(bad({ approvals: { runbooks: { hypervisorReboot: { count: 0 } } } })).toThrow(/approvals\.runbooks\.hypervisorReboot\.count/);
    expect(bad({ approvals: { runbooks: { hypervisorReboot: { roles: ['admin'], count: 2 } } } }))
      .toThrow(/approvals\.runbooks\.hypervisorReboot\.count: 2 approvals needed but only 1 person holds one of the roles admin/);
    expect(bad({ approvals: { default: { roles: ['admin'], signature: 'required' } } }))
      .toThrow(/approvals\.default\.count: 1 approvals needed but only 0 people hold one of the roles admin with an ssh-ed25519 key/);
    expect(bad({ approvals: { default: { signature: 'required' } } })).toThrow(/approvals\.default\.roles: name the roles whose people sign/);
    expect(bad({ approvals: { default: { remindAfter: '8 days' } } })).toThrow(/approvals\.default\.remindAfter: must be shorter than expireAfter/);
    expect(bad({ approvals: { default: { expireAfter: '90 days' } } })).toThrow(/approvals\.default\.expireAfter: must be between 1 minute and 30 days/);
  });
});
