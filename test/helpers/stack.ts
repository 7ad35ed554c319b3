/**
 * `npm start` as a child of a test (node dist/scripts/start.js, what `npm start` runs after setup.sh), in a
 * temporary data and lab folder on free ports, and what the tests look at around it: its processes (/proc), the
 * lab's hosts over SSH, the CLIs with the stack's environment.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client as SshClient } from 'ssh2';
import type { Inventory } from '../../common/inventory.js';
import { spawnTethered } from '../../common/tether.js';
import { eventually } from './runbooks.js';
import { freePort } from '../setup/global.js';

const START = fileURLToPath(new URL('../../dist/scripts/start.js', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/', import.meta.url));

export interface Stack {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  exited: Promise<number | null>;
}

/** The environment of a stack in `dir` (data/, lab/) on free ports and lab subnet `subnet`, as on a fresh machine. */
export async function stackEnv(dir: string, subnet: number): Promise<NodeJS.ProcessEnv> {
  const [temporalPort, uiPort, codecPort, metricsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RUNBOOK_DATA_DIR: join(dir, 'data'),
    RUNBOOK_LAB_DIR: join(dir, 'lab'),
    RUNBOOK_LAB_SUBNET: String(subnet),
    RUNBOOK_TEMPORAL_PORT: String(temporalPort),
    RUNBOOK_UI_PORT: String(uiPort),
    RUNBOOK_CODEC_PORT: String(codecPort),
    RUNBOOK_METRICS_PORT: String(metricsPort),
  };
  // Nothing points elsewhere (the suite's own server, keys or inventory).
  for (const name of Object.keys(env)) {
    if (/^(TEMPORAL_|RUNBOOK_(INVENTORY|CODEC_KEY|CODEC_TOKEN|SEALING|TASK_QUEUE))/.test(name)) delete env[name];
  }
  env.TEMPORAL_CONFIG_FILE = join(dir, 'no-temporal-profile.toml'); // nor a temporal CLI profile in ~/.config
  return env;
}

/** Starts `npm start [args]`, tethered to this test process (so it and all it started die with it however it ends). */
export function startStack(env: NodeJS.ProcessEnv, args: string[] = []): Stack {
  const child = spawnTethered(process.execPath, [START, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Waits for `pattern` in the stack's output (counted from `from` characters on); fails at once if it exited. */
export function waitForOutput(stack: Stack, pattern: RegExp, timeoutMs: number, from = 0): Promise<true> {
  return eventually(`${pattern} from npm start`, () => {
    if (stack.child.exitCode !== null) throw new Error(`npm start exited (${stack.child.exitCode}):\n${stack.output()}`);
    return pattern.test(stack.output().slice(from)) || undefined;
  }, timeoutMs);
}

/** Ctrl-C: resolves to the exit code. */
export async function stopStack(stack: Stack): Promise<number | null> {
  stack.child.kill('SIGINT');
  return stack.exited;
}

/** Last resort for a test that failed midway: SIGINT, then SIGKILL whatever is left of `pids`. */
export async function killStack(stack: Stack | undefined, pids: number[]): Promise<void> {
  if (stack && stack.child.exitCode === null && stack.child.signalCode === null) {
    stack.child.kill('SIGINT');
    await Promise.race([stack.exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
  }
  for (const pid of [...pids, ...(stack?.child.pid ? [stack.child.pid] : [])]) if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** Every process below pid, from /proc (the stack's children run detached, in their own sessions). */
export function descendants(pid: number): { pid: number; cmd: string }[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* gone meanwhile */
    }
  }
  const found: { pid: number; cmd: string }[] = [];
  const walk = (p: number): void => {
    for (const child of children.get(p) ?? []) {
      try {
        found.push({ pid: child, cmd: readFileSync(`/proc/${child}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() });
      } catch {
        continue;
      }
      walk(child);
    }
  };
  walk(pid);
  return found;
}

export function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); // a zombie is gone too
  } catch {
    return false;
  }
}

export function sshExec(host: Inventory['hosts'][number], privateKey: Buffer, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = new SshClient();
    conn
      .on('ready', () => {
        conn.exec(command, (error, channel) => {
          if (error) return reject(error);
          let out = '';
          channel.on('data', (d: Buffer) => (out += d.toString())).on('close', () => {
            conn.end();
            resolve(out);
          });
          channel.stderr.resume();
        });
      })
      .on('error', reject)
      .connect({ host: host.address, port: host.port, username: host.user, privateKey, readyTimeout: 10_000 });
  });
}

/** `npx runbook ARGS` or `npx runbook-lab ARGS` (bin: 'runbook' | 'runbook-lab') with the stack's environment. */
export function cli(bin: 'runbook' | 'runbook-lab', env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(BIN, `${bin}.js`), ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
