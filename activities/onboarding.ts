/**
 * What a member's VM onboarding needs from the inventory, read once at its start: the member (only a listed member
 * gets a VM), their key judged as the mail intake judges it, the references already given, the members' address
 * plan and the cluster that serves them (its master), and who may say the install is done.
 */
import { peopleWith, type Inventory, type MemberVms } from '../common/inventory.js';
import { failure } from '../common/failures.js';
import { judgeKeyTexts, type MemberKey } from '../common/ssh-public-key.js';

export interface OnboardingFacts {
  member: { name: string; email: string; ref?: string };
  key: MemberKey;
  /** Every reference the inventory knows (members who have one). */
  refsInUse: string[];
  plan: MemberVms;
  /** Ganeti: its master runs every gnt-* command; Proxmox has none (any node answers for the cluster). */
  cluster: { name: string; master?: string; nodes: string[] };
  zone: string;
  /** The names whose `installDone` counts: the member and the admins. */
  answerers: string[];
}

/** What a migration needs: the member whose reference it is (to mail them), the members' cluster, the zone. */
export interface MigrationFacts {
  member: { name: string; email: string; ref: string };
  cluster: { name: string; master: string; nodes: string[] };
  zone: string;
}

export function onboardingActivities(inventory: Inventory) {
  const membersCluster = () => {
    const plan = inventory.memberVms;
    if (!plan) throw failure('InvalidInput', 'the inventory has no memberVms section: no cluster or address plan for members\' VMs');
    if (!inventory.dns) throw failure('InvalidInput', 'the inventory has no dns section: no zone for the VM\'s name');
    const cluster = inventory.clusters.find((c) => c.name === plan.cluster)!;
    if (plan.platform === 'proxmox') return { plan, cluster: { name: cluster.name, nodes: cluster.hosts }, zone: inventory.dns.zone };
    const master = cluster.hosts.find((h) => inventory.hosts.find((x) => x.name === h)?.kind === 'ganeti-master');
    if (!master) throw failure('InvalidInput', `cluster ${cluster.name} has no host of kind ganeti-master in the inventory`);
    return { plan, cluster: { name: cluster.name, master, nodes: cluster.hosts }, zone: inventory.dns.zone };
  };
  return {
    async migrationFacts(reference: string): Promise<MigrationFacts> {
      const member = inventory.people.find((p) => p.ref?.toUpperCase() === reference.toUpperCase());
      if (!member) throw failure('InvalidInput', `invalid input:\ninstance: no member of the inventory has the reference ${reference.slice(0, 40)}`);
      const { cluster, zone } = membersCluster();
      const { master } = cluster;
      if (!master) throw failure('InvalidInput', `the members' cluster ${cluster.name} is not a Ganeti cluster: vmMigration moves Ganeti instances (Proxmox VMs move with qm migrate)`);
      return { member: { name: member.name, email: member.email, ref: member.ref! }, cluster: { ...cluster, master }, zone };
    },

    async onboardingFacts(memberEmail: string, keyLine: string): Promise<OnboardingFacts> {
      const member = peopleWith(inventory, ['member']).find((p) => p.email.toLowerCase() === memberEmail.toLowerCase());
      if (!member) throw failure('InvalidInput', `invalid input:\nmember: ${memberEmail.slice(0, 100)} is not a member in the inventory`);
      const verdict = judgeKeyTexts([keyLine]);
      if (!verdict.ok) throw failure('InvalidInput', `invalid input:\nsshKey: ${verdict.reason}`);
      const { plan, cluster, zone } = membersCluster();
      return {
        member: { name: member.name, email: member.email, ...(member.ref ? { ref: member.ref } : {}) },
        key: verdict.key,
        refsInUse: inventory.people.flatMap((p) => (p.ref ? [p.ref] : [])),
        plan,
        cluster,
        zone,
        answerers: [member.name, ...peopleWith(inventory, ['admin']).map((p) => p.name)],
      };
    },
  };
}
