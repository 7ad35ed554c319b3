/**
 * The Temporal Web UI as the admins' console, in a real browser (Debian's Chromium through playwright-core) against
 * a stack started like `npm start` (dev server + UI with our codec endpoint, codec server, lab, worker): both
 * runbooks started from the Start Workflow form, read through the Queries tab, the timeline and the current
 * details, and answered through the "Send an Update" dialog, refusals and a wrong passphrase readable there.
 * Screenshots of a failing test land in test-artifacts/ui/.
 */
import { chmodSync, existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { eventually, tempDir } from './helpers/runbooks.js';
import { cli, killStack, stackEnv, startStack, waitForOutput, type Stack } from './helpers/stack.js';
import { CHROMIUM, TemporalUi } from './helpers/ui.js';

const ROOT_PASSPHRASE = 'lab pve1 root passphrase';
const LUN_PASSPHRASES = { shared: 'lab fma shared LUN passphrase', local: 'lab pve1 local passphrase' };
const WRONG = 'not the pve1 passphrase';
/**
 * Between two looks through the UI (each reloads the page or runs a query there): the Web UI is the heaviest thing
 * this suite runs (its renderer took a core while the test polled every 250 ms), and a second costs a run nothing.
 */
const UI_PAUSE = 1_000;

let stack: Stack | undefined;
let env: NodeJS.ProcessEnv;
let ui: TemporalUi;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: scripts/setup.sh installs Debian's chromium package`);
  const dir = tempDir('ui');
  chmodSync(dir, 0o755); // the lab's sshd reads authorized_keys below it as the lab user
  env = await stackEnv(dir, 218);
  stack = startStack(env);
  await waitForOutput(stack, /worker running/, 150_000);
  ui = await TemporalUi.open(env.RUNBOOK_UI_PORT!);
}, 180_000);

afterAll(async () => {
  await ui?.close();
  await killStack(stack, []);
});

/** On failure, the page as it was. */
function keepScreenshot(name: string): void {
  onTestFailed(async () => {
    const path = await ui.screenshot(name).catch(() => undefined);
    if (path) console.error(`screenshot: ${path}`);
  });
}

describe('the Temporal Web UI as the admins\' console', () => {
  it('starts a disk replacement from the form, shows its wait and plan, refuses a wrong answer in plain words and takes the right one', async () => {
    keepScreenshot('disk-replacement');
    const id = `ui-disk-${Date.now()}`;
    await ui.startWorkflow(id, 'runbooks', 'diskReplacement', { host: 'dom0-a', resyncPollInterval: '1s' });
    await ui.openRun(id);

    const progress = await eventually('the run to wait for the disk swap', async () => {
      const text = await ui.query('progress');
      return text.includes('"answerWith": "diskReplaced"') ? text : undefined;
    }, 60_000, UI_PAUSE);
    expect(progress).toContain('"example": "diskReplaced {\\"by\\": \\"NAME\\"}"');
    expect(await ui.query('plan')).toContain('mdadm --manage /dev/md1 --remove');

    // Every wait visible: on the timeline with the Update to send, and in the current details.
    expect(await ui.timeline()).toMatch(/waiting for an operator at the machine: replace the disk with serial \S+/);
    expect(await ui.currentDetails()).toContain('Answer with the Update diskReplaced {"by": "NAME"}');

    // A wrong argument: the refusal's reason in words, not "Encoded failure", and no worker path.
    const refused = await ui.sendUpdate('diskReplaced', { operator: 'alice' }); // a field diskReplaced does not take
    expect(refused.dialog).toMatch(/refused/);
    expect(refused.dialog).toMatch(/\bby\b/);
    expect(refused.dialog + refused.toasts.join('\n')).not.toMatch(/Encoded failure|\/dist\/|\.js:\d+/);

    expect((await cli('runbook-lab', env, 'swap-disk', 'dom0-a', '0')).code).toBe(0);
    const answered = await ui.sendUpdate('diskReplaced', { by: 'camille', comment: 'slot 0' });
    expect(answered.dialog).toBe('');
    await eventually('the run to complete', async () => ((await ui.status()) === 'COMPLETED' ? true : undefined), 120_000, UI_PAUSE);
  }, 300_000);

  it('reboots pve1 from the form: approval, a wrong passphrase shown with the tries left, the right ones, and no passphrase left in the page', async () => {
    keepScreenshot('hypervisor-reboot');
    const id = `ui-reboot-${Date.now()}`;
    await ui.startWorkflow(id, 'runbooks', 'hypervisorReboot', { host: 'pve1', reason: 'kernel update', pollInterval: '1s' });
    await ui.openRun(id);

    await eventually('the approval wait', async () => ((await ui.query('progress')).includes('"answerWith": "approve"') ? true : undefined), 90_000, UI_PAUSE);
    expect(await ui.query('plan')).toContain('qm migrate');
    expect((await ui.sendUpdate('approve', { by: 'alice (board)', comment: 'maintenance window' })).dialog).toBe('');

    const asked = async () => eventually('a passphrase request or the end', async () => {
      const details = await ui.currentDetails();
      if (details.includes('submitPassphrase')) return details;
      const status = await ui.status();
      if (status !== 'RUNNING') return status === 'COMPLETED' ? 'done' : `the run ended ${status}`;
      return undefined;
    }, 180_000, UI_PAUSE);

    // The root passphrase wait shows on the timeline; a wrong one is a failed Update with the tries left.
    expect(await asked()).toMatch(/system disk|root/);
    expect(await ui.timeline()).toMatch(/waiting for .*submitPassphrase/s);
    const wrong = await ui.sendUpdate('submitPassphrase', { by: 'camille', passphrase: WRONG });
    expect(wrong.dialog).toContain('wrong passphrase: 2 tries left');
    expect((await ui.sendUpdate('submitPassphrase', { by: 'camille', passphrase: ROOT_PASSPHRASE })).dialog).toBe('');

    for (let request = await asked(); request !== 'done'; request = await asked()) {
      expect(request).toContain('network LUN');
      const passphrase = request.includes('vg_fma_luks') ? LUN_PASSPHRASES.shared : LUN_PASSPHRASES.local;
      expect((await ui.sendUpdate('submitPassphrase', { by: 'camille', passphrase })).dialog).toBe('');
    }
    expect(await ui.status()).toBe('COMPLETED');

    // After a reload, nothing the admin typed is in the page: the history holds sealed values only.
    await ui.reload();
    await ui.history();
    const dom = await ui.domText();
    for (const secret of [WRONG, ROOT_PASSPHRASE, LUN_PASSPHRASES.shared, LUN_PASSPHRASES.local]) expect(dom).not.toContain(secret);
  }, 420_000);
});
