/**
 * The benchmark's worker registers our runbooks and these: the engine's steps alone, in a loop, with the runbooks'
 * own activities and activity options (workflows/proxies.ts), so that a step costs what it costs in a runbook.
 */
import { condition, defineSignal, setHandler } from '@temporalio/workflow';
import { xen } from '../common/commands.js';
import { hostChange, readOnly } from '../workflows/proxies.js';

export * from '../workflows/index.js';

/** `steps` read steps on `host`: one SSH command each (the boot id). */
export async function benchReads(host: string, steps: number): Promise<void> {
  for (let i = 0; i < steps; i++) await readOnly.readBootId(host);
}

/**
 * `steps` host-changing steps on `host`: a guest destroyed, then created again, and so on (an even count leaves it
 * running). Each step is guarded as every host change is: `xl list`, then the change, two SSH commands.
 */
export async function benchChanges(host: string, guest: string, config: string, steps: number): Promise<void> {
  for (let i = 0; i < steps; i++) {
    if (i % 2 === 0) await hostChange.destroyDomain(host, guest, xen.destroy(guest));
    else await hostChange.startDomain(host, guest, xen.create(config));
  }
}

export const releaseSignal = defineSignal('release');

/** A runbook parked at a person's answer: one read step, then it waits until released. */
export async function benchParked(host: string): Promise<void> {
  let released = false;
  setHandler(releaseSignal, () => { released = true; });
  await readOnly.readBootId(host);
  await condition(() => released);
}

/**
 * `steps` steps that run no command: the host looked up in the inventory, the same local activity round trip as a
 * read step without its SSH command. With `steps` 0, a runbook started and ended: what a read step's figure shares.
 */
export async function benchLookups(host: string, steps: number): Promise<void> {
  for (let i = 0; i < steps; i++) await readOnly.lookUpHost(host);
}
