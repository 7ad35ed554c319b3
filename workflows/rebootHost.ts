/**
 * Reboot (or power off) a host and wait until it answers again: the reusable child of every runbook that takes
 * a host down (a cold disk swap today, the planned hypervisor reboot next).
 */
import { ActivityFailure, allHandlersFinished, ApplicationFailure, condition, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { RebootHostInput, type RebootHostRequest } from '../common/inputs.js';
import { People } from './people.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { failure } from '../common/failures.js';

export interface RebootHostResult {
  host: string;
  action: RebootHostRequest['action'];
  powerCommand: string;
  bootIdBefore: string;
  bootIdAfter: string;
  timeline: Runbook['timeline'];
}

const STEPS = ['note the boot id', 'send the power command', 'wait for the host to go down', 'wait for the host to answer again'] as const;

export async function rebootHost(input: RebootHostInput): Promise<RebootHostResult> {
  const request = validInput(RebootHostInput, input);
  const { host } = request;
  const runbook = new Runbook('rebootHost', STEPS, host);
  const people = new People(runbook);

  const { lookUpHost, readBootId, sendPowerCommand, mailAdmins } = proxyActivities<Activities>({
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 5 },
  });
  // Polling: one probe per attempt, the retry policy's backoff between them.
  const { expectDown } = proxyActivities<Activities>({
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: request.downTimeout,
    retry: { initialInterval: request.pollInterval, backoffCoefficient: 1, nonRetryableErrorTypes: ['HostKeyMismatch', 'UnknownHost'] },
  });
  const { expectBack } = proxyActivities<Activities>({
    startToCloseTimeout: '30s',
    heartbeatTimeout: '30s',
    scheduleToCloseTimeout: request.upTimeout,
    retry: { initialInterval: request.pollInterval, backoffCoefficient: 1.2, maximumInterval: '1 minute', nonRetryableErrorTypes: ['HostKeyMismatch', 'UnknownHost'] },
  });

  await summarized(lookUpHost, `look up ${host} in the inventory`)(host);
  const bootIdBefore = await runbook.step('note the boot id', () => summarized(readBootId, `read ${host}'s boot id`)(host));
  const powerCommand = await runbook.step('send the power command', () =>
    summarized(sendPowerCommand, `${request.action} ${host}: ${request.reason.replace(/\s+/g, ' ')}`)(host, request.action, bootIdBefore),
  );
  await runbook.step('wait for the host to go down', () =>
    summarized(expectDown, `wait until ${host} stops answering (every ${request.pollInterval}, up to ${request.downTimeout})`)(host, bootIdBefore),
  );
  const stage = request.comesBackIn;
  const bootIdAfter = await runbook.step('wait for the host to answer again', async () => {
    runbook.detail({ waitingFor: request.action === 'poweroff' ? 'a person to power the host on' : 'the host to boot', stage });
    const who = request.action === 'poweroff' ? 'a person powers it on' : 'it boots';
    for (;;) {
      try {
        return await summarized(expectBack, `wait until ${host} answers ${stage === 'dropbear' ? 'in dropbear (its initramfs key)' : 'SSH'} with a new boot id (${who}; up to ${request.upTimeout})`)(
          host,
          stage,
          bootIdBefore,
        );
      } catch (error) {
        if (!(error instanceof ActivityFailure) || (error.cause instanceof ApplicationFailure && ['HostKeyMismatch', 'UnknownHost'].includes(error.cause.type ?? ''))) throw error;
      }
      // Past the timeout a person must look at the machine: mail the admins, keep waiting for their decision.
      const id = workflowInfo().workflowId;
      await summarized(mailAdmins, `mail the admins: ${host} has not come back`)({
        subject: `${host} has not come back after ${request.action}`,
        text: `${host} does not answer${stage === 'dropbear' ? ' in dropbear' : ''} ${request.upTimeout} after ${request.action} (${request.reason}).\n\nLook at its console, then tell the runbook:\n  npx runbook decide ${id} --operator NAME --decision retry   (wait again)\n  npx runbook decide ${id} --operator NAME --decision abort   (stop here)`,
        runbook: 'rebootHost', workflowId: id,
      });
      const decision = await people.decide(`${host} has not come back ${request.upTimeout} after ${request.action}: wait again (retry) or stop (abort)`, 'an admin at the console', ['retry', 'abort']);
      if (decision.decision === 'abort') {
        throw failure('HostNotBack', `${host} did not come back after ${request.action}; ${decision.operator} aborted the wait${decision.comment ? `: ${decision.comment}` : ''}. The host was last seen with boot id ${bootIdBefore}; nothing else was done.`);
      }
    }
  });
  await condition(allHandlersFinished);
  return { host, action: request.action, powerCommand, bootIdBefore, bootIdAfter, timeline: runbook.timeline };
}
