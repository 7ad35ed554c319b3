/** The host kinds the lab can simulate. Add proxmox / ganeti modules here. */
import type { BaseHostState, HostSimulator } from './types.js';
import { xenDom0 } from './xen-dom0.js';

export const simulators: Record<string, HostSimulator<any>> = {
  [xenDom0.kind]: xenDom0,
};

export function simulatorFor(state: BaseHostState): HostSimulator<BaseHostState> {
  const sim = simulators[state.kind];
  if (!sim) throw new Error(`the lab has no simulator for host kind ${state.kind}`);
  return sim;
}
