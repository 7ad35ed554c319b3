/**
 * The runbooks' branches, in seconds: the real workflow code on Temporal's time-skipping test server, with mocked
 * activities (no SSH, no lab; test/helpers/branches.ts). Days of waiting for an approval or a disk swap, and the
 * backoff of spent retries, are skipped. The lab stays for the end-to-end and crash tests; these prove the decisions
 * taken at each branch: approval timeout, retry/force/abort, escalation after spent retries, the disk runbook's
 * 30-day swap timeout and arrays still degraded. Passphrase branches: test/passphrase.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failure } from '../common/failures.js';
import { diskReplacedUpdate, progressQuery, approveUpdate } from '../workflows/messages.js';
import type { DiskReplacementResult } from '../workflows/diskReplacement.js';
import { calls, decide, env, failureOf, GiB, mails, overrides, start, useBranchesWorker } from './helpers/branches.js';
import { signWithKeyFile } from '../starter/signing.js';
import { eventually, tempDir, waitingFor } from './helpers/runbooks.js';

useBranchesWorker('runbooks-branches');

describe('diskReplacement branches', () => {
  it('nobody confirms the swap within 30 days: the run fails with that message, and the admins are mailed', async () => {
    const handle = await start('diskReplacement', { host: 'dom0-a' });
    const { type, message } = await failureOf(handle);
    expect(type).toBe('NotSwapped');
    expect(message).toMatch(/^nobody confirmed the disk swap on dom0-a within 30 days; its arrays run on one disk \(serial SURVIV01\)/);
    expect(message).toContain('mdadm --remove md0: done');
    expect(mails.map((m) => m.subject)).toEqual(['dom0-a: the disk swap was never confirmed']);
    expect(calls).not.toContain('identifyNewDisk(dom0-a)');
  });

  it('arrays still degraded at the end: the run fails with that message, and the admins are mailed', async () => {
    overrides.checkArrays = () => [{ array: 'md0', health: 'U_' }];
    const handle = await start('diskReplacement', { host: 'dom0-b' });
    await waitingFor(handle, diskReplacedUpdate.name);
    await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'camille' }] });
    const { type, message } = await failureOf(handle);
    expect(type).toBe('ArraysDegraded');
    expect(message).toMatch(/^arrays still degraded on dom0-b: md0 \[U_\]/);
    expect(mails.map((m) => m.subject)).toEqual(['dom0-b: arrays still degraded after the disk replacement']);
  });

  it('a host change whose retries are spent asks a person instead of failing; retry goes on, and the decision is in the result', async () => {
    let adds = 0;
    overrides.addMember = () => {
      if (++adds <= 5) throw failure('CommandFailed', 'dom0-c: command failed with exit code 1: mdadm --manage /dev/md0 --add /dev/sdc2');
      return 'done';
    };
    const handle = await start('diskReplacement', { host: 'dom0-c' });
    await waitingFor(handle, diskReplacedUpdate.name);
    await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'camille' }] });
    await env.sleep('10 minutes'); // the retries' backoff
    const progress = await waitingFor(handle, 'decide');
    expect(progress.waitingFor!.what).toContain('mdadm --manage /dev/md0 --add /dev/sdc2 on dom0-c failed');
    expect(progress.waitingFor!.what).toContain('choices: retry, abort');
    expect(adds).toBe(5);
    expect(mails.map((m) => m.subject)).toEqual(['dom0-c: mdadm --manage /dev/md0 --add /dev/sdc2 failed']);
    expect(mails[0]!.text).toContain('--decision retry|abort');
    // Out of the choices: refused, nothing recorded.
    await expect(decide(handle, 'force')).rejects.toThrow();
    await decide(handle, 'retry', 'cable reseated');
    const result = (await handle.result()) as DiskReplacementResult;
    expect(result.changes.map((c) => `${c.step}:${String(c.outcome)}`)).toEqual(['mdadm --remove:done', 'sfdisk (clone):done', 'mdadm --add:done', 'grub-install:done']);
    expect(result.decisions).toMatchObject([{ about: 'mdadm --manage /dev/md0 --add /dev/sdc2 on dom0-c', decision: 'retry', by: 'alice', comment: 'cable reseated' }]);
  });

  it('a diskReplaced answer given before the swap is told why, and the runbook waits for the next one', async () => {
    let swapped = false;
    overrides.identifyNewDisk = () => {
      if (!swapped) throw failure('FailedDiskStillThere', 'the failed disk (serial FAILED01) is still in dom0-e: swap it first');
      return { serial: 'NEWDISK1', model: 'disk', sizeBytes: 4 * GiB, seenAs: 'sdc', alreadyPartitioned: false };
    };
    const handle = await start('diskReplacement', { host: 'dom0-e' });
    await waitingFor(handle, diskReplacedUpdate.name);
    // The Update fails with why (red in the UI), and the run goes on waiting.
    await expect(handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'camille' }] })).rejects.toMatchObject({
      cause: { type: 'AnswerRefused', message: 'not yet: the failed disk (serial FAILED01) is still in dom0-e: swap it first. Once that is done, answer diskReplaced again' },
    });
    const progress = await waitingFor(handle, diskReplacedUpdate.name);
    expect(progress.detail).toMatchObject({ earlyAnswer: expect.stringContaining('camille said the disk was swapped, but: not yet') });
    swapped = true;
    const right = await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'dominique' }] });
    expect(right).toBe('thanks dominique: the new disk on dom0-e is serial NEWDISK1 (seen as sdc); its arrays are rebuilt on it now');
    const result = (await handle.result()) as DiskReplacementResult;
    expect(result.swappedBy).toEqual({ by: 'dominique' });
    expect(result.decisions).toEqual([]);
  });

  it('abort after spent retries ends the run with what was done so far, and nothing more runs', async () => {
    overrides.clonePartitionTable = () => { throw failure('NewDiskNotBlank', 'the new disk NEWDISK1 (sdc) gained a different partition table: stop and look'); };
    const handle = await start('diskReplacement', { host: 'dom0-d' });
    await waitingFor(handle, diskReplacedUpdate.name);
    await handle.executeUpdate(diskReplacedUpdate, { args: [{ by: 'camille' }] });
    await waitingFor(handle, 'decide');
    await decide(handle, 'abort', 'will look on site');
    const { type, message } = await failureOf(handle);
    expect(type).toBe('Aborted');
    expect(message).toContain('sfdisk /dev/sdc on dom0-d failed (the new disk NEWDISK1 (sdc) gained a different partition table: stop and look); alice aborted the runbook: will look on site');
    expect(message).toContain('Done so far: mdadm --remove md0: done');
    expect(calls.filter((c) => c.startsWith('addMember') || c.startsWith('installBootloader'))).toEqual([]);
  });
});

describe('hypervisorReboot branches', () => {
  it('a pending approval reminds its approvers, then mails the second group, then expires with nothing changed', async () => {
    overrides.approvalPolicy = () => ({
      roles: ['admin'], count: 2, signature: 'optional', remindAfter: '1 day', escalateTo: { roles: ['board'], after: '3 days' }, expireAfter: '5 days',
      approvers: [{ name: 'alice', roles: ['admin'] }, { name: 'bob', roles: ['admin'] }],
    });
    const handle = await start('hypervisorReboot', { host: 'pve1', reason: 'kernel' });
    await waitingFor(handle, 'approve');
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
    const progress = await handle.query(progressQuery);
    expect(progress.approvals).toMatchObject({ approved: [{ by: 'alice', how: 'unsigned' }], awaited: 'approved by alice (unsigned); awaited: 1 more approval from bob' });
    await env.sleep('25 hours');
    await eventually('the reminder', () => mails.length === 1 || undefined);
    expect(mails[0]).toMatchObject({ subject: 'reminder: hypervisorReboot waits for approval', to: ['admin'] });
    expect(mails[0]!.text).toContain('awaited: 1 more approval from bob');
    expect(mails[0]!.text).toContain(`npx runbook approve ${handle.workflowId} --by NAME`);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await env.sleep('2 days');
    await eventually('the second group\'s mail', () => mails.length === 2 || undefined);
    expect(mails[1]).toMatchObject({ subject: 'escalation: hypervisorReboot waits for approval', to: ['board'] });
    const { type, message } = await failureOf(handle);
    expect(type).toBe('NotApproved');
    expect(message).toBe('only 1 of 2 approvals within 5 days (alice): nothing was changed');
    expect(mails).toHaveLength(2);
    expect(calls.filter((c) => /^(migrateGuest|sendPowerCommand|shutdownDomain|unlockRoot)/.test(c))).toEqual([]);
  });

  it('the run\'s input sets the reminder, the second group\'s mail and the expiry in hours instead of the policy\'s days', async () => {
    overrides.approvalPolicy = () => ({ count: 1, signature: 'optional', remindAfter: '1 day', escalateTo: { roles: ['board'], after: '3 days' }, expireAfter: '5 days' });
    const handle = await start('hypervisorReboot', { host: 'pve1', reason: 'kernel', approvalRemindAfter: '2 hours', approvalEscalateAfter: '4 hours', approvalTimeout: '6 hours' });
    await waitingFor(handle, 'approve');
    await env.sleep('3 hours');
    // Anyone may approve under this policy: the reminder goes to the admins.
    await eventually('the reminder', () => mails.length === 1 || undefined);
    expect(mails[0]).toMatchObject({ subject: 'reminder: hypervisorReboot waits for approval' });
    expect(mails[0]!.to).toBeUndefined();
    const { type, message } = await failureOf(handle);
    expect(type).toBe('NotApproved');
    expect(message).toBe('nobody approved within 6 hours: nothing was changed');
    expect(mails.map((m) => m.to)).toEqual([undefined, ['board']]);
  });

  it('refuses at once a plan that nobody but the requester could approve, with the names', async () => {
    overrides.approvalPolicy = () => ({
      roles: ['board'], count: 2, signature: 'required', expireAfter: '7 days',
      approvers: [{ name: 'alice', roles: ['board'], sshKey: 'ssh-ed25519 AAAA' }, { name: 'carol', roles: ['board'], sshKey: 'ssh-ed25519 AAAA' }, { name: 'dave', roles: ['board'] }],
    });
    const handle = await start('hypervisorReboot', { host: 'pve1', reason: 'kernel', requestedBy: 'carol' });
    const { type, message } = await failureOf(handle);
    expect(type).toBe('Refused');
    expect(message).toBe('refused: 2 approvals needed, but only alice can give one (roles board, with an SSH key; never carol, who started the run): nothing was changed');
  });

  it('enough approvals before the reminder: nobody is mailed', async () => {
    overrides.approvalPolicy = () => ({ count: 1, signature: 'optional', remindAfter: '1 day', escalateTo: { roles: ['board'], after: '3 days' }, expireAfter: '5 days' });
    const handle = await start('hypervisorReboot', { host: 'pve1', reason: 'kernel', requestedBy: 'carol' });
    await waitingFor(handle, 'approve');
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: 'carol' }] })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/carol started this run and may not approve it/) } });
    // Signed by an ssh-agent's key, but the inventory holds none of bob's: where unsigned ones count, it counts as unsigned.
    const keyFile = join(tempDir('branches-key'), 'bob_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    const signature = await signWithKeyFile(keyFile, 'whatever bob signed');
    expect(await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signature }] })).toMatch(/^approved by bob \(unsigned\) for plan sha256:/);
    await waitingFor(handle, 'submitPassphrase'); // past the approval: the host is in its initramfs
    await env.sleep('6 days');
    expect(mails.filter((m) => /reminder|escalation/.test(m.subject))).toEqual([]);
    // Terminated, not cancelled: this test server once rejected the workflow task of a cancel that met a local read
    // in flight ("invalid history builder state for action"), and the run kept pve1's lease. The lease workflow
    // sees a terminated holder and gives the lease to the next run (the lease tests below).
    await handle.terminate('test over');
    await expect(handle.result()).rejects.toThrow();
  });

  it('nobody approves within the approval timeout: nothing changes', async () => {
    const handle = await start('hypervisorReboot', { host: 'pve1', reason: 'kernel', approvalTimeout: '2 days' });
    const { type, message } = await failureOf(handle);
    expect(type).toBe('NotApproved');
    expect(message).toBe('nobody approved within 2 days: nothing was changed');
    expect(calls.filter((c) => /^(migrateGuest|sendPowerCommand)/.test(c))).toEqual([]);
  });

  it('a host that never comes back: the admins are mailed, retry waits again, abort stops with the record', async () => {
    let probes = 0;
    overrides.expectBack = () => { probes++; throw failure('NotBack', 'pve2 does not answer on dropbear yet'); };
    const handle = await start('hypervisorReboot', { host: 'pve2', reason: 'kernel', upTimeout: '10 minutes' });
    await waitingFor(handle, 'approve');
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    const child = env.client.workflow.getHandle(`${handle.workflowId}-reboot`);
    await eventually('the child', () => child.describe().then(() => true).catch(() => undefined));
    await env.sleep('15 minutes');
    await waitingFor(child, 'decide');
    await decide(child, 'retry');
    await env.sleep('15 minutes');
    await eventually('a second escalation', () => mails.length === 2 || undefined);
    await waitingFor(child, 'decide');
    await decide(child, 'abort', 'PSU dead');
    await failureOf(handle); // the parent ends with its child
    const childFailure = await failureOf(child);
    expect(childFailure.type).toBe('HostNotBack');
    expect(childFailure.message).toContain('alice aborted the wait: PSU dead');
    expect(mails.map((m) => m.subject)).toEqual(['pve2 has not come back after reboot', 'pve2 has not come back after reboot']);
    expect(probes).toBeGreaterThan(2);
  });
});

describe('Xen guests that do not stop', () => {
  it('retry waits again, force destroys them, and the decisions are in the result', async () => {
    let destroyed = false;
    overrides.readDomains = () => (destroyed ? [] : [{ name: 'guest1', id: 1, memMiB: 512, vcpus: 1, state: '-b----', timeSeconds: 1 }]);
    overrides.destroyDomain = () => { destroyed = true; return 'done'; };
    let started = false;
    // Once the dom0 is back the guest runs again.
    overrides.startDomain = () => { started = true; destroyed = false; return 'done'; };
    const handle = await start('hypervisorReboot', { host: 'dom0-x', reason: 'xen update', guestShutdownTimeout: '5 minutes', pollInterval: '1 minute' });
    await waitingFor(handle, 'approve');
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    await env.sleep('10 minutes');
    await waitingFor(handle, 'decide');
    await decide(handle, 'retry');
    await env.sleep('10 minutes');
    await eventually('a second escalation', () => mails.length === 2 || undefined);
    await waitingFor(handle, 'decide');
    await decide(handle, 'force', 'hung in its shutdown');
    const result = await handle.result();
    expect(started).toBe(true);
    expect(calls.filter((c) => c.startsWith('destroyDomain'))).toEqual(['destroyDomain(dom0-x)']);
    expect(result.decisions.map((d: { decision: string }) => d.decision)).toEqual(['retry', 'force']);
    expect(result.guests).toMatchObject([{ name: 'guest1', destroyedBy: 'alice' }]);
  });

  it('abort stops the runbook before the reboot', async () => {
    overrides.readDomains = () => [{ name: 'guest1', id: 1, memMiB: 512, vcpus: 1, state: '-b----', timeSeconds: 1 }];
    const handle = await start('hypervisorReboot', { host: 'dom0-y', reason: 'xen update', guestShutdownTimeout: '5 minutes', pollInterval: '1 minute' });
    await waitingFor(handle, 'approve');
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    await env.sleep('10 minutes');
    await waitingFor(handle, 'decide');
    await decide(handle, 'abort');
    const { type, message } = await failureOf(handle);
    expect(type).toBe('Aborted');
    expect(message).toMatch(/^aborted by alice while guests of dom0-y were stopping/);
    expect(calls.filter((c) => c.startsWith('sendPowerCommand'))).toEqual([]);
    const progress = await handle.query(progressQuery);
    expect(progress.decisions).toMatchObject([{ decision: 'abort', by: 'alice' }]);
  });
});

describe('one runbook changes a host at a time', () => {
  it('a second runbook on a leased host waits, says for whom, and starts when the first ends', async () => {
    let running = true; // the dom0's one guest: stops on xl shutdown, runs again on xl create
    overrides.readDomains = () => (running ? [{ name: 'guest1', id: 1, memMiB: 512, vcpus: 1, state: '-b----', timeSeconds: 1 }] : []);
    overrides.shutdownDomain = () => { running = false; return 'done'; };
    overrides.startDomain = () => { running = true; return 'done'; };
    const first = await start('diskReplacement', { host: 'dom0-l' });
    await waitingFor(first, diskReplacedUpdate.name);
    const second = await start('hypervisorReboot', { host: 'dom0-l', reason: 'xen update' });
    // It has its plan and its approval, then waits for the lease before anything changes.
    await waitingFor(second, 'approve');
    await second.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    const waiting = await eventually('the second to wait for the lease', async () => {
      const p = await second.query(progressQuery);
      return p.waitingFor?.what.includes('held by') ? p : undefined;
    });
    expect(waiting.waitingFor!.what).toMatch(new RegExp(`^the lease on host:dom0-l, held by diskReplacement ${first.workflowId} since \\d{4}-`));
    expect(calls.filter((c) => c.startsWith('shutdownDomain'))).toEqual([]);
    expect((await first.query(progressQuery)).leases).toMatchObject([{ resource: 'host:dom0-l' }]);

    // The first ends (here: an operator swaps the disk and it completes); the second goes on.
    await first.executeUpdate(diskReplacedUpdate, { args: [{ by: 'camille' }] });
    await first.result();
    await second.result();
    expect(calls.filter((c) => c.startsWith('shutdownDomain'))).toEqual(['shutdownDomain(dom0-l)']);
  });

  it('a holder that fails gives its lease back at once, and the next one starts', async () => {
    overrides.checkArrays = () => [{ array: 'md0', health: 'U_' }];
    const first = await start('diskReplacement', { host: 'dom0-f' });
    await waitingFor(first, diskReplacedUpdate.name);
    const second = await start('diskReplacement', { host: 'dom0-f' });
    await eventually('the second to wait for the lease', async () => (await second.query(progressQuery)).waitingFor?.what.startsWith('the lease on host:dom0-f') || undefined);
    await first.executeUpdate(diskReplacedUpdate, { args: [{ by: 'camille' }] });
    expect((await failureOf(first)).type).toBe('ArraysDegraded');
    await waitingFor(second, diskReplacedUpdate.name);
    expect((await second.query(progressQuery)).leases).toMatchObject([{ resource: 'host:dom0-f' }]);
  });

  it('a holder terminated without giving its lease back loses it, and the next one starts', async () => {
    const first = await start('diskReplacement', { host: 'dom0-t' });
    await waitingFor(first, diskReplacedUpdate.name);
    const second = await start('diskReplacement', { host: 'dom0-t' });
    await eventually('the second to wait for the lease', async () => (await second.query(progressQuery)).waitingFor?.what.startsWith('the lease on host:dom0-t') || undefined);
    await first.terminate('testing a holder that dies');
    await env.sleep('2 minutes'); // the lease looks at its holder every 30 s
    await waitingFor(second, diskReplacedUpdate.name);
    expect(calls.filter((c) => c === 'findFailedDisk(dom0-t)')).toHaveLength(2);
  });
});
