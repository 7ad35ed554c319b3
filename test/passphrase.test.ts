/**
 * Passphrase problems are answers, never crashes: the real workflow code on the time-skipping server, with mocked
 * activities whose passphrase try opens the sealed value with the real code (activities/secrets.ts). The lab's
 * end to end counterparts (host audit, a worker killed mid-try, a real power cycle) are in hypervisorReboot.test.ts.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { withPassphrase } from '../activities/secrets.js';
import { failure } from '../common/failures.js';
import { generateSealingKey, sealSecret } from '../common/sealing.js';
import type { SealedSecret } from '../common/sealed.js';
import type { HypervisorRebootResult } from '../workflows/hypervisorReboot.js';
import { approveUpdate, submitPassphraseUpdate } from '../workflows/messages.js';
import { calls, decide, failureOf, mails, overrides, sealingKey, start, useBranchesWorker } from './helpers/branches.js';
import { waitingFor } from './helpers/runbooks.js';

useBranchesWorker('runbooks-passphrases');

const RIGHT = 'the right root passphrase';

/** The host's cryptroot-unlock as the mock sees it: opens the sealed value like the real activity does. */
function unlockWith(right: string) {
  return (_host: string, _command: unknown, sealed: SealedSecret) => withPassphrase(sealed, [sealingKey], async (p) =>
    (p.toString('utf8') === right ? { accepted: true, message: 'system disk unlocked' } : { accepted: false, message: 'wrong passphrase' }));
}

async function approvedReboot(host: string, extra: Record<string, unknown> = {}): Promise<WorkflowHandle> {
  // The node comes back healthy: quorate, its storages active (its guest is migrated away and back).
  overrides.expectQuorate = () => undefined;
  overrides.expectStoragesActive = () => undefined;
  const handle = await start('hypervisorReboot', { host, reason: 'kernel', ...extra });
  await waitingFor(handle, 'approve');
  await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
  await waitingFor(handle, 'submitPassphrase');
  return handle;
}

const send = (handle: WorkflowHandle, passphrase: unknown) =>
  handle.executeUpdate(submitPassphraseUpdate, { args: [{ by: 'camille', passphrase: passphrase as SealedSecret }] });

/** The refusal an Update failed with: its type and words, as the UI shows them. */
const refusalOf = (sent: Promise<unknown>) => sent.then(() => ({ type: 'none', message: 'the Update succeeded' }), (e: { cause?: { type?: string; message: string } }) => ({ type: e.cause?.type, message: e.cause?.message ?? String(e) }));

const acceptedUpdates = async (handle: WorkflowHandle) =>
  (await handle.fetchHistory()).events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;

describe('submitPassphrase: what the validator refuses, before history', () => {
  it('refuses a value sealed for a key the worker does not hold, in clear, or too large, naming the field', async () => {
    overrides.unlockRoot = unlockWith(RIGHT);
    const handle = await approvedReboot('pve1');
    const before = await acceptedUpdates(handle);
    const stale = await refusalOf(send(handle, sealSecret(generateSealingKey('old-key-2025'), RIGHT)));
    expect(stale.message).toMatch(/passphrase\.keyId: sealed for key "old-key-2025", which the worker does not hold \(it holds x25519-\w+\)/);
    expect((await refusalOf(send(handle, 'in clear'))).message).toContain('passphrase: must be a sealed secret');
    const huge = { ...sealSecret(sealingKey, RIGHT), ciphertext: 'A'.repeat(8192) };
    expect((await refusalOf(send(handle, huge))).message).toContain('passphrase.ciphertext: must be at most 4096 characters');
    const short = { ...sealSecret(sealingKey, RIGHT), iv: 'AAAA' };
    expect((await refusalOf(send(handle, short))).message).toContain('passphrase.iv: must be base64 of 12 bytes');
    expect(await acceptedUpdates(handle)).toBe(before); // nothing recorded
    expect(calls.filter((c) => c.startsWith('unlockRoot'))).toEqual([]);
    await send(handle, sealSecret(sealingKey, RIGHT));
    await handle.result();
  });
});

describe('a try that cannot use the secret, or whose answer was lost', () => {
  it('a tampered value and a line break are told without spending a try; a wrong one fails its Update with the tries left', async () => {
    overrides.unlockRoot = unlockWith(RIGHT);
    const handle = await approvedReboot('pve1');
    const sealed = sealSecret(sealingKey, 'a passphrase someone altered');
    const tampered = { ...sealed, ciphertext: Buffer.from(Buffer.from(sealed.ciphertext, 'base64').map((b) => b ^ 1)).toString('base64') };
    const outcomes = [
      await refusalOf(send(handle, tampered)),
      await refusalOf(send(handle, sealSecret(sealingKey, `${RIGHT}\n`))),
      await refusalOf(send(handle, sealSecret(sealingKey, 'wrong'))),
    ];
    expect(outcomes.map((o) => o.type)).toEqual(['AnswerRefused', 'AnswerRefused', 'AnswerRefused']);
    expect(outcomes[0]!.message).toMatch(/it was altered.*\(no try was spent: 3 tries left\)$/);
    expect(outcomes[1]!.message).toMatch(/contains a line break.*\(no try was spent: 3 tries left\)$/);
    expect(outcomes[2]!.message).toBe('wrong passphrase: 2 tries left');
    expect(await send(handle, sealSecret(sealingKey, RIGHT))).toMatchObject({ accepted: true, message: 'system disk unlocked' });
    const result = (await handle.result()) as HypervisorRebootResult;
    expect(result.unlocked).toEqual([{ volume: 'sda5_crypt', by: 'camille', tries: 2 }]);
    // The key ids were read again after the value the worker could not open.
    expect(calls.filter((c) => c.startsWith('sealingKeyIds')).length).toBeGreaterThanOrEqual(2);
  });

  it('a try whose answer was lost: the host state is read; an open disk is not asked for again', async () => {
    overrides.unlockRoot = () => { throw failure('CommandFailed', 'the SSH connection to pve2 dropped'); };
    overrides.rootUnlockState = () => ({ state: 'open', bootId: 'boot-2' });
    const handle = await approvedReboot('pve2');
    expect(await send(handle, sealSecret(sealingKey, RIGHT))).toMatchObject({ accepted: true, message: "pve2's system disk is open: it answers on OpenSSH (boot id boot-2)" });
    await handle.result();
    expect(calls.filter((c) => c.startsWith('unlockRoot'))).toHaveLength(1);
  });

  it('a luksOpen whose answer was lost: dmsetup says the LUN is open, it is not asked for again', async () => {
    let opened = false;
    const lun = { name: 'vg_fma_luks', uuid: 'u2', device: '/dev/mapper/3600', root: false };
    overrides.unlockRoot = unlockWith(RIGHT);
    overrides.listVolumes = () => [{ name: 'sda5_crypt', uuid: 'u1', device: '/dev/sda5', root: true, open: true }, { ...lun, open: opened }];
    overrides.findLockedVolumes = () => [{ ...lun, open: false }];
    overrides.openVolume = () => { opened = true; throw failure('CommandFailed', 'the SSH connection to pve1 dropped'); };
    overrides.activateVolumeGroups = () => '';
    const handle = await approvedReboot('pve1');
    await send(handle, sealSecret(sealingKey, RIGHT));
    await waitingFor(handle, 'submitPassphrase');
    expect(await send(handle, sealSecret(sealingKey, 'the LUN passphrase'))).toMatchObject({ accepted: true, message: 'vg_fma_luks is open on pve1' });
    const result = (await handle.result()) as HypervisorRebootResult;
    expect(result.unlocked.map((u) => `${u.volume}:${u.tries}`)).toEqual(['sda5_crypt:1', 'vg_fma_luks:1']);
    expect(calls.filter((c) => c.startsWith('openVolume'))).toHaveLength(1);
  });

  it('a try whose answer was lost while the host still waits: told so, no try spent, asked again', async () => {
    let lost = true;
    overrides.unlockRoot = (...args: never[]) => {
      if (lost) { lost = false; throw failure('CommandFailed', 'the SSH connection to pve3 dropped'); }
      return (unlockWith(RIGHT) as (...a: never[]) => unknown)(...args);
    };
    const handle = await approvedReboot('pve3');
    const first = await refusalOf(send(handle, sealSecret(sealingKey, RIGHT)));
    expect(first.message).toBe('the try did not finish (the SSH connection to pve3 dropped); pve3 still waits in dropbear with its system disk locked: type the passphrase again (3 tries left)');
    await send(handle, sealSecret(sealingKey, RIGHT));
    expect(((await handle.result()) as HypervisorRebootResult).unlocked[0]!.tries).toBe(1);
  });
});

describe('spent tries ask a person instead of failing with the node drained', () => {
  async function spendTries(handle: WorkflowHandle): Promise<string[]> {
    const messages: string[] = [];
    for (let i = 0; i < 3; i++) messages.push((await refusalOf(send(handle, sealSecret(sealingKey, `wrong ${i}`)))).message);
    return messages;
  }

  it('give up: the run ends as failed with what was done, the admins are mailed', async () => {
    overrides.unlockRoot = unlockWith(RIGHT);
    const handle = await approvedReboot('pve1');
    expect(await spendTries(handle)).toEqual(['wrong passphrase: 2 tries left', 'wrong passphrase: 1 try left', 'wrong passphrase: no tries left, the admins are asked what to do']);
    const asked = await waitingFor(handle, 'decide');
    expect(asked.waitingFor!.what).toContain('pve1 is stuck in its initramfs, no passphrase tries left: power-cycle it then retry, or abort (give up)');
    await decide(handle, 'abort', 'no console access today');
    const { type, message } = await failureOf(handle);
    expect(type).toBe('PassphraseTriesSpent');
    expect(message).toContain('alice gave up after the passphrase tries were spent: no console access today. the system disk sda5_crypt of pve1 stays locked');
    expect(message).toContain('The guests stay where they run now');
    expect(message).toContain('Done so far: VM 1002 moved to');
    expect(mails.map((m) => m.subject)).toEqual([
      'pve1 waits in dropbear for its root passphrase',
      'pve1 is stuck in its initramfs: no passphrase tries left',
      'pve1: the planned reboot was given up, the host stays locked',
    ]);
    expect(mails[1]!.text).toContain('power-cycle pve1 first');
  });

  it('power-cycle and retry: the run waits for a new boot in dropbear, asks again, and ends well', async () => {
    overrides.unlockRoot = unlockWith(RIGHT);
    overrides.rootUnlockState = (_host: string, _before: string, notInBoot?: string) => {
      if (notInBoot === 'boot-2') return { state: 'locked', bootId: 'boot-3' }; // power-cycled: a new initramfs
      return { state: 'locked', bootId: 'boot-2' };
    };
    const handle = await approvedReboot('pve2', { unlockTries: 3 });
    await spendTries(handle);
    await waitingFor(handle, 'decide');
    await decide(handle, 'retry', 'power-cycled from the BMC');
    await waitingFor(handle, 'submitPassphrase');
    expect(await send(handle, sealSecret(sealingKey, RIGHT))).toMatchObject({ accepted: true });
    const result = (await handle.result()) as HypervisorRebootResult;
    expect(result.decisions).toMatchObject([{ about: 'cryptroot-unlock on pve2', decision: 'retry', comment: 'power-cycled from the BMC' }]);
    expect(calls).toContain('rootUnlockState(pve2)');
  });
});
