/**
 * `npx runbook` as a person types it: the built CLI (bin/runbook.js) as a child process, against the suite's dev
 * server, a real worker and a lab host. What is checked is what the person reads and what happened on the host.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Decision, HypervisorRebootInput } from '../common/inputs.js';
import { ANSWERS } from '../starter/answers.js';
import { RUNBOOKS } from '../starter/runbooks.js';
import { Lab, presets } from '../lab/lab.js';
import type { DiskReplacementResult } from '../workflows/diskReplacement.js';
import { diskReplacedUpdate, progressQuery } from '../workflows/messages.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';
import { cliEnvironment, codecClient, eventually, hostChanges, stopAll, tempDir, waitingFor } from './helpers/runbooks.js';

const address = inject('temporalAddress');
const TASK_QUEUE = 'runbooks-cli';
const BIN = fileURLToPath(new URL('../bin/runbook.js', import.meta.url));
let lab: Lab;
let client: Client;
let worker: WorkerProcess;
let cliEnv: NodeJS.ProcessEnv;
let dir: string;

/** Runs `runbook ARGS…` without blocking this process (the lab answers the worker's SSH from here). */
function runbook(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runbookWith(cliEnv, ...args);
}

function runbookWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 90_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

async function exists(workflowId: string): Promise<boolean> {
  return client.workflow.getHandle(workflowId).describe().then(() => true, () => false);
}

beforeAll(async () => {
  dir = tempDir('cli');
  lab = await Lab.start({ dir, subnet: 215, hosts: [presets.xenDom0Raid1('dom0-cli', { failedSlot: 0 }), presets.xenDom0Raid1('dom0-typo', { failedSlot: 0 })] });
  const codecKeyFile = writeTestCodecKey(dir);
  worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile, taskQueue: TASK_QUEUE });
  client = await codecClient(address, codecKeyFile);
  cliEnv = cliEnvironment({ address, dir, codecKeyFile, taskQueue: TASK_QUEUE, extra: { RUNBOOK_INVENTORY: lab.inventoryPath } });
});

afterAll(() => stopAll(worker, client, lab));

describe('npx runbook', () => {
  it('starts a disk replacement from flags, lists it, shows its progress, takes the operator answer and prints the result', async () => {
    const id = `cli-disk-${Date.now()}`;
    const survivor = lab.state('dom0-cli').disks.find((d) => d.slot === 1)!;

    const started = await runbook('start', 'disk-replacement', '--host', 'dom0-cli', '--resync-poll-interval', '1s', '--id', id);
    expect(started).toMatchObject({ code: 0, stderr: '' });
    expect(started.stdout).toContain(`started diskReplacement as ${id}`);
    expect(await (await client.workflow.getHandle(id).describe()).staticSummary()).toBe('Disk replacement on dom0-cli');

    await waitingFor(client.workflow.getHandle(id), diskReplacedUpdate.name);
    const progress = await runbook('progress', id);
    expect(progress.code).toBe(0);
    expect(progress.stdout).toContain('diskReplacement on dom0-cli: step 3/9 "swap the disk"');
    expect(progress.stdout).toContain(`waiting for an operator at the machine: replace the disk with serial ZA1E2B3C`);
    expect(progress.stdout).toContain(`keep the disk with serial ${survivor.serial}`);
    expect(progress.stdout).toContain('answer with the Update diskReplaced {"by": "NAME"}');
    expect(progress.stdout).toContain('or: npx runbook disk-replaced ID [--by NAME]');

    const listed = await runbook('list');
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n').find((line) => line.startsWith(`${id} `))).toContain('step 3/9 "swap the disk"');

    // The UI's current details say the same; a Signal sent with the Update's name is no answer and says so.
    const handle = client.workflow.getHandle(id);
    const details = async () => ((await handle.query('__temporal_workflow_metadata')) as { currentDetails?: string }).currentDetails ?? '';
    expect(await details()).toContain('Answer with the Update `diskReplaced {"by": "NAME"}`');
    // The UI's list finds it by host and by what it waits for (search attributes).
    const query = `Runbook = "diskReplacement" AND RunbookHosts = "dom0-cli" AND RunbookWaitingFor = "diskReplaced by an operator at the machine"`;
    await eventually('the run to be found by host and wait', async () => {
      for await (const found of client.workflow.list({ query })) if (found.workflowId === id) return true;
      return undefined;
    });
    await handle.signal('diskReplaced', { by: 'mallory' });
    await eventually('the signal to be recorded as ignored', async () => (await handle.query(progressQuery)).ignoredSignals[0]);
    expect((await runbook('progress', id)).stdout).toContain('a Signal "diskReplaced" is not an answer and was ignored: send the Update diskReplaced {"by": "NAME"}');
    expect(await details()).toContain('a Signal "diskReplaced" is not an answer');
    expect((await handle.query(progressQuery)).waitingFor?.answerWith).toBe(diskReplacedUpdate.name);

    lab.swapDisk('dom0-cli', 0, { serial: 'ZCLI0001' });
    const answered = await runbook('disk-replaced', id, '--by', 'camille', '--comment', 'slot 0');
    expect(answered).toMatchObject({ code: 0, stderr: '' });
    expect(answered.stdout).toMatch(/thanks camille: the new disk on dom0-cli is serial \S+ \(seen as sd[a-z]\); its arrays are rebuilt on it now/);

    const printed = await runbook('result', id);
    expect(printed.code).toBe(0);
    const result = JSON.parse(printed.stdout) as DiskReplacementResult;
    expect(result.swappedBy).toEqual({ by: 'camille', comment: 'slot 0' });
    expect(result.newDisk.serial).toBe('ZCLI0001');
    expect(result.arrays).toEqual([{ array: 'md1', health: 'UU' }, { array: 'md0', health: 'UU' }]);
    expect(hostChanges(lab.audit('dom0-cli')).slice(-1)).toEqual(['grub-install /dev/sdc']);

    expect((await runbook('list')).stdout).not.toContain(id);
  });

  it.each([
    [['start', 'disk-replacement', '--host', 'dom0-typo; reboot'], /the runbook input is invalid:\nhost: /],
    [['start', 'disk-replacement', '--host', 'dom0-typo', '--swap', 'yes'], /the runbook input is invalid:\nswap: /],
    [['start', 'disk-replacement', '--host', 'dom0-typo', '--array', '$(reboot)'], /arrays\[0\]: must be an md array name/],
    [['start', 'disk-replacement', '--host', 'dom0-typo', '--resync-poll-interval', 'often'], /resyncPollInterval: must be a duration/],
    [['start', 'disk-replacement', '--host', 'dom0-typo', '--resync-poll-interval', '0s'], /resyncPollInterval: must be between 1s and 1 day/],
    [['start', 'disk-replacement', '--host', 'dom0-typo', '--swap', 'cold', '--boot-timeout', '99999999999999999999 days'], /bootTimeout: must be between 1 minute and 30 days/],
    [['start', 'disk-replacement'], /the runbook input is invalid:\nhost: /],
    [['start', 'disk-swap', '--host', 'dom0-typo'], /unknown runbook "disk-swap" \(known: disk-replacement, /],
  ])('refuses %j with a clear message, a non-zero exit, and starts nothing', async (args, message) => {
    const id = `cli-bad-${Date.now()}`;
    const before = lab.audit('dom0-typo').length;
    const out = await runbook(...args, '--id', id);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/^runbook: /);
    expect(out.stderr).toMatch(message);
    expect(out.stdout).toBe('');
    expect(await exists(id)).toBe(false);
    expect(lab.audit('dom0-typo').length).toBe(before);
  });

  it('refuses an answer that does not say by whom, and a command it does not know', async () => {
    const anonymous = await runbook('disk-replaced', 'cli-whatever', '--by', '');
    expect(anonymous.code).toBe(2);
    expect(anonymous.stderr).toMatch(/the answer is invalid:\nby: say who swapped the disk/);

    const unknown = await runbook('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"; try: runbook help');

    const noId = await runbook('progress');
    expect(noId.code).toBe(2);
    expect(noId.stderr).toContain('"runbook progress" needs a workflow id');
  });

  it('prints why a run failed, not only that it did', async () => {
    const id = `cli-unknown-${Date.now()}`;
    expect((await runbook('start', 'disk-replacement', '--host', 'dom0-nowhere', '--id', id)).code).toBe(0);
    const result = await runbook('result', id);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^runbook: Workflow execution failed: unknown host "dom0-nowhere": not in the inventory \(known: dom0-cli, dom0-typo\) \[UnknownHost\]/);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});

describe('npx runbook help, from the descriptors', () => {
  // Help must not need a server: pointed at a port nobody listens on, it still answers.
  const offline = () => ({ ...cliEnv, TEMPORAL_ADDRESS: '127.0.0.1:1' });

  it('`start hypervisor-reboot --help` lists every input field as a flag, with defaults, and the answers the runbook takes', async () => {
    const out = await runbookWith(offline(), 'start', 'hypervisor-reboot', '--help');
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect(out.stdout).toContain('usage: npx runbook start hypervisor-reboot --host HOST --reason TEXT [flags]');
    for (const field of Object.keys(HypervisorRebootInput.shape)) {
      if (field === 'approvedInRoll' || field === 'leases') continue; // set by a parent runbook for its children only
      const flag = field === 'migrateBack' ? 'no-migrate-back' : field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      expect(out.stdout, field).toMatch(new RegExp(`^  --${flag}\\b`, 'm'));
    }
    expect(out.stdout).not.toContain('approved-in-roll');
    expect(out.stdout).not.toContain('--leases');
    expect(out.stdout).toMatch(/--up-timeout DURATION .*\(default 15 minutes\)/);
    // Each duration's bounds, as its schema checks them.
    expect(out.stdout).toMatch(/--up-timeout DURATION .*, 2s to 30 days \(default 15 minutes\)/);
    expect(out.stdout).toMatch(/--poll-interval DURATION .*, 1s to 1 minute \(default 10s\)/);
    expect(out.stdout).toMatch(/--unlock-tries N .*\(default 3\)/);
    expect(out.stdout).toContain('npx runbook approve ID [--by NAME] [--comment TEXT] [--key FILE] [--unsigned]');
    expect(out.stdout).toContain(`npx runbook decide ID [--by NAME] --decision ${Decision.shape.decision.options.join('|')} [--comment TEXT]`);
    expect(out.stdout).toContain('npx runbook unlock ID [--by NAME]');
    expect(out.stdout).not.toContain('disk-replaced');
    expect(out.stdout).toContain('npx runbook progress ID, npx runbook plan ID, npx runbook result ID');
  });

  it('`help` lists every runbook and every command; `COMMAND --help` its flags', async () => {
    const out = await runbookWith(offline(), 'help');
    expect(out.code).toBe(0);
    for (const r of RUNBOOKS) expect(out.stdout).toMatch(new RegExp(`^  ${r.name} `, 'm'));
    for (const c of ['start RUNBOOK', 'list', 'progress ID', 'plan ID', 'result ID', 'approve ID', 'decide ID', 'disk-replaced ID', 'unlock ID', 'help']) {
      expect(out.stdout).toMatch(new RegExp(`^  ${c}`, 'm'));
    }
    expect(out.stdout).toContain('RUNBOOK_TASK_QUEUE');
    expect(out.stdout).toContain('TEMPORAL_ADDRESS');

    const decide = await runbookWith(offline(), 'decide', '--help');
    expect(decide.code).toBe(0);
    expect(decide.stdout).toContain('sends the Update "decide"');
    expect(decide.stdout).toMatch(/--decision retry\|abort\|force/);
  });

  it('every runbook\'s answers have a command, and every field of its input is a flag unless hidden', () => {
    for (const r of RUNBOOKS) {
      for (const update of r.answers) expect(ANSWERS.map((a) => a.update), `${r.name}: ${update.name}`).toContain(update.name);
      const fields = new Set(r.flags.map((f) => f.field));
      const missing = Object.keys(r.schema.shape).filter((field) => !fields.has(field));
      // Set by a parent runbook for its children only: the roll's approval, the leases it holds for them, the request mail.
      const hidden = { 'hypervisor-reboot': ['approvedInRoll', 'leases'], 'reboot-host': ['leases'], 'vm-onboarding': ['request'] }[r.name] ?? [];
      expect(missing, r.name).toEqual(hidden);
    }
  });

  it('refuses an unknown flag and a missing required one, naming the flag, before connecting', async () => {
    const unknown = await runbookWith(offline(), 'start', 'hypervisor-reboot', '--host', 'pve1', '--reason', 'x', '--reboot-now');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('runbook: unknown flag --reboot-now (see: npx runbook start hypervisor-reboot --help)');
    const missing = await runbookWith(offline(), 'start', 'hypervisor-reboot', '--host', 'pve1');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('reason: required (--reason TEXT)');
    const notANumber = await runbookWith(offline(), 'start', 'hypervisor-reboot', '--host', 'pve1', '--reason', 'x', '--unlock-tries', 'many');
    expect(notANumber.code).toBe(2);
    expect(notANumber.stderr).toMatch(/unlockTries: /);
  });
});

describe('npx runbook configuration', () => {
  it('reaches Temporal through a temporal CLI TOML profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE), as the temporal CLI does', async () => {
    const config = join(dir, 'temporal.toml');
    writeFileSync(config, `[profile.lab]\naddress = "${address}"\nnamespace = "default"\n`);
    const env: NodeJS.ProcessEnv = { ...cliEnv, TEMPORAL_CONFIG_FILE: config, TEMPORAL_PROFILE: 'lab' };
    delete env.TEMPORAL_ADDRESS;
    delete env.TEMPORAL_NAMESPACE;
    const listed = await runbookWith(env, 'list');
    expect(listed).toMatchObject({ code: 0, stderr: '' });

    const unknownProfile = await runbookWith({ ...env, TEMPORAL_PROFILE: 'nope' }, 'list');
    expect(unknownProfile.code).toBe(1);
    expect(unknownProfile.stderr).toContain("Profile 'nope' not found");
  });

  it('uses the local stack\'s payload key (<data dir>/codec.key, as npm start writes it) when no key is named', async () => {
    const env: NodeJS.ProcessEnv = { ...cliEnv, RUNBOOK_DATA_DIR: dir };
    delete env.RUNBOOK_CODEC_KEY_FILE;
    expect(await runbookWith(env, 'list')).toMatchObject({ code: 0, stderr: '' });
    const none = await runbookWith({ ...env, RUNBOOK_DATA_DIR: join(dir, 'no-such-stack') }, 'list');
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('no payload codec key: set RUNBOOK_CODEC_KEY or RUNBOOK_CODEC_KEY_FILE');
  });

  it('refuses the TLS variable names it used to read, naming the standard ones; an empty setting counts as unset', async () => {
    const old = await runbookWith({ ...cliEnv, TEMPORAL_TLS_CERT: '/etc/runbooks/client.pem' }, 'list');
    expect(old.code).toBe(1);
    expect(old.stderr).toContain('TEMPORAL_TLS_CERT is no longer read: use TEMPORAL_TLS_CLIENT_CERT_PATH');
    const empty = await runbookWith({ ...cliEnv, RUNBOOK_TASK_QUEUE: '', TEMPORAL_NAMESPACE: '' }, 'list');
    expect(empty).toMatchObject({ code: 0, stderr: '' });
  });
});
