/**
 * `npm run bench`: the engine against what an admin would otherwise use, on the lab, in one run.
 *   npm run bench [-- --rounds 5 --steps 20 --parked 100 --concurrent 50 --keep]   (--parked 1000 for the large case)
 * Interleaved rounds (each round runs every method once, in a rotated order), min/median/max per command over the
 * rounds; ratios of medians from the same run. Writes bench/results/<time>.json (raw) and .md (the table), and
 * bench/results/latest.md. Never a threshold: this measures, the README says what the numbers were.
 */
import { fork } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { findHost, type Host } from '../common/inventory.js';
import { CODEC_KEY_SETTINGS, readSettings } from '../common/settings.js';
import { connectClient, temporalSettings } from '../common/temporal.js';
import { repoRoot } from '../scripts/paths.js';
import { power } from '../common/commands.js';
import { WORKER_ENV, WORKER_NODE_FLAGS } from '../worker/process.js';
import { baselines } from './baselines.js';
import { benchStack } from './stack.js';

const args = process.argv.slice(2);
function option(name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(args[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} takes a positive integer`);
  return value;
}
const ROUNDS = option('rounds', 5);
const STEPS = option('steps', 20);
const PARKED = option('parked', 100);
const CONCURRENT = option('concurrent', 50);
const KEEP = args.includes('--keep');
const TASK_QUEUE = 'bench';
const READ_HOST = 'dom0-b';
const CHANGE_HOST = 'dom0-c';

interface Stats { memory: NodeJS.MemoryUsage; cpu: NodeJS.CpuUsage; counters: { commands: number; channelOpenRefusals: number } | null }
interface Series { name: string; unit: string; commandsPerUnit: number; perUnitMs: number[] }

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const MiB = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const log = (msg: string): void => console.error(`[bench] ${msg}`);

async function main(): Promise<void> {
  const started = Date.now();
  const stack = await benchStack(KEEP);
  log(`stack ${stack.reused ? 'reused' : 'started'} (bench/.stack, Temporal ${stack.env.TEMPORAL_ADDRESS})`);
  // Its output (a line per SSH command) in bench/.stack/worker.log.
  const workerLog = join(stack.dir, 'worker.log');
  const fd = openSync(workerLog, 'w');
  const worker = fork(fileURLToPath(new URL('./worker.js', import.meta.url)), [], { env: { ...stack.env, ...WORKER_ENV }, execArgv: [...WORKER_NODE_FLAGS, '--expose-gc'], stdio: ['ignore', fd, fd, 'ipc'] });
  closeSync(fd);
  const stats = (): Promise<Stats> => new Promise((resolve) => { worker.once('message', (m) => resolve(m as Stats)); worker.send('stats'); });
  let client: Client | undefined;
  try {
    while (!/worker running/.test(readFileSync(workerLog, 'utf8'))) {
      if (worker.exitCode !== null) throw new Error(`the bench worker exited: ${readFileSync(workerLog, 'utf8').slice(-4000)}`);
      await sleep(100);
    }
    client = await connectClient(temporalSettings(stack.env), readSettings(CODEC_KEY_SETTINGS, stack.env));
    const results = await measure(client, stack.inventory, join(stack.dir, 'baselines'), stats);
    report({ ...results, wallSeconds: (Date.now() - started) / 1000, stackReused: stack.reused });
  } finally {
    await client?.connection.close();
    // A worker that has not shut down within 30 s (seen: one waiting on its pollers) must not keep the stack up.
    const exited = new Promise((resolve) => (worker.exitCode !== null ? resolve(null) : worker.once('exit', resolve)));
    worker.kill('SIGINT');
    if (await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]) === false) { log('the bench worker did not stop within 30 s: killed'); worker.kill('SIGKILL'); await exited; }
    await stack.stop();
  }
}

function host(inventory: Parameters<typeof findHost>[0], name: string): Host {
  const h = findHost(inventory, name);
  if (!h) throw new Error(`the bench lab has no host ${name}`);
  return h;
}

async function measure(client: Client, inventory: Parameters<typeof findHost>[0], dir: string, stats: () => Promise<Stats>) {
  mkdirSync(dir, { recursive: true });
  const readHost = host(inventory, READ_HOST);
  const changeHost = host(inventory, CHANGE_HOST);
  const guest = changeHost.guests?.at(-1);
  if (!guest?.config) throw new Error(`${CHANGE_HOST} has no guest with a config to destroy and create`);
  const base = await baselines(inventory, readHost, power.bootId().text, dir);
  const id = `${Date.now().toString(36)}`;
  let runs = 0;
  const wf = (type: string, wfArgs: unknown[]) => client.workflow.execute(type, { taskQueue: TASK_QUEUE, workflowId: `bench-${type}-${id}-${++runs}`, args: wfArgs });
  const methods: { series: Series; units?: number; run: () => Promise<number> }[] = [
    { series: { name: 'engine, read step', unit: 'step', commandsPerUnit: 1, perUnitMs: [] }, run: async () => { const t = performance.now(); await wf('benchReads', [READ_HOST, STEPS]); return performance.now() - t; } },
    { series: { name: 'engine, host-changing step (guard + change)', unit: 'step', commandsPerUnit: 2, perUnitMs: [] }, run: async () => { const t = performance.now(); await wf('benchChanges', [CHANGE_HOST, guest.name, guest.config, STEPS]); return performance.now() - t; } },
    { series: { name: 'bash + ssh per command', unit: 'command', commandsPerUnit: 1, perUnitMs: [] }, run: () => base.ssh(STEPS) },
    { series: { name: 'ssh over a ControlMaster', unit: 'command', commandsPerUnit: 1, perUnitMs: [] }, run: () => base.controlMaster(STEPS) },
    { series: { name: 'ansible-playbook raw task (pipelining, no facts)', unit: 'task', commandsPerUnit: 1, perUnitMs: [] }, run: () => base.ansible(STEPS) },
    { series: { name: 'ssh2 exec, reused connection (floor)', unit: 'command', commandsPerUnit: 1, perUnitMs: [] }, run: () => base.ssh2(STEPS) },
    // Where an engine read step's time goes (a line under the table): its local activity round trip without the
    // command, and the runbook's start and end, which the figure above shares among its STEPS steps.
    { series: { name: 'engine, a step that runs no command', unit: 'step', commandsPerUnit: 0, perUnitMs: [] }, run: async () => { const t = performance.now(); await wf('benchLookups', [READ_HOST, STEPS]); return performance.now() - t; } },
    { series: { name: 'engine, a runbook started and ended with no step', unit: 'runbook', commandsPerUnit: 0, perUnitMs: [] }, units: 1, run: async () => { const t = performance.now(); await wf('benchLookups', [READ_HOST, 0]); return performance.now() - t; } },
  ];
  try {
    log(`warm-up round, then ${ROUNDS} interleaved rounds of ${STEPS} per method`);
    for (const m of methods) { log(`warm-up: ${m.series.name}`); await m.run(); }
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < methods.length; k++) {
        const m = methods[(r + k) % methods.length]!;
        m.series.perUnitMs.push((await m.run()) / (m.units ?? STEPS));
        log(`round ${r + 1}: ${m.series.name}: ${(m.series.perUnitMs.at(-1)!).toFixed(1)} ms per ${m.series.unit}`);
      }
    }
  } finally {
    await base.close();
  }

  // Parked runbooks: worker memory while they wait for a person, and how fast they get there.
  log(`${PARKED} runbooks parked at a wait`);
  const before = await stats();
  const t0 = performance.now();
  const handles: WorkflowHandle[] = [];
  for (let i = 0; i < PARKED; i++) {
    handles.push(await client.workflow.start('benchParked', { taskQueue: TASK_QUEUE, workflowId: `bench-parked-${id}-${i}`, args: [READ_HOST] }));
  }
  const startSeconds = (performance.now() - t0) / 1000;
  // Parked = its history holds the read's marker: the workflow task that ran the read (a local activity) completed,
  // and with it the wait. Read from the server's history, not by a query: a query on a runbook out of the worker's
  // cache replays it in the worker, so polling queries measured (and slowed) the worker's replays instead.
  // One at a time, in start order (they park roughly in that order): the polling costs the server little.
  for (const h of handles) while (!(await hasReadMarker(h))) await sleep(20);
  const parkSeconds = (performance.now() - t0) / 1000;
  const parkedStats = await stats();
  // The worker's CPU time per runbook started and parked: what the start rate costs, whatever else loads the machine.
  const cpuMsPerStart = (parkedStats.cpu.user + parkedStats.cpu.system - before.cpu.user - before.cpu.system) / 1000 / PARKED;
  log(`${PARKED} started in ${startSeconds.toFixed(1)} s, all parked after ${parkSeconds.toFixed(1)} s, worker CPU ${cpuMsPerStart.toFixed(1)} ms per runbook, RSS ${MiB(parkedStats.memory.rss)}`);
  // A signal the client sent again after a slow answer may find its runbook released and ended by the first: fine.
  await Promise.all(handles.map((h) => h.signal('release').catch(async (error: unknown) => {
    if ((await h.describe()).status.name !== 'COMPLETED') throw error;
  })));
  await Promise.all(handles.map((h) => h.result()));
  const afterStats = await stats();

  // Concurrent runbooks on one host: do they all pass, first time?
  log(`${CONCURRENT} concurrent runbooks of ${STEPS} reads on ${READ_HOST}`);
  const c0 = performance.now();
  const concurrent = await Promise.allSettled(Array.from({ length: CONCURRENT }, (_, i) =>
    client.workflow.start('benchReads', { taskQueue: TASK_QUEUE, workflowId: `bench-concurrent-${id}-${i}`, args: [READ_HOST, STEPS] }).then(async (h) => { await h.result(); return h; })));
  const concurrentSeconds = (performance.now() - c0) / 1000;
  let retriedAttempts = 0;
  for (const outcome of concurrent) {
    if (outcome.status !== 'fulfilled') continue;
    const history = await outcome.value.fetchHistory();
    for (const e of history.events ?? []) if ((e.activityTaskStartedEventAttributes?.attempt ?? localActivityAttempt(e) ?? 1) > 1) retriedAttempts++;
  }
  const concurrentStats = await stats();
  return {
    series: methods.map((m) => m.series),
    parked: {
      count: PARKED, seconds: parkSeconds, perSecond: PARKED / parkSeconds, startSeconds, cpuMsPerStart,
      rssBefore: before.memory.rss, rssParked: parkedStats.memory.rss, rssAfter: afterStats.memory.rss,
      heapBefore: before.memory.heapUsed, heapParked: parkedStats.memory.heapUsed,
    },
    concurrent: {
      count: CONCURRENT, steps: STEPS, seconds: concurrentSeconds,
      failedRunbooks: concurrent.filter((o) => o.status === 'rejected').length,
      failures: concurrent.flatMap((o) => (o.status === 'rejected' ? [String((o.reason as Error).message)] : [])).slice(0, 5),
      retriedAttempts,
      channelOpenRefusals: (concurrentStats.counters?.channelOpenRefusals ?? 0) - (afterStats.counters?.channelOpenRefusals ?? 0),
    },
  };
}

type Results = Awaited<ReturnType<typeof measure>> & { wallSeconds: number; stackReused: boolean };

function report(results: Results): void {
  const machine = `${cpus()[0]?.model ?? 'cpu'} × ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`;
  const perCommand = (s: Series) => s.perUnitMs.map((v) => v / s.commandsPerUnit);
  const byName = (prefix: string) => results.series.find((s) => s.name.startsWith(prefix))!;
  const cm = median(perCommand(byName('ssh over a ControlMaster')));
  const floor = median(perCommand(byName('ssh2 exec')));
  const noCommand = median(byName('engine, a step that runs no command').perUnitMs);
  const startEnd = median(byName('engine, a runbook started and ended').perUnitMs);
  const readStep = median(perCommand(byName('engine, read step')));
  const lines = [
    `Machine: ${machine}`,
    `Run: ${new Date().toISOString()}, ${ROUNDS} interleaved rounds of ${STEPS} per method, ${results.wallSeconds.toFixed(0)} s${results.stackReused ? ' (stack reused)' : ''}`,
    '',
    '| method | ms per unit (min / median / max) | ms per SSH command (median) | × ControlMaster | × ssh2 floor |',
    '|---|---|---|---|---|',
    ...results.series.filter((s) => s.commandsPerUnit > 0).map((s) => {
      const per = median(perCommand(s));
      return `| ${s.name} | ${fmt(Math.min(...s.perUnitMs))} / ${fmt(median(s.perUnitMs))} / ${fmt(Math.max(...s.perUnitMs))} per ${s.unit} | ${fmt(per)} | ${(per / cm).toFixed(2)} | ${(per / floor).toFixed(2)} |`;
    }),
    '',
    `Where an engine read step goes (medians): ${fmt(floor)} ms the SSH command alone (the ssh2 floor); ${fmt(noCommand - startEnd / STEPS)} ms the step's local activity round trip through the SDK's core and the workflow's sandbox (a step that runs no command: ${fmt(noCommand)} ms, less its share of the runbook's start and end); ` +
      `${fmt(startEnd / STEPS)} ms that share (a runbook started and ended with no step: ${fmt(startEnd)} ms, over ${STEPS} steps); the rest, ${fmt(readStep - floor - noCommand)} ms, the command run inside the worker, whose event loop and cores it shares with the SDK's own work. The read step measured ${fmt(readStep)} ms.`,
    '',
    `Parked runbooks (one read step, then a wait): ${results.parked.count} started and parked in ${results.parked.seconds.toFixed(1)} s (${results.parked.perSecond.toFixed(0)}/s; the starts alone ${results.parked.startSeconds.toFixed(1)} s; worker CPU ${results.parked.cpuMsPerStart.toFixed(1)} ms per runbook); ` +
      `worker RSS ${MiB(results.parked.rssBefore)} before, ${MiB(results.parked.rssParked)} parked (${((results.parked.rssParked - results.parked.rssBefore) / results.parked.count / 1024).toFixed(0)} KiB per runbook; JS heap ${((results.parked.heapParked - results.parked.heapBefore) / results.parked.count / 1024).toFixed(0)} KiB per runbook), ${MiB(results.parked.rssAfter)} after they ended.`,
    `Concurrent: ${results.concurrent.count} runbooks × ${results.concurrent.steps} reads on one host in ${results.concurrent.seconds.toFixed(1)} s: ` +
      `${results.concurrent.failedRunbooks} failed, ${results.concurrent.retriedAttempts} retried activity attempts, ${results.concurrent.channelOpenRefusals} channel-open refusals (retried by the pool).`,
  ];
  const table = lines.join('\n');
  console.log(table);
  const dir = join(repoRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify({ machine, rounds: ROUNDS, steps: STEPS, ...results }, null, 2)}\n`);
  writeFileSync(join(dir, `${stamp}.md`), `${table}\n`);
  writeFileSync(join(dir, 'latest.md'), `${table}\n`);
  log(`wrote bench/results/${stamp}.json and .md, and bench/results/latest.md`);
}

main().catch((error: unknown) => {
  console.error(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});

/** Whether a benchParked run has done its read: a local activity's marker in its history (then it waits). */
async function hasReadMarker(handle: WorkflowHandle): Promise<boolean> {
  const history = await handle.fetchHistory().catch(() => undefined);
  return (history?.events ?? []).some((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
}

/** A local activity's attempt, from the marker it leaves (core writes its data as plain JSON, outside our codec). */
function localActivityAttempt(event: { markerRecordedEventAttributes?: { markerName?: string | null; details?: Record<string, { payloads?: { data?: Uint8Array | null }[] | null }> | null } | null }): number | undefined {
  const marker = event.markerRecordedEventAttributes;
  if (marker?.markerName !== 'core_local_activity') return undefined;
  try {
    const data = marker.details?.data?.payloads?.[0]?.data;
    return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { attempt?: number }).attempt : undefined;
  } catch {
    return undefined;
  }
}
