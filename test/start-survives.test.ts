/**
 * `npm start` keeps itself up (issue 13, problem 2): a dev server, worker or codec server killed under it is
 * restarted, says so, and a runbook started before the kill still answers; stopped and started again on the same
 * folders, the lab's hosts are as they were left and their audits keep the earlier lines; `--fresh-lab` resets them.
 * Temporary folders, free ports, lab subnet 226.
 */
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Inventory } from '../common/inventory.js';
import { eventually, tempDir } from './helpers/runbooks.js';
import { alive, cli, descendants, killStack, sshExec, stackEnv, startStack, waitForOutput, type Stack } from './helpers/stack.js';

const BOOT_ID = 'cat /proc/sys/kernel/random/boot_id';
let stack: Stack | undefined;
const seen = new Map<number, string>();
const remember = (): void => { for (const p of descendants(stack!.child.pid!)) seen.set(p.pid, p.cmd); };

afterAll(() => killStack(stack, [...seen.keys()]));

const dir = tempDir('start-survives');
chmodSync(dir, 0o755); // the lab's sshd reads authorized_keys below it as the lab user
let env: NodeJS.ProcessEnv;
let cliEnv: NodeJS.ProcessEnv;
const id = `survives-${Date.now()}`;

function inventory(): { hosts: Record<string, Inventory['hosts'][number]>; key: Buffer } {
  const inv = JSON.parse(readFileSync(join(dir, 'lab', 'inventory.json'), 'utf8')) as Inventory;
  return { hosts: Object.fromEntries(inv.hosts.map((h) => [h.name, h])), key: readFileSync(inv.ssh.privateKeyPath) };
}
const ssh = (host: string, command: string): Promise<string> => { const { hosts, key } = inventory(); return sshExec(hosts[host]!, key, command); };
const audit = (host: string): string => readFileSync(join(dir, 'lab', 'audit', `${host}.jsonl`), 'utf8');

/** `runbook progress` answers that the run waits for the disk swap (the query needs the server and a worker). */
function progressAnswers(timeoutMs: number): Promise<string> {
  return eventually(`runbook progress ${id} at "swap the disk"`, async () => {
    const run = await cli('runbook', cliEnv, 'progress', id);
    return run.code === 0 && run.stdout.includes('diskReplacement on dom0-a: step 3/9 "swap the disk"') ? run.stdout : undefined;
  }, timeoutMs);
}

/** SIGKILL the one child of npm start whose command matches, and wait for its death and restart on the console. */
async function killAndWaitRestart(what: RegExp, name: string): Promise<void> {
  const victims = descendants(stack!.child.pid!).filter((p) => what.test(p.cmd));
  expect(victims, `one process matching ${what}`).toHaveLength(1);
  const from = stack!.output().length;
  process.kill(victims[0]!.pid, 'SIGKILL');
  await waitForOutput(stack!, new RegExp(`${name} died \\(killed by SIGKILL\\) at \\d{4}-`), 20_000, from);
  expect(stack!.output().slice(from)).toMatch(new RegExp(`restarting the ${name} in 1 s \\(restart 1 in a row\\)`));
  await waitForOutput(stack!, new RegExp(`${name} restarted \\(pid \\d+\\)`), 90_000, from);
  remember();
}

describe('npm start keeps itself up', () => {
  let bootIdA = '';
  let mdstatA = '';

  it('restarts a killed dev server, worker and codec server; a runbook started before answers after each', async () => {
    env = await stackEnv(dir, 226);
    cliEnv = { ...env, TEMPORAL_ADDRESS: `127.0.0.1:${env.RUNBOOK_TEMPORAL_PORT}` };
    stack = startStack(env);
    await waitForOutput(stack, /worker running/, 110_000);
    expect(stack.output()).toContain('lab: fresh hosts from the presets, empty audits (no saved state)');
    remember();

    const started = await cli('runbook', cliEnv, 'start', 'disk-replacement', '--host', 'dom0-a', '--id', id);
    expect(started, JSON.stringify(started)).toMatchObject({ code: 0 });
    const before = await progressAnswers(60_000);
    const removed = audit('dom0-a').split('\n').filter((l) => /mdadm --manage \S+ --(fail|remove) /.test(l));
    expect(removed.length).toBeGreaterThan(0);

    await killAndWaitRestart(/temporal\S* server start-dev/, 'Temporal dev server');
    expect((await fetch(`http://127.0.0.1:${env.RUNBOOK_UI_PORT}/`)).status).toBe(200);
    expect(await progressAnswers(90_000)).toBe(before);

    const workerFrom = stack.output().length;
    await killAndWaitRestart(/dist\/worker\/main\.js/, 'worker');
    await waitForOutput(stack, /worker running/, 60_000, workerFrom);
    expect(await progressAnswers(60_000)).toBe(before);
    // Nothing done twice by the restarted worker: the members were failed and removed once.
    expect(audit('dom0-a').split('\n').filter((l) => /mdadm --manage \S+ --(fail|remove) /.test(l))).toEqual(removed);

    await killAndWaitRestart(/dist\/codec-server\/main\.js/, 'codec server');
    await fetch(`http://127.0.0.1:${env.RUNBOOK_CODEC_PORT}/`); // answers (whatever the status): it listens again

    // A change to keep across the restart below: a person fails a disk of dom0-b, a command lands in its audit.
    expect(await cli('runbook-lab', cliEnv, 'fail-disk', 'dom0-b', '1')).toMatchObject({ code: 0 });
    expect(await ssh('dom0-b', 'cat /proc/mdstat')).toMatch(/\(F\)/);
    bootIdA = (await ssh('dom0-a', BOOT_ID)).trim();
    mdstatA = await ssh('dom0-a', 'cat /proc/mdstat');
    expect(mdstatA).not.toMatch(/\(F\)/); // the run failed and removed the members: degraded, nothing faulty

    const processes = [...seen.entries()];
    stack.child.kill('SIGINT');
    expect(await stack.exited).toBe(0);
    expect(stack.output()).toContain('[start] stopped.');
    await eventually('every child of npm start to be gone', () => processes.every(([pid]) => !alive(pid)) || undefined, 10_000)
      .catch(() => { throw new Error(`left running: ${JSON.stringify(processes.filter(([pid]) => alive(pid)))}`); });
  }, 240_000);

  it('keeps the lab hosts and their audits across a restart on the same folders; --fresh-lab resets them', async () => {
    expect(bootIdA, 'the first test ran').not.toBe('');
    const earlierB = audit('dom0-b');
    expect(earlierB).toContain('"command":"cat /proc/mdstat"');

    stack = startStack(env);
    await waitForOutput(stack, /worker running/, 110_000);
    expect(stack.output()).toContain('lab: the hosts are as the previous run left them, audits kept');
    remember();
    expect(await ssh('dom0-b', 'cat /proc/mdstat')).toMatch(/\(F\)/); // still failed
    expect((await ssh('dom0-a', BOOT_ID)).trim()).toBe(bootIdA); // not rebooted by the restart
    expect(await ssh('dom0-a', 'cat /proc/mdstat')).toBe(mdstatA); // as the run left it, not "faulty" again
    expect(audit('dom0-b').startsWith(earlierB)).toBe(true);
    const listed = await cli('runbook-lab', cliEnv, 'audit', 'dom0-b');
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n').filter((l) => l.includes('cat /proc/mdstat')).length).toBeGreaterThanOrEqual(2);
    await progressAnswers(60_000); // the run started before the restart is there, Temporal's data persisted
    stack.child.kill('SIGINT');
    expect(await stack.exited).toBe(0);

    stack = startStack(env, ['--fresh-lab']);
    await waitForOutput(stack, /worker running/, 110_000);
    expect(stack.output()).toContain('lab: fresh hosts from the presets, empty audits (fresh lab asked)');
    remember();
    expect(await ssh('dom0-b', 'cat /proc/mdstat')).not.toMatch(/\(F\)/);
    expect(await ssh('dom0-a', 'cat /proc/mdstat')).toMatch(/\(F\)/); // the preset's failed disk again
    expect(audit('dom0-b')).not.toContain(earlierB.split('\n')[0]);
    stack.child.kill('SIGTERM'); // kill -TERM stops it as cleanly as Ctrl-C
    expect(await stack.exited).toBe(0);
    const processes = [...seen.entries()];
    await eventually('every child of npm start to be gone', () => processes.every(([pid]) => !alive(pid)) || undefined, 10_000)
      .catch(() => { throw new Error(`left running: ${JSON.stringify(processes.filter(([pid]) => alive(pid)))}`); });
  }, 240_000);
});
