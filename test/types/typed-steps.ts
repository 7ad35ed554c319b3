// Compiled by test/workflow-code.test.ts, never run: a step title that is not in the runbook's list must not compile.
import { Runbook } from '../../workflows/runbook.js';

const runbook = new Runbook('example', ['find the failed disk', 'swap the disk'] as const, 'dom0-a');
void runbook.step('swap the disk', async () => undefined);
runbook.skip('find the failed disk', 'named by the operator');
// @ts-expect-error: not a step of this runbook
void runbook.step('swap the disks', async () => undefined);
// @ts-expect-error: not a step of this runbook
runbook.skip('reboot', 'no such step');
