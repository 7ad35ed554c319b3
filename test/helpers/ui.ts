/**
 * The Temporal Web UI as an admin uses it, driven in Debian's Chromium (playwright-core; scripts/setup.sh installs
 * the `chromium` package): the Start Workflow form, a run's tabs (Timeline, Queries, User Metadata) and its
 * "Send an Update" dialog. Selectors are the UI's own data-testid attributes where it has them (UI 2.54).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export class TemporalUi {
  private constructor(private readonly browser: Browser, readonly page: Page, private readonly base: string) {}

  static async open(uiPort: string): Promise<TemporalUi> {
    // --no-sandbox: the suite may run as root, where Chromium's sandbox refuses to start.
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
    page.setDefaultTimeout(30_000);
    // No animation: the UI's spinners and pulses for a running workflow kept a headless renderer busy (a core, while
    // the suite ran beside it); what the tests read is text, which they do not change.
    await page.addInitScript(() => {
      document.addEventListener('DOMContentLoaded', () => {
        const style = document.createElement('style');
        style.textContent = '*, *::before, *::after { animation: none !important; transition: none !important; }';
        document.head.appendChild(style);
      });
    });
    return new TemporalUi(browser, page, `http://127.0.0.1:${uiPort}/namespaces/default`);
  }

  async close(): Promise<void> {
    await this.browser.close();
  }

  /** A screenshot kept as a test artifact (test-artifacts/ui/, ignored by git). */
  async screenshot(name: string): Promise<string> {
    const dir = join(import.meta.dirname, '..', '..', 'test-artifacts', 'ui');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${name.replace(/[^\w.-]+/g, '-').slice(0, 120)}.png`);
    await this.page.screenshot({ path, fullPage: true });
    return path;
  }

  /** The Start Workflow form, filled as an admin types it. */
  async startWorkflow(id: string, taskQueue: string, type: string, input: unknown): Promise<void> {
    const { page } = this;
    await page.goto(`${this.base}/workflows/start-workflow`);
    await page.locator('#workflowId').fill(id);
    await page.locator('#taskQueue').fill(taskQueue);
    await page.locator('#workflowType').fill(type);
    await page.locator('.cm-content').first().click();
    await page.keyboard.insertText(JSON.stringify(input));
    // The editor takes the input when it loses the focus; a click on the button while it has it only blurs it.
    await page.locator('#workflowId').click();
    const started = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes(`/workflows/${encodeURIComponent(id)}`), { timeout: 30_000 });
    await page.getByTestId('start-workflow-button').click();
    const response = await started;
    if (!response.ok()) throw new Error(`the UI could not start ${type} as ${id}: HTTP ${response.status()} ${await response.text()}`);
  }

  async openRun(id: string): Promise<void> {
    await this.page.goto(`${this.base}/workflows/${encodeURIComponent(id)}`);
    await this.page.getByTestId('history-tab').waitFor();
  }

  async reload(): Promise<void> {
    await this.page.reload();
    await this.page.getByTestId('history-tab').waitFor();
  }

  /** The run's status badge as the page header shows it (RUNNING, COMPLETED, FAILED, …). */
  async status(): Promise<string> {
    await this.reload();
    return (await this.page.locator('main').innerText()).match(/\b(RUNNING|COMPLETED|FAILED|TERMINATED|CANCELED|TIMED OUT)\b/)?.[1] ?? 'unknown';
  }

  /** The Timeline tab's text: every activity, timer and Update as the UI names it. */
  async timeline(): Promise<string> {
    await this.page.getByTestId('timeline-tab').click();
    await this.page.getByText('Timeline', { exact: true }).first().waitFor();
    await this.page.waitForTimeout(1_000);
    // The rows are SVG text: textContent has them, innerText does not.
    return (await this.page.locator('main').textContent()) ?? '';
  }

  /** The Event History tab's text (compact view). */
  async history(): Promise<string> {
    await this.page.getByTestId('history-tab').click();
    await this.page.waitForTimeout(500);
    return this.page.locator('main').innerText();
  }

  /** Run a query from the Queries tab; its result as the UI prints it. */
  async query(name: string): Promise<string> {
    const { page } = this;
    await page.getByTestId('queries-tab').click();
    await page.getByTestId('query-select-button').click();
    await page.getByRole('option', { name, exact: true }).first().click();
    await page.getByRole('button', { name: /Run Query|Refresh Query/ }).click();
    const result = page.getByTestId('query-result').locator('.cm-content');
    await result.waitFor();
    await page.waitForFunction(() => (document.querySelector('[data-testid=query-result] .cm-content')?.textContent ?? '').includes('{'));
    return result.innerText();
  }

  /** The User Metadata tab's current details (the runbook's markdown, rendered in a frame). */
  async currentDetails(): Promise<string> {
    await this.reload(); // the UI reads them once per page load
    await this.page.getByTestId('user-metadata-tab').click();
    await this.page.getByText('Current Details').first().waitFor();
    for (const frame of this.page.frames()) {
      const text = await frame.locator('body').innerText().catch(() => '');
      if (text.includes('step ')) return text;
    }
    return this.page.locator('main').innerText();
  }

  /**
   * "More Actions" → "Send an Update": pick the Update, type its JSON argument, submit. Returns what the dialog
   * shows afterwards (a refusal's reason; empty when it closed) and the notifications on the page.
   */
  async sendUpdate(name: string, argument: unknown): Promise<{ dialog: string; toasts: string[] }> {
    const { page } = this;
    await page.locator('button:visible', { hasText: 'More Actions' }).first().click();
    await page.locator('[data-testid=update-button]:visible').first().click();
    const dialog = page.locator('dialog[open]').filter({ hasText: 'Send an Update' }).first();
    await dialog.getByTestId('update-select-button').click();
    await page.getByRole('option', { name, exact: true }).first().click();
    await dialog.locator('.cm-content').first().click();
    // The dialog keeps the last argument sent (a typed passphrase too, until a reload): replace it.
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    await page.keyboard.insertText(JSON.stringify(argument));
    await dialog.getByTestId('update-id').click(); // the editor takes the argument when it loses the focus
    await dialog.getByTestId('confirm-modal-button').click();
    // The dialog closes on success, or stays open with the failure under the editor.
    const settled = await Promise.race([
      dialog.waitFor({ state: 'hidden', timeout: 60_000 }).then(() => 'closed' as const),
      dialog.locator('.text-danger, [role=alert]').filter({ hasText: /\S/ }).first().waitFor({ timeout: 60_000 }).then(() => 'failed' as const),
    ]);
    const text = settled === 'closed' ? '' : await dialog.innerText();
    const toasts = await page.locator('[role=alert]:visible, [role=status]:visible').evaluateAll((els) => els.map((e) => (e.textContent ?? '').trim()).filter(Boolean));
    if (settled === 'failed') await dialog.getByTestId('cancel-modal-button').click();
    return { dialog: text, toasts };
  }

  /** Everything the page holds, text and form values, for "no passphrase in the DOM" checks. */
  async domText(): Promise<string> {
    return this.page.evaluate(() => {
      const values = [...document.querySelectorAll('input, textarea')].map((e) => (e as HTMLInputElement).value);
      return `${document.documentElement.outerHTML}\n${values.join('\n')}`;
    });
  }
}

