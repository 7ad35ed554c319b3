/**
 * ganetiHypervisorSetup end to end on lab Ganeti nodes: the group and the Match group block added once (a second run
 * changes nothing), the file checked by the real `sshd -t`, the previous file put back when it refuses. Subnet 246.
 */
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEBIAN_SSHD_CONFIG, SSHD_CONFIG } from '../lab/capabilities/sshd/index.js';
import type { GanetiNodeState } from '../lab/hosts/ganeti-node.js';
import { Lab, presets } from '../lab/lab.js';
import { startLabMailbox, type Mailbox } from '../lab/mailbox.js';
import type { GanetiHypervisorSetupResult } from '../workflows/ganetiHypervisorSetup.js';
import { approveUpdate, decideUpdate, planQuery } from '../workflows/messages.js';
import { changesByHost, codecClient, planByHost, recordHistory, stopAll, tempDir, waitingFor } from './helpers/runbooks.js';
import { writeTestCodecKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';

const address = inject('temporalAddress');
const BROKEN = `${DEBIAN_SSHD_CONFIG}Match User old-member\n    PermitOpen localhost:nowhere\n`;
let lab: Lab;
let client: Client;
let codecKeyFile: string;
let worker: WorkerProcess;
let mailbox: Mailbox;

const node = (host: string) => lab.state<GanetiNodeState>(host);

function start(host: string): Promise<WorkflowHandle> {
  return client.workflow.start('ganetiHypervisorSetup', { taskQueue: 'runbooks', workflowId: `gnt-setup-${host}-${Date.now()}`, args: [{ host }] });
}

beforeAll(async () => {
  const dir = tempDir('gnt-setup');
  lab = await Lab.start({ dir, subnet: 246, hosts: [presets.ganetiNodeSkeleton('gnt-a', { bootDelayMs: 300 }), presets.ganetiNodeSkeleton('gnt-bad', { bootDelayMs: 300, sshdConfig: BROKEN })] });
  mailbox = await startLabMailbox({ dir: join(dir, 'mail'), inventoryPath: lab.inventoryPath, log: () => undefined });
  codecKeyFile = writeTestCodecKey(dir);
  worker = await startWorkerProcess({ address, inventoryPath: lab.inventoryPath, codecKeyFile });
  client = await codecClient(address, codecKeyFile);
});

afterAll(() => stopAll(worker, client, mailbox, lab));

describe('ganetiHypervisorSetup', () => {
  it('adds the group and the Match group block once, checked by sshd -t, and changes nothing the second time', async () => {
    const first = await start('gnt-a');
    await waitingFor(first, approveUpdate.name);
    await first.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
    const result = (await first.result()) as GanetiHypervisorSetupResult;
    expect(result).toMatchObject({ group: 'done', matchBlock: 'done' });
    const config = node('gnt-a').sshFiles![SSHD_CONFIG]!;
    expect(config.startsWith(DEBIAN_SSHD_CONFIG)).toBe(true);
    expect(config.endsWith('\nMatch group ref-host-vm\n    AllowAgentForwarding no\n    AllowStreamLocalForwarding no\n    X11Forwarding no\n    PermitTTY no\n    PermitTunnel no\n    PermitUserRC no\n    PermitOpen none\nMatch all # end Match group block\n')).toBe(true);
    expect(node('gnt-a').groups!.map((g) => g.name)).toContain('ref-host-vm');
    expect(node('gnt-a').sshdRunning).toBe(config);
    const plan = (await first.query(planQuery))!;
    expect(changesByHost({ 'gnt-a': lab.audit('gnt-a') })).toEqual(planByHost(plan));
    await recordHistory(first, 'ganetiHypervisorSetup', codecKeyFile);

    const mark = lab.audit('gnt-a').length;
    const second = (await (await start('gnt-a')).result()) as GanetiHypervisorSetupResult;
    expect(second).toMatchObject({ group: 'already done', matchBlock: 'already done' });
    expect(second.timeline.filter((t) => t.skipped).map((t) => t.step)).toEqual(['plan and approval', 'addgroup', 'the Match group block']);
    expect(changesByHost({ 'gnt-a': lab.audit('gnt-a').slice(mark) })).toEqual({});
    expect(node('gnt-a').sshFiles![SSHD_CONFIG]).toBe(config);
    expect(node('gnt-a').sshReloads).toBe(1);
  });

  it('puts the previous file back when sshd -t refuses the new one, and does not reload', async () => {
    const handle = await start('gnt-bad');
    await waitingFor(handle, approveUpdate.name);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
    await waitingFor(handle, decideUpdate.name);
    expect(node('gnt-bad').sshFiles![SSHD_CONFIG]).toBe(BROKEN);
    expect(node('gnt-bad').sshReloads).toBe(0);
    const mail = await mailbox.waitFor((m) => m.subject.includes('gnt-bad: tee /etc/ssh/sshd_config failed'));
    expect(mail.text).toContain('PermitOpen');
    expect(lab.audit('gnt-bad').filter((e) => e.command === 'sshd -t').map((e) => e.exitCode)).toEqual([255]);
    await handle.executeUpdate(decideUpdate, { args: [{ by: 'bob', decision: 'abort', comment: 'fix the old Match User block first' }] });
    await expect(handle.result()).rejects.toThrow();
    expect(node('gnt-bad').sshFiles![SSHD_CONFIG]).toBe(BROKEN);
  });
});
