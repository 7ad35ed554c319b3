/**
 * The member's jailed access on a hypervisor as steps (ganeti-member-vm-onboarding.txt: adduser, authorized_keys,
 * the banner, the `Match User` block): built once per host, shown in the plan and run as they are. vmOnboarding
 * makes it on the primary; vmMigration makes it again on the new primary and updates the old node's banner.
 */
import type { Outcome } from '../activities/raid/activities.js';
import { jailedAccount, matchUserBlock, sshdConfigChange } from '../common/commands.js';
import { hostChange } from './proxies.js';
import { summarized } from './runbook.js';
import type { HostStep, PlannedCommand } from './steps.js';

export const MEMBERS_GROUP = 'ref-host-vm';

export const hostStep = <R>(host: string, command: HostStep['command'], why: string, run: HostStep<R>['run']): HostStep<R> => ({ host, stage: 'openssh', command, why, run });

/** The page's /home/$REF_ABO/banner written whole on `host`; `text` is read when the step runs (the VNC port is known late). */
export function bannerStep(host: string, user: string, text: () => string, why = 'the page\'s banner: hypervisor, VNC port, tunnel command'): HostStep<Outcome> {
  const path = `/home/${user}/banner`;
  return hostStep(host, jailedAccount.write(path), why, (c) => summarized(hostChange.ensureHomeFile, `${path} on ${host}`)(host, path, text(), c));
}

export interface JailedAccessOf {
  host: string;
  user: string;
  /** The group's gid on `host` (the hypervisor setup made it). */
  gid: number;
  key: { line: string; fingerprint: string };
  banner: () => string;
  vncPort: () => number;
  /** The run's workflow id: names the copy of sshd_config. */
  runId: string;
  /** The `Match group` block the user's block goes before. */
  groupBlock: string;
}

/** The user, authorized_keys, the banner, and the `Match User` block (copy, write + sshd -t, reload). */
export function jailedAccessSteps(a: JailedAccessOf) {
  const keysPath = `/home/${a.user}/.ssh/authorized_keys`;
  const addUser = hostStep(a.host, jailedAccount.add(a.user, a.gid), `the member's jailed user: group ${MEMBERS_GROUP}, no shell, no password`,
    (c) => summarized(hostChange.ensureJailedUser, `adduser ${a.user} on ${a.host}`)(a.host, a.user, c));
  const keys = hostStep(a.host, jailedAccount.write(keysPath), `the member's key (${a.key.fingerprint}), the whole file on stdin`,
    (c) => summarized(hostChange.ensureHomeFile, `${keysPath} on ${a.host}`)(a.host, keysPath, `${a.key.line}\n`, c));
  const banner = bannerStep(a.host, a.user, a.banner);
  const sshd = sshdConfigChange(a.runId);
  const blockSteps: PlannedCommand[] = [
    { host: a.host, stage: 'openssh', command: sshd.backup, why: 'a copy of the file as it is, put back if sshd -t refuses the new one' },
    { host: a.host, stage: 'openssh', command: sshd.write, why: `the file with "Match User ${a.user}" (Banner, PermitOpen localhost:<its VNC port>) before the Match group block; then sshd -t` },
    { host: a.host, stage: 'openssh', command: sshd.reload, why: 'only once sshd -t accepts the new file' },
  ];
  const writeBlock: HostStep<Outcome> = {
    ...blockSteps[1]!,
    run: () => summarized(hostChange.addMatchBlock, `the Match User ${a.user} block in sshd_config on ${a.host}, sshd -t, reload`)(a.host, matchUserBlock(a.user, a.vncPort()), sshd, a.groupBlock),
  };
  return { addUser, keys, banner, writeBlock, planned: [addUser, keys, banner, ...blockSteps] as PlannedCommand[] };
}
