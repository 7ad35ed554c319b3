/**
 * Stress test of the SSH path (not in the suite): `n` commands through our SSH pool against one lab host of the
 * bench stack, `concurrency` at a time, counting the commands whose channel closed without an exit status.
 *   node dist/bench/lost-status.js [--commands 20000] [--concurrency 8] [--host dom0-b]
 * Needs a bench stack left up (`npm run bench -- --keep`, or a stack in bench/.stack). Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SshPool } from '../activities/ssh/pool.js';
import { findHost, type Inventory } from '../common/inventory.js';
import { power } from '../common/commands.js';
import { repoRoot } from '../scripts/paths.js';
import { readPrivateKey } from '../worker/main.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => { const i = args.indexOf(`--${name}`); return i < 0 ? fallback : args[i + 1] ?? fallback; };
const COMMANDS = Number(option('commands', '20000'));
const CONCURRENCY = Number(option('concurrency', '8'));
const HOST = option('host', 'dom0-b');
/** Every n-th command is cancelled a few ms after it starts, as a cancelled activity's is (0: none). */
const ABORT_EVERY = Number(option('abort-every', '0'));
/** The event loop blocked this many ms every 100 ms, as a busy worker's is (0: never). */
const LAG_MS = Number(option('lag', '0'));

const inventory = JSON.parse(readFileSync(join(repoRoot(), 'bench', '.stack', 'lab', 'inventory.json'), 'utf8')) as Inventory;
const host = findHost(inventory, HOST);
if (!host) throw new Error(`the bench lab has no host ${HOST}`);
const pool = new SshPool({ privateKey: readPrivateKey(inventory.ssh.privateKeyPath) });
const command = power.bootId();
const counts = { ok: 0, lostExitStatus: 0, aborted: 0, otherErrors: 0, wrongOutput: 0 };
const examples: string[] = [];
let expected: string | undefined;
let next = 0;
const started = performance.now();

async function lane(): Promise<void> {
  while (next < COMMANDS) {
    if (ABORT_EVERY === 0) next++;
    const abort = ABORT_EVERY > 0 && ++next % ABORT_EVERY === 0 ? new AbortController() : undefined;
    if (abort) setTimeout(() => abort.abort(), Math.random() * 20);
    try {
      const result = await pool.exec(host!, 'openssh', command, { signal: abort?.signal });
      expected ??= result.stdout;
      if (result.exitCode !== 0 || result.stdout !== expected) counts.wrongOutput++;
      else counts.ok++;
    } catch (error) {
      const message = (error as Error).message;
      if (/exit status/.test(message)) counts.lostExitStatus++;
      else if (abort && /cancelled/.test(message)) { counts.aborted++; continue; }
      else counts.otherErrors++;
      if (examples.length < 5) examples.push(message);
    }
  }
}

const lag = LAG_MS > 0 ? setInterval(() => { const until = performance.now() + LAG_MS; while (performance.now() < until); }, 100) : undefined;
await Promise.all(Array.from({ length: CONCURRENCY }, lane));
clearInterval(lag);
pool.close();
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ host: HOST, commands: COMMANDS, concurrency: CONCURRENCY, seconds: Number(seconds.toFixed(1)), ...counts, examples }));
