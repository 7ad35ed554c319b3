// What the end-to-end tests share: a client with our codec, a lab, a worker process, and patient polling.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { clientDataConverter } from '../../common/temporal.js';
import { progressQuery, type Progress } from '../../workflows/messages.js';
import type { AuditEntry } from '../../lab/lab.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `runbook-${prefix}-`));
}

export async function codecClient(address: string, codecKeyFile: string): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, dataConverter: clientDataConverter({ RUNBOOK_CODEC_KEY_FILE: codecKeyFile }) });
}

/** A client without our codec: what the Temporal server itself stores. */
export async function rawClient(address: string): Promise<Client> {
  return new Client({ connection: await Connection.connect({ address }) });
}

export async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Resolves once the runbook's `progress` says it waits for the given Update. */
export function waitingFor(handle: WorkflowHandle, update: string): Promise<Progress> {
  return eventually(`${handle.workflowId} to wait for ${update}`, async () => {
    const progress = await handle.query(progressQuery).catch(() => undefined);
    return progress?.waitingFor?.answerWith === update ? progress : undefined;
  });
}

/** The commands that change a host, as the audit log recorded them. */
export const HOST_CHANGES = [/^mdadm --manage \S+ --fail /, /^mdadm --manage \S+ --remove /, /^sfdisk \/dev\/\S+$/, /^mdadm --manage \S+ --add /, /^grub-install /];

export function hostChanges(audit: AuditEntry[]): string[] {
  return audit.filter((e) => e.exitCode === 0 && HOST_CHANGES.some((re) => re.test(e.command))).map((e) => e.command);
}
