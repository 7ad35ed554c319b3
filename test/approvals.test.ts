/**
 * Approvals people can trust, end to end: the real dev server, the real worker process with an inventory whose
 * policy asks two signed approvals from board or admin people, a Xen dom0 of the lab, our CLI signing with
 * OpenSSH's own `ssh-keygen -Y sign` (a key file, and the ssh-agent). Every refused approval leaves the history as
 * it was; two valid ones from two people let the reboot proceed; `npx runbook audit` reads it all back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { approvalMessage, planHash } from '../common/approval.js';
import { parseInventory } from '../common/inventory.js';
import { Lab } from '../lab/lab.js';
import { xenDom0WithGuests } from '../lab/hosts/xen-dom0.js';
import { signWithKeyFile } from '../starter/signing.js';
import type { Audit } from '../starter/audit.js';
import type { HypervisorRebootResult } from '../workflows/hypervisorReboot.js';
import { approveUpdate, planQuery, progressQuery } from '../workflows/messages.js';
import { writeTestCodecKey, writeTestSealingKey } from './setup/codec-key.js';
import { startWorkerProcess, type WorkerProcess } from './setup/worker-process.js';
import { cli } from './helpers/stack.js';
import { freePort } from './setup/global.js';
import { cliEnvironment, codecClient, eventually, recordHistory, tempDir, waitingFor } from './helpers/runbooks.js';

const address = inject('temporalAddress');
const TASK_QUEUE = 'runbooks-approvals';
const HOST = 'dom0-sign';

let dir: string;
let lab: Lab;
let client: Client;
let codecKeyFile: string;
let worker: WorkerProcess;
let agent: ChildProcess | undefined;
let env: NodeJS.ProcessEnv;
let metricsPort: number;
const key: Record<string, string> = {};

function newKey(name: string): string {
  const path = join(dir, `${name}_ed25519`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path]);
  return path;
}

const pub = (name: string) => readFileSync(`${key[name]}.pub`, 'utf8').trim();

beforeAll(async () => {
  dir = tempDir('approvals');
  for (const name of ['alice', 'bob', 'carol', 'mallory']) key[name] = newKey(name);
  lab = await Lab.start({ dir, subnet: 223, hosts: [xenDom0WithGuests(HOST, { bootDelayMs: 500 })] });
  // The lab's hosts, and people: two signed approvals from board or admin people for a hypervisor reboot.
  const inventory = parseInventory({
    ...lab.inventory,
    people: [
      { name: 'alice', email: 'alice@lab.invalid', roles: ['board'], sshKey: pub('alice') },
      { name: 'bob', email: 'bob@lab.invalid', roles: ['admin'], sshKey: pub('bob') },
      { name: 'carol', email: 'carol@lab.invalid', roles: ['admin'], sshKey: pub('carol') },
      { name: 'dave', email: 'dave@lab.invalid', roles: ['admin'] },
    ],
    approvals: { runbooks: { hypervisorReboot: { roles: ['board', 'admin'], count: 2, signature: 'required' } } },
  }, 'approvals inventory');
  const inventoryPath = join(dir, 'inventory-approvals.json');
  writeFileSync(inventoryPath, JSON.stringify(inventory, null, 2));
  codecKeyFile = writeTestCodecKey(dir);
  writeTestSealingKey(dir);
  const sealingKeyFile = join(dir, 'sealing.key');
  metricsPort = await freePort();
  worker = await startWorkerProcess({
    address, inventoryPath, codecKeyFile, taskQueue: TASK_QUEUE, logFile: join(dir, 'worker.log'),
    env: { RUNBOOK_SEALING_KEY_FILE: sealingKeyFile, RUNBOOK_METRICS_PORT: String(metricsPort) },
  });
  client = await codecClient(address, codecKeyFile);
  // carol runs the CLI: she starts the run, so she may not approve it. No agent unless a test starts one.
  env = cliEnvironment({ address, dir, codecKeyFile, taskQueue: TASK_QUEUE, extra: { USER: 'carol', SSH_AUTH_SOCK: undefined } });
});

afterAll(async () => {
  agent?.kill('SIGTERM');
  worker?.kill('SIGTERM');
  await worker?.stopped;
  await client?.connection.close();
  await lab?.stop();
});

/** An ssh-agent of our own holding `name`'s key. */
async function agentWith(name: string): Promise<string> {
  const socket = join(dir, 'agent.sock');
  agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  await eventually('the ssh-agent socket', () => {
    try {
      execFileSync('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'pipe' });
      return true;
    } catch (error) {
      return (error as { status?: number }).status === 1 || undefined; // 1: an agent with no key yet
    }
  }, 10_000);
  execFileSync('ssh-add', ['-q', key[name]!], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'pipe' });
  return socket;
}

/** The worker's Prometheus metrics: the value of each sample line matching `pattern`, summed. */
async function metric(pattern: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const values = text.split('\n').filter((line) => pattern.test(line)).map((line) => Number(line.split(' ').at(-1)));
  return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
}

const historyLength = async (handle: WorkflowHandle) => (await handle.fetchHistory()).events!.length;

/** The run's refusal of an Update, as the sender reads it. */
async function refusal(handle: WorkflowHandle, approval: Record<string, unknown>): Promise<string> {
  const error = await handle.executeUpdate(approveUpdate, { args: [approval as never] }).then(() => undefined, (e: unknown) => e as Error & { cause?: Error });
  expect(error, 'the approval was accepted').toBeDefined();
  return error!.cause?.message ?? error!.message;
}

describe('two signed approvals from two people, bound to the plan', () => {
  it('refuses, each without a history event: unsigned, the requester, a key not in the inventory, an older plan, the same person twice; two valid ones let it run', async () => {
    const id = `approvals-${HOST}-${Date.now()}`;
    const started = await cli('runbook', env, 'start', 'hypervisor-reboot', '--host', HOST, '--reason', 'kernel upgrade', '--id', id,
      '--poll-interval', '1s', '--up-timeout', '30s', '--down-timeout', '30s', '--guest-shutdown-timeout', '5s');
    expect(started).toMatchObject({ code: 0 });
    const handle = client.workflow.getHandle(id);
    await waitingFor(handle, 'approve');
    const plan = (await handle.query(planQuery))!;
    const hash = planHash(plan);
    const { runId } = await handle.describe();
    const before = await historyLength(handle);
    const approve = (...args: string[]) => cli('runbook', env, 'approve', id, ...args);

    const unsigned = await approve('--by', 'alice', '--unsigned');
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain('this runbook takes signed approvals only');
    const requester = await approve('--key', key.carol!); // --by defaults to $USER: carol, who started it
    expect(requester.stderr).toContain('carol started this run and may not approve it');
    const otherKey = await approve('--by', 'alice', '--key', key.mallory!);
    expect(otherKey.stderr).toContain('signed with another key than alice\'s in the inventory');
    const stranger = await approve('--by', 'mallory', '--key', key.mallory!);
    expect(stranger.stderr).toContain('mallory may not approve this runbook');
    // Signed by alice, for a plan she read before it changed (another hash), or for another run.
    const older = `sha256:${'ab'.repeat(32)}`;
    const signedOlder = await signWithKeyFile(key.alice!, approvalMessage({ workflowId: id, runId, planHash: older, by: 'alice' }));
    expect(await refusal(handle, { by: 'alice', plan: older, signature: signedOlder })).toContain(`this approval is for plan ${older}, but the plan now is ${hash}`);
    expect(await refusal(handle, { by: 'alice', signature: signedOlder })).toContain('the signature does not match this run and its plan');
    const otherRun = await signWithKeyFile(key.alice!, approvalMessage({ workflowId: id, runId: 'another-run', planHash: hash, by: 'alice' }));
    expect(await refusal(handle, { by: 'alice', plan: hash, signature: otherRun })).toContain('the signature does not match this run and its plan');
    // alice's signature presented as bob's approval.
    const asBob = await signWithKeyFile(key.alice!, approvalMessage({ workflowId: id, runId, planHash: hash, by: 'bob' }));
    expect(await refusal(handle, { by: 'bob', plan: hash, signature: asBob })).toContain('signed with another key than bob\'s');
    expect(await historyLength(handle)).toBe(before);
    expect(lab.audit(HOST).filter((e) => /^xl (shutdown|destroy)|^reboot$/.test(e.command))).toEqual([]);
    // The worker's metrics count it among the runbooks waiting for a person, and show the preflight's reads.
    await eventually('the waiting runbook in the metrics', async () => (await metric(new RegExp(`^runbook_waiting_for_person\\{.*task_queue="${TASK_QUEUE}"`))) === 1 || undefined, 30_000);
    expect(await metric(/^runbook_ssh_commands(_total)?\{.*exit_code="0".*host="dom0-sign"|^runbook_ssh_commands(_total)?\{.*host="dom0-sign".*exit_code="0"/)).toBeGreaterThan(0);
    expect(await metric(/^runbook_ssh_channels_in_use\{.*host="dom0-sign"/)).toBe(0);

    const first = await approve('--by', 'alice', '--key', key.alice!, '--comment', 'maintenance window');
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toContain(`approved by alice (signed) for plan ${hash}; 1 more approval needed`);
    const progress = await handle.query(progressQuery);
    expect(progress.approvals).toMatchObject({ plan: hash, approved: [{ by: 'alice', how: 'signed' }], awaited: 'approved by alice (signed); awaited: 1 more signed approval from bob' });
    expect(progress.waitingFor?.what).toContain('awaited: 1 more signed approval from bob');
    const shown = await cli('runbook', env, 'progress', id);
    expect(shown.stdout).toMatch(new RegExp(`plan ${hash}: approved by alice \\(signed, [^)]+\\); awaited: 1 more signed approval from bob`));
    expect((await cli('runbook', env, 'plan', id)).stdout).toContain(`plan hash: ${hash}`);
    const after = await historyLength(handle);
    const twice = await approve('--by', 'alice', '--key', key.alice!);
    expect(twice.stderr).toContain('alice approved this plan already; it needs 2 different people');
    expect(await historyLength(handle)).toBe(after);

    // bob signs through his ssh-agent: no --key.
    const second = await cli('runbook', { ...env, SSH_AUTH_SOCK: await agentWith('bob') }, 'approve', id, '--by', 'bob');
    expect(second).toMatchObject({ code: 0 });
    const result: HypervisorRebootResult = await handle.result();
    await recordHistory(handle, 'hypervisorReboot-signed', codecKeyFile);
    await eventually('no runbook waiting in the metrics', async () => (await metric(/^runbook_waiting_for_person\{/)) === 0 || undefined, 30_000);
    expect(result.approvals).toEqual([
      { by: 'alice', comment: 'maintenance window', plan: hash, at: expect.any(String), how: 'signed' },
      { by: 'bob', plan: hash, at: expect.any(String), how: 'signed' },
    ]);
    expect(lab.audit(HOST).filter((e) => e.command === 'reboot')).toHaveLength(1);
    // Two Updates in history: the two approvals that counted.
    expect((await handle.fetchHistory()).events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(2);

    const audit = await cli('runbook', env, 'audit', id);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(new RegExp(`alice  signed  plan ${hash}  "maintenance window"`));
    expect(audit.stdout).toMatch(new RegExp(`bob  signed  plan ${hash}`));
    expect(audit.stdout).toMatch(/exit 0  dom0-sign  xl shutdown guest2/);
    expect(audit.stdout).toMatch(new RegExp(`exit 0  dom0-sign  reboot .*\\(${id}-reboot\\)`));
    const json = JSON.parse((await cli('runbook', env, 'audit', id, '--json')).stdout) as Audit;
    expect(json.approvals.map((a) => `${a.by}:${a.how}:${a.plan}`)).toEqual([`alice:signed:${hash}`, `bob:signed:${hash}`]);
    // Every command the host ran is in the audit, once, with its exit code and duration.
    const ran = json.commands.filter((c) => c.host === HOST && /^(xl (shutdown|create) |reboot$)/.test(c.command));
    expect(ran.map((c) => c.command).sort()).toEqual(lab.audit(HOST).filter((e) => /^(xl (shutdown|create) |reboot$)/.test(e.command)).map((e) => e.command).sort());
    expect(ran.every((c) => c.exitCode === 0 && c.seconds >= 0)).toBe(true);
  });
});
