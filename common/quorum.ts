/**
 * votequorum's arithmetic for taking one node out (pve-docs, pvecm "Remove a Cluster Node", "Corosync External
 * Vote Support"): quorum is a strict majority of the expected votes; a QDevice adds its own votes (one for an
 * even node count, N-1 for an odd one), which count in `Total votes` but are not a node. From the moment the
 * node stops corosync until `pvecm delnode`, the expected votes stay as they are and the node's vote is gone;
 * after delnode they drop by the node's vote. Pure code: the workflow decides from facts in its history.
 */

export interface Votes {
  expected: number;
  total: number;
  quorum: number;
  quorate: boolean;
}

export interface SeparationVotes {
  before: Votes;
  /** The node stopped, not yet deleted. */
  during: Votes;
  /** After `pvecm delnode`: what the remaining cluster must show at the end. */
  after: Votes;
  /** Nodes of the nodelist, and the QDevice's votes (0 without one). */
  nodes: number;
  qdeviceVotes: number;
  /** Empty when the node may leave; otherwise why not, with the numbers. */
  refusals: string[];
}

const majority = (expected: number) => Math.floor(expected / 2) + 1;
const votes = (expected: number, total: number): Votes => ({ expected, total, quorum: majority(expected), quorate: total >= majority(expected) });

export function separationVotes(node: string, facts: { quorate: boolean; expected: number; total: number; nodeVotes: number; nodelist: string[]; qdeviceVotes: number }): SeparationVotes {
  const before = { ...votes(facts.expected, facts.total), quorate: facts.quorate };
  const during = votes(facts.expected, facts.total - facts.nodeVotes);
  const after = votes(facts.expected - facts.nodeVotes, facts.total - facts.nodeVotes);
  const refusals: string[] = [];
  const others = facts.nodelist.filter((n) => n !== node);
  if (!facts.nodelist.includes(node)) refusals.push(`${node} is not in the cluster's nodelist (${facts.nodelist.join(', ')})`);
  if (!others.length) refusals.push(`${node} is the last node of its cluster: nothing would remain to run delnode`);
  if (!before.quorate) refusals.push(`the cluster is not quorate now: ${facts.total} of ${facts.expected} expected votes, quorum ${before.quorum}`);
  const q = facts.qdeviceVotes ? ` (a QDevice gives ${facts.qdeviceVotes})` : '';
  if (!during.quorate) refusals.push(`without ${node} the cluster would have ${during.total} of ${during.expected} expected votes${q}, below its quorum of ${during.quorum}: it would lose quorum`);
  else if (!after.quorate) refusals.push(`after delnode the cluster would have ${after.total} of ${after.expected} expected votes${q}, below its quorum of ${after.quorum}`);
  return { before, during, after, nodes: facts.nodelist.length, qdeviceVotes: facts.qdeviceVotes, refusals };
}
