/**
 * A re-planned run: approvals of the earlier plan no longer count, and an approval sent for it is refused. The
 * engine's Approvals in a small runbook of its own (test/fixtures/replan), on the time-skipping server.
 */
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planHash } from '../common/approval.js';
import type { ApprovalRecord } from '../common/inputs.js';
import { testServerPath } from '../scripts/temporal-bin.js';
import { approveUpdate, planQuery, progressQuery } from '../workflows/messages.js';
import { ensureSearchAttributes } from '../worker/search-attributes.js';
import { eventually, waitingFor } from './helpers/runbooks.js';

const TASK_QUEUE = 'runbooks-replan';
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: testServerPath() } } });
  await ensureSearchAttributes(env.nativeConnection.operatorService, env.namespace ?? 'default');
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowsPath: fileURLToPath(new URL('./fixtures/replan/workflows.ts', import.meta.url)),
  });
  running = worker.run();
});

afterAll(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running;
  await env?.teardown();
});

describe('a re-planned run', () => {
  it('drops the approvals of the earlier plan and refuses one sent for it, without an Update event', async () => {
    const handle = await env.client.workflow.start('replanned', { taskQueue: TASK_QUEUE, workflowId: `replanned-${Date.now()}` });
    await waitingFor(handle, approveUpdate.name);
    const first = planHash(await handle.query(planQuery));
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', plan: first }] });
    await env.sleep('2 hours'); // the first plan expires with one of its two approvals
    const second = await eventually('the second plan', async () => {
      const plan = await handle.query(planQuery);
      return plan?.summary === 'second plan' ? planHash(plan) : undefined;
    });
    expect(second).not.toBe(first);
    expect((await waitingFor(handle, approveUpdate.name)).approvals).toMatchObject({ plan: second, approved: [], awaited: 'awaited: 2 more approvals' });
    // (This server records the workflow task that ran the validator; the dev server, in test/approvals.test.ts, not even that.)
    const updateEvents = async () => (await handle.fetchHistory()).events!.filter((e) => Object.keys(e).some((k) => k.startsWith('workflowExecutionUpdate'))).length;
    const events = await updateEvents();
    expect(events).toBeGreaterThanOrEqual(2); // alice's approval of the first plan: accepted, completed
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', plan: first }] }))
      .rejects.toMatchObject({ cause: { message: expect.stringContaining(`this approval is for plan ${first}, but the plan now is ${second}`) } });
    expect(await updateEvents()).toBe(events);
    // alice approved the first plan only: her approval of the second one counts anew.
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', plan: second }] });
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', plan: second }] });
    const records = (await handle.result()) as ApprovalRecord[];
    expect(records.map((r) => `${r.by}:${r.plan}:${r.how}`)).toEqual([`alice:${second}:unsigned`, `bob:${second}:unsigned`]);
    expect((await handle.query(progressQuery)).approvals?.approved).toHaveLength(2);
  }, 60_000);
});
