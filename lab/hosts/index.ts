/** The host kinds the lab can simulate. Add ganeti modules here. */
import type { BaseHostState, HostSimulator } from './types.js';
import { proxmoxNode } from './proxmox-node.js';
import { xenDom0 } from './xen-dom0.js';

export const simulators: Record<string, HostSimulator<any>> = {
  [xenDom0.kind]: xenDom0,
  [proxmoxNode.kind]: proxmoxNode,
};

export function simulatorFor(state: BaseHostState): HostSimulator<BaseHostState> {
  const sim = simulators[state.kind];
  if (!sim) throw new Error(`the lab has no simulator for host kind ${state.kind}`);
  return sim;
}
