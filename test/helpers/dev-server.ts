/**
 * A Temporal dev server of a test's own, on a database file, that the test kills (SIGKILL) and starts again on the
 * same file and port, as a crash and a restart by `npm start` would, with npm start's SQLite settings (a crash of the
 * server must lose nothing it acknowledged). The suite's shared server is never killed.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnTethered } from '../../common/tether.js';
import { devServerSqliteFlags } from '../../scripts/dev-server-sqlite.js';
import { temporalCliPath } from '../../scripts/temporal-bin.js';
import { freePort, stop, waitUntilReady } from '../setup/global.js';

export interface DevServer {
  address: string;
  /** SIGKILL, then the same server again on the same database; resolves once it answers. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDevServer(dbFile: string): Promise<DevServer> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  let child: ChildProcess;
  let out = '';
  const spawnServer = async (): Promise<void> => {
    child = spawnTethered(temporalCliPath(), ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--db-filename', dbFile, '--namespace', 'default', '--log-level', 'error', ...devServerSqliteFlags()], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
    child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
    await waitUntilReady(address, child, () => out, 60_000);
  };
  await spawnServer();
  return {
    address,
    async restart() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      await spawnServer();
    },
    stop: () => stop(child),
  };
}
