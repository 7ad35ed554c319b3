/**
 * The real worker (dist/worker/main.js's runWorker) that SIGKILLs itself once at each activity boundary it meets,
 * for the systematic kill test (test/helpers/kill-boundaries.ts). A boundary is `workflowId/runId/activityId/kind`:
 *   scheduled  a workflow task schedules the activity: the worker dies before the server records it (a new
 *              worker takes the workflow task again once it timed out, and schedules the activity)
 *   started    the attempt began, before it ran anything
 *   completed  the attempt succeeded (its change made), before the result reached the server
 * Boundaries already killed at are kept in $FAULT_LEDGER (one per line), so the restarted worker goes past them
 * and dies at the next one. Where it dies: the kinds of the ledger's last `--- KINDS` line (a test writes one before
 * each run; a comma list, `kind:N` for at most N deaths of that kind since that line), else $FAULT_KINDS, else all;
 * $FAULT_ACTIVITIES, a regex on the activity type. $FAULT_BUNDLE: a prebuilt workflow bundle (with fault-workflow-interceptors.mjs) saves a webpack
 * run per restart. Plain JS: node runs it as is, the worker from dist/.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { runWorker } from '../../dist/worker/main.js';

const ledger = process.env.FAULT_LEDGER;
if (!ledger) throw new Error('FAULT_LEDGER is not set');
/** Each kind it dies at, with its cap (Infinity: at every such boundary). */
const kindsOf = (list) => new Map(list.split(',').map((k) => {
  const [kind, cap] = k.split(':');
  return [kind, cap ? Number(cap) : Infinity];
}));
const activities = new RegExp(process.env.FAULT_ACTIVITIES ?? '.');
let dying = false;

/** Die at this boundary unless this worker or an earlier one already did, or the kind's cap is reached. */
function boundary(workflowId, runId, activityId, type, kind) {
  if (dying || !activities.test(type)) return;
  const key = `${workflowId}/${runId}/${activityId}/${kind}`;
  const lines = existsSync(ledger) ? readFileSync(ledger, 'utf8').split('\n').filter(Boolean) : [];
  if (lines.some((line) => line.split(' ')[0] === key)) return;
  const mark = lines.findLastIndex((line) => line.startsWith('---'));
  const kinds = kindsOf(lines[mark]?.slice(3).trim() || process.env.FAULT_KINDS || 'scheduled,started,completed');
  if (!kinds.has(kind)) return;
  const since = lines.slice(mark + 1);
  if (since.filter((line) => line.split(' ')[0].endsWith(`/${kind}`)).length >= kinds.get(kind)) return;
  appendFileSync(ledger, `${key} ${type} ${new Date().toISOString()}\n`);
  dying = true;
  process.kill(process.pid, 'SIGKILL');
}

const activityInterceptor = (ctx) => ({ inbound: {
  async execute(input, next) {
    const { workflowExecution, activityId, activityType } = ctx.info;
    boundary(workflowExecution.workflowId, workflowExecution.runId, activityId, activityType, 'started');
    const result = await next(input);
    boundary(workflowExecution.workflowId, workflowExecution.runId, activityId, activityType, 'completed');
    return result;
  },
} });

const bundle = process.env.FAULT_BUNDLE;
await runWorker(process.env, { options: {
  ...(bundle ? { workflowBundle: { codePath: bundle } } : {}),
  interceptors: {
    activity: [activityInterceptor],
    ...(bundle ? {} : { workflowModules: [new URL('./fault-workflow-interceptors.mjs', import.meta.url).pathname] }),
  },
  sinks: {
    faults: {
      scheduled: {
        fn: (info, activityId, type) => boundary(info.workflowId, info.runId, activityId, type, 'scheduled'),
        callDuringReplay: false,
      },
    },
  },
  // A killed worker's sticky queue holds the next workflow task this long before another worker gets it.
  stickyQueueScheduleToStartTimeout: '1s',
} });
