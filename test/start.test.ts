/**
 * `npm start` as a newcomer runs it (node dist/scripts/start.js, what `npm start` runs after setup.sh), in a
 * temporary data and lab folder, on free ports and lab subnet 214: the UI answers, the lab hosts answer SSH,
 * a worker runs; Ctrl-C (SIGINT) stops it all and leaves no process behind.
 */
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Inventory } from '../common/inventory.js';
import { eventually, tempDir } from './helpers/runbooks.js';
import { alive, cli, descendants, killStack, sshExec, stackEnv, startStack, waitForOutput, type Stack } from './helpers/stack.js';

let stack: Stack | undefined;
let seen: { pid: number; cmd: string }[] = [];

// Only if an assertion failed midway: SIGINT first, so that it stops its children in order.
afterAll(() => killStack(stack, seen.map((p) => p.pid)));

describe('npm start', () => {
  it('starts the dev server, UI, codec server, lab and worker, and stops every one of them on Ctrl-C', async () => {
    const dir = tempDir('start');
    chmodSync(dir, 0o755); // the lab's sshd reads authorized_keys below it as the lab user
    const env = await stackEnv(dir, 214);
    const uiPort = env.RUNBOOK_UI_PORT!;
    stack = startStack(env);
    const child = stack.child;
    await waitForOutput(stack, /worker running/, 110_000);
    const output = stack.output;
    expect(output()).toContain('THE HOSTS ARE SIMULATED');
    // Quiet: no bundler listing, no task token, no stack trace.
    expect(output()).not.toMatch(/modules by path|taskToken|EADDRINUSE|\n\s+at /);
    expect(output()).toContain(`UI: http://127.0.0.1:${uiPort}`);

    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);

    const inventory = JSON.parse(readFileSync(join(dir, 'lab', 'inventory.json'), 'utf8')) as Inventory;
    expect(inventory.hosts.map((h) => `${h.name} ${h.address}`)).toEqual(['dom0-a 127.0.214.10', 'dom0-b 127.0.214.11', 'dom0-c 127.0.214.12', 'pve1 127.0.214.13', 'pve2 127.0.214.14', 'pve3 127.0.214.15', 'gnt-master 127.0.214.16', 'gnt-node 127.0.214.17']);
    const key = readFileSync(inventory.ssh.privateKeyPath);
    for (const host of inventory.hosts) expect((await sshExec(host, key, 'hostname')).trim()).toBe(host.name);
    expect(await sshExec(inventory.hosts[0]!, key, 'cat /proc/mdstat')).toMatch(/^md\d : active raid1 /m);
    expect(readFileSync(join(dir, 'lab', 'audit', 'dom0-a.jsonl'), 'utf8')).toContain('"command":"cat /proc/mdstat"');
    expect(existsSync(join(dir, 'data', 'temporal.db'))).toBe(true);

    // Our CLI in the next terminal finds this stack (its port, its codec key) with nothing set but the data folder
    // this test moved (a project folder's default .data needs not even that).
    const cliEnv = { ...env, RUNBOOK_TEMPORAL_PORT: undefined };
    const listed = await cli('runbook', cliEnv, 'list');
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);

    const processes = (seen = descendants(child.pid!));
    expect(processes.some((p) => /temporal\S* server start-dev/.test(p.cmd)), JSON.stringify(processes)).toBe(true);
    expect(processes.some((p) => p.cmd.includes('dist/worker/main.js'))).toBe(true);
    expect(processes.some((p) => p.cmd.includes('dist/codec-server/main.js'))).toBe(true);
    // The daemons themselves (not the tethers of common/tether.ts, whose command line names them too).
    const sshds = processes.filter((p) => /^(sshd: )?\/usr\/sbin\/sshd -D/.test(p.cmd));
    expect(sshds.filter((p) => !p.cmd.includes('.members.conf'))).toHaveLength(inventory.hosts.length);
    // And the Ganeti hypervisors' members' sshd (lab/members-sshd.ts).
    expect(sshds.filter((p) => p.cmd.includes('.members.conf'))).toHaveLength(inventory.hosts.filter((h) => h.kind.startsWith('ganeti')).length);
    // The request mailbox and the lab zone: Dovecot and Knot, with the inventory pointing at them.
    expect(processes.filter((p) => /^\/usr\/sbin\/dovecot -F -c /.test(p.cmd))).toHaveLength(1);
    expect(processes.filter((p) => /^\/usr\/sbin\/knotd -c /.test(p.cmd))).toHaveLength(1);
    expect(inventory.mail?.requests?.address).toBe('bureau@lab.invalid');
    expect(inventory.dns).toMatchObject({ zone: 'lab.invalid', port: 53 });
    expect(output()).toMatch(/lab mail: send a request as the member alice/);

    child.kill('SIGINT');
    expect(await stack.exited).toBe(0);
    expect(output()).toContain('[start] stopped.');
    // A clean Ctrl-C: the dev server's complaints about its own shutdown are not shown.
    expect(output()).not.toMatch(/level=WARN|Failed to poll/);
    await eventually('every child of npm start to be gone', () => processes.every((p) => !alive(p.pid)) || undefined, 10_000)
      .catch(() => { throw new Error(`left running: ${JSON.stringify(processes.filter((p) => alive(p.pid)))}`); });
    await expect(fetch(`http://127.0.0.1:${uiPort}/`)).rejects.toThrow();
  });

  it('says which port is in use and what holds it, and starts nothing', async () => {
    const dir = tempDir('start-port');
    chmodSync(dir, 0o755);
    const env = await stackEnv(dir, 214);
    const port = Number(env.RUNBOOK_TEMPORAL_PORT);
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      stack = startStack(env);
      expect(await stack.exited).toBe(1);
      expect(stack.output()).toContain(
        `[start] failed: port ${port} (the Temporal dev server) is already in use on 127.0.0.1: held by pid ${process.pid} (`,
      );
      expect(stack.output()).toContain('choose another port with RUNBOOK_TEMPORAL_PORT');
      expect(stack.output()).not.toContain('starting Temporal dev server');
      expect(stack.output()).not.toContain('THE HOSTS ARE SIMULATED');
    } finally {
      holder.close();
    }
  });
});
