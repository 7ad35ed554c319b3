// Compiled by test/workflow-code.test.ts, never run: a step title that is not in the runbook's list must not compile.
import { openRunbook } from '../../workflows/kit.js';
import { Runbook } from '../../workflows/runbook.js';

const runbook = new Runbook('example', ['find the failed disk', 'swap the disk'] as const, 'dom0-a');
void runbook.step('swap the disk', async () => undefined);
runbook.skip('find the failed disk', 'named by the operator');
// @ts-expect-error: not a step of this runbook
void runbook.step('swap the disks', async () => undefined);
// @ts-expect-error: not a step of this runbook
runbook.skip('reboot', 'no such step');

// Opened by openRunbook (workflows/kit.ts): typed by the same list; `approvals` only when the runbook has some.
const opened = openRunbook('example', ['swap the disk'] as const, { host: 'dom0-a', decisions: true });
// @ts-expect-error: not a step of this runbook
void opened.runbook.step('swap the disks', async () => undefined);
// @ts-expect-error: opened without approvals
void opened.approvals;
void openRunbook('example', ['plan and approval'] as const, { approvals: true }).approvals.obtain;
