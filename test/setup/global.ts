/**
 * Vitest global setup: ONE real Temporal dev server (in-memory, headless) for the whole suite.
 * Tests read its address with `inject('temporalAddress')` or process.env.TEMPORAL_TEST_ADDRESS.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import type { TestProject } from 'vitest/node';
import { spawnTethered } from '../../common/tether.js';
import { temporalCliPath } from '../../scripts/temporal-bin.js';
import { devServerSearchAttributeFlags } from '../../common/search-attributes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    /** The payload key of every test file's worker (test/setup/codec-key.ts): see there why one for all. */
    codecKey: string;
  }
}

const HOST = '127.0.0.1';

/** Whether `port` can be listened on at `host` now. */
function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/**
 * A free port below the kernel's ephemeral range (32768-60999 on Debian): a port the kernel hands out for a
 * `listen(0)` can be taken by another process between this pick and its use, and the dev server's own services
 * bind such ports as they start (one took a stack's metrics port once, and its worker could not start). Random in
 * 20000-32767, checked by listening on it.
 */
export async function freePort(host = HOST): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = 20000 + Math.floor(Math.random() * 12768);
    if (await canListen(port, host)) return port;
  }
  throw new Error(`no free port in 20000-32767 on ${host}`);
}

export async function waitUntilReady(address: string, child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`temporal dev server exited early (code ${child.exitCode}, signal ${child.signalCode}):\n${output()}`);
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2_000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: 'default' });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastErr = err;
      await sleep(250);
    }
  }
  throw new Error(`temporal dev server at ${address} not ready after ${timeoutMs / 1000} s: ${String(lastErr)}\n${output()}`);
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const done = await Promise.race([exited.then(() => true as boolean), sleep(10_000, false, { ref: false })]);
  if (!done) {
    child.kill('SIGKILL');
    await exited;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bin = temporalCliPath();
  let lastError: unknown;
  // The free port could be taken between probing and binding: try a few times.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const address = `${HOST}:${port}`;
    // Tethered: the server dies with vitest however vitest ends (a SIGKILL skips the teardown and 'exit').
    const child = spawnTethered(
      bin,
      ['server', 'start-dev', '--headless', '--ip', HOST, '--port', String(port), '--namespace', 'default', '--log-level', 'error', ...devServerSearchAttributeFlags()],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const keep = (chunk: Buffer): void => {
      out = (out + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const killOnExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    try {
      await waitUntilReady(address, child, () => out, 60_000);
    } catch (err) {
      lastError = err;
      await stop(child);
      process.off('exit', killOnExit);
      continue;
    }
    project.provide('temporalAddress', address);
    project.provide('codecKey', `k1:${randomBytes(32).toString('base64')}`);
    process.env.TEMPORAL_TEST_ADDRESS = address;
    return async () => {
      await stop(child);
      process.off('exit', killOnExit);
    };
  }
  throw lastError;
}
