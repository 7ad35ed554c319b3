/**
 * Reboot (or power off) a host and wait until it answers again: the reusable child of every runbook that takes
 * a host down (a cold disk swap, the planned hypervisor reboot).
 *
 * Safer than a bare `reboot`: the command is sent only while the boot id is the one read before, so a retried
 * activity never reboots twice; past the timeout the admins are mailed and a person decides (wait again or stop).
 */
import { ActivityFailure, allHandlersFinished, condition } from '@temporalio/workflow';
import { power } from '../common/commands.js';
import { failure, failureType } from '../common/failures.js';
import { RebootHostInput, type RebootHostRequest } from '../common/inputs.js';
import { openRunbook } from './kit.js';
import type { DecisionRecord } from './messages.js';
import { hostChange, polling, readOnly } from './proxies.js';
import { Runbook, summarized, validInput } from './runbook.js';
import { hostLease } from './leases.js';
import { outcomeText, planOf, runStep, type HostStep } from './steps.js';

export interface RebootHostResult {
  host: string;
  action: RebootHostRequest['action'];
  powerCommand: string;
  bootIdBefore: string;
  bootIdAfter: string;
  decisions: DecisionRecord[];
  timeline: Runbook['timeline'];
}

const STEPS = ['note the boot id', 'send the power command', 'wait for the host to go down', 'wait for the host to answer again'] as const;

export async function rebootHost(input: RebootHostInput): Promise<RebootHostResult> {
  const request = validInput(RebootHostInput, input);
  const { host } = request;
  const { runbook, people, leases, showPlan } = openRunbook('rebootHost', STEPS, { host, decisions: true });
  try {
    await summarized(readOnly.lookUpHost, `look up ${host} in the inventory`)(host);
    await leases.take([hostLease(host)], request.leases);
    const bootIdBefore = await runbook.step('note the boot id', () => summarized(readOnly.readBootId, `read ${host}'s boot id`)(host));
    // The parent's plan shows the same command: power.command().
    const step: HostStep<string> = {
      host, stage: 'openssh', command: power.command(request.action),
      why: `only while the boot id is still ${bootIdBefore} (never twice)`,
      run: (command) => summarized(hostChange.sendPowerCommand, `${request.action} ${host}: ${request.reason.replace(/\s+/g, ' ')}`)(host, command, bootIdBefore),
    };
    showPlan({ summary: `${request.action} ${host}: ${request.reason}`, steps: planOf([step]) });
    const sent = await runbook.step('send the power command', () => runStep(people, step, () => 'nothing changed yet'));
    const powerCommand = outcomeText(sent);
    await runbook.step('wait for the host to go down', () =>
      summarized(polling(request.pollInterval, request.downTimeout, { steady: true }).expectDown, `wait until ${host} stops answering (every ${request.pollInterval}, up to ${request.downTimeout})`)(host, bootIdBefore),
    );
    const stage = request.comesBackIn;
    const expectBack = polling(request.pollInterval, request.upTimeout).expectBack;
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
          if (!(error instanceof ActivityFailure) || failureType(error) === 'HostKeyMismatch' || failureType(error) === 'UnknownHost') throw error;
        }
        // Past the timeout a person must look at the machine.
        const decision = await people.escalate({
          subject: `${host} has not come back after ${request.action}`,
          text: `${host} does not answer${stage === 'dropbear' ? ' in dropbear' : ''} ${request.upTimeout} after ${request.action} (${request.reason}).\n\nLook at its console, then retry (wait again) or abort (stop here).`,
          what: `${host} has not come back ${request.upTimeout} after ${request.action}: wait again (retry) or stop (abort)`,
          who: 'an admin at the console',
          choices: ['retry', 'abort'],
        }, `${host} coming back after ${request.action}`, `no answer${stage === 'dropbear' ? ' in dropbear' : ''} within ${request.upTimeout}`);
        if (decision.decision === 'abort') {
          throw failure('HostNotBack',
            `${host} did not come back after ${request.action}; ${decision.by} aborted the wait${decision.comment ? `: ${decision.comment}` : ''}. The host was last seen with boot id ${bootIdBefore}; nothing else was done.`);
        }
      }
    });
    await condition(allHandlersFinished);
    return { host, action: request.action, powerCommand, bootIdBefore, bootIdAfter, decisions: runbook.decisions, timeline: runbook.timeline };
  } finally {
    // However the run ends (done, failed, aborted, cancelled): the next runbook on these hosts may go on at once.
    await leases.giveBack();
  }
}
