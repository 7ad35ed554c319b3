/**
 * The host kinds the lab knows, and their presets. Each kind module (lab/hosts/*.ts) registers itself with
 * hostKind() and registerPresets(); lab/hosts/index.ts loads every such module, so no list of kinds is kept by hand.
 */
import type { Capability, ControlOperation } from './capability.js';
import { composeKind, type HostSimulator } from './dispatch.js';
import type { BaseHostState, HostKind } from './types.js';

const kinds = new Map<HostKind, HostSimulator<any>>();

/** Compose a kind from its capabilities (the base dispatcher answers the rest) and register it. */
export function hostKind<S extends BaseHostState>(kind: HostKind, capabilities: readonly Capability<S>[]): HostSimulator<S> {
  if (kinds.has(kind)) throw new Error(`lab host kind ${kind} is registered twice`);
  const simulator = composeKind(kind, capabilities);
  kinds.set(kind, simulator);
  return simulator;
}

export function simulatorFor(state: { kind: HostKind }): HostSimulator<BaseHostState> {
  const sim = kinds.get(state.kind);
  if (!sim) throw new Error(`the lab has no simulator for host kind ${state.kind}`);
  return sim;
}

export function registeredKinds(): HostKind[] {
  return [...kinds.keys()];
}

/** The control operations of every registered kind's capabilities, each once. */
export function capabilityOperations(): ControlOperation[] {
  const seen = new Map<string, ControlOperation>();
  for (const sim of kinds.values()) {
    for (const op of sim.capabilities.flatMap((c) => c.controls ?? [])) {
      if (seen.has(op.name) && seen.get(op.name) !== op) throw new Error(`two capabilities define the control operation ${op.name}`);
      seen.set(op.name, op);
    }
  }
  return [...seen.values()];
}

/**
 * The presets, by name. A kind module adds its own, types included:
 *   declare module '../core/registry.js' { interface Presets { myKind: typeof myKindPreset } }
 *   registerPresets({ myKind: myKindPreset });
 */
export interface Presets {}

export const presets = {} as Presets;

export function registerPresets(more: Partial<Presets>): void {
  for (const name of Object.keys(more)) if (name in presets) throw new Error(`lab preset ${name} is registered twice`);
  Object.assign(presets, more);
}
