/**
 * `pvecm status` / `pvecm nodes`: Proxmox's wrappers around corosync-quorumtool (the quorum, the members, the
 * quorum device).
 */
import { ParseError } from './mdstat.js';

export interface PvecmMember {
  nodeId: number;
  votes: number;
  /** The ring address (`pvecm status`) or the node name (`pvecm nodes`); `Qdevice` for the quorum device's row. */
  name: string;
  local: boolean;
  /** The quorum device's row (node id 0, after the nodes): not a node. */
  qdevice?: true;
  /** A node's Qdevice column, when there is a quorum device: ['A', 'V', 'NMW'], ['NA', 'NV', 'NMW'], ['NR'] (not registered). */
  qdeviceFlags?: string[];
}

export interface PvecmQdevice {
  name: string;
  /** The votes it gives (printed as `(votes N)` when it casts none for this node). */
  votes: number;
  /** Whether it casts its vote for this node's partition. */
  castingVote: boolean;
}

export interface PvecmStatus {
  /** From "Quorate: Yes|No": `pvecm status` may exit 1 while quorate (ResEl page), so this is what counts. */
  quorate: boolean;
  /** Members seen right now ("Nodes:"): nodes only, never the quorum device. */
  nodes?: number;
  nodeId?: number;
  expectedVotes: number;
  highestExpected?: number;
  totalVotes: number;
  /** Votes needed for quorum. */
  quorum: number;
  /** e.g. ['Quorate'], ['Quorate', 'Qdevice'], [] when not quorate. */
  flags: string[];
  /** The membership table, nodes then the quorum device's row (marked `qdevice`). */
  members: PvecmMember[];
  /** The quorum device, when the cluster has one. */
  qdevice?: PvecmQdevice;
}

const MEMBER_HEADER = /^\s*Nodeid\s+Votes\s+(Qdevice\s+)?Name\s*$/;
/** VOTEQUORUM_QDEVICE_NODEID: corosync gives no node the id 0. */
const QDEVICE_NODEID = 0;

/**
 * The "Membership information" table of corosync-quorumtool (tools/corosync-quorumtool.c): node id (decimal,
 * or hex with -H), votes, the Qdevice column only when a quorum device is registered, the name, an optional
 * ` [extra info]` and ` (local)`. The quorum device's own row comes last: id 0, no flags, `(votes N)` when it
 * casts no vote for this node.
 */
function membership(lines: string[], what: string): { members: PvecmMember[]; qdevice?: PvecmQdevice } {
  const start = lines.findIndex((l) => MEMBER_HEADER.test(l));
  if (start < 0) return { members: [] };
  const withQdevice = !!MEMBER_HEADER.exec(lines[start]!)?.[1];
  // The Qdevice column exists only when the header says so: otherwise an upper-case name is a name.
  const row = new RegExp(String.raw`^\s*(0x[0-9a-fA-F]+|\d+)\s+(\d+)\s+${withQdevice ? String.raw`(?:(N?A,N?V,N?MW|NR)\s+)?` : '()'}(\S+)(?:\s+\[[^\]]*\])?(\s+\(local\))?(?:\s+\(votes (\d+)\))?\s*$`);
  const out: PvecmMember[] = [];
  let qdevice: PvecmQdevice | undefined;
  for (const line of lines.slice(start + 1)) {
    if (!line.trim()) break;
    const m = row.exec(line);
    const id = m?.[1];
    if (!m || !id || !m[4]) throw new ParseError(`${what}: cannot read membership line "${line.trim()}"`);
    const nodeId = id.startsWith('0x') ? parseInt(id, 16) : Number(id);
    const member: PvecmMember = { nodeId, votes: Number(m[2]), name: m[4], local: !!m[5] };
    if (nodeId === QDEVICE_NODEID) {
      member.qdevice = true;
      if (m[6] !== undefined) member.votes = Number(m[6]);
      qdevice = { name: member.name, votes: member.votes, castingVote: m[6] === undefined };
    } else {
      if (m[6] !== undefined) throw new ParseError(`${what}: "(votes N)" on a node's row: "${line.trim()}"`);
      if (m[3]) member.qdeviceFlags = m[3].split(',');
    }
    out.push(member);
  }
  return qdevice ? { members: out, qdevice } : { members: out };
}

export function parsePvecmStatus(text: string): PvecmStatus {
  const lines = text.split('\n');
  const fields: Record<string, string> = {};
  for (const line of lines) {
    const kv = /^([A-Za-z][A-Za-z ]*?):\s*(.*?)\s*$/.exec(line);
    if (kv?.[1]) fields[kv[1]] ??= kv[2] ?? '';
  }
  let quorate = fields['Quorate'];
  // An abridged output (pve-docs' QDevice example) may start at "Votequorum information": its Flags say Quorate
  // exactly when the node is (the same votequorum state); a full output always has the Quorate line.
  if (quorate === undefined && fields['Flags'] !== undefined && fields['Expected votes'] !== undefined) {
    quorate = fields['Flags'].split(/\s+/).includes('Quorate') ? 'Yes' : 'No';
  }
  if (quorate !== 'Yes' && quorate !== 'No') {
    throw new ParseError(`pvecm status: no "Quorate: Yes|No" line${text.trim() ? '' : ' (empty output: is this node in a cluster?)'}`);
  }
  const int = (key: string, required: boolean): number | undefined => {
    const raw = fields[key];
    if (raw === undefined) {
      if (required) throw new ParseError(`pvecm status: missing "${key}"`);
      return undefined;
    }
    const m = /^(0x[0-9a-fA-F]+|\d+)\b/.exec(raw);
    if (!m?.[1]) throw new ParseError(`pvecm status: "${key}" is not a number: ${raw}`);
    return m[1].startsWith('0x') ? parseInt(m[1], 16) : Number(m[1]);
  };
  const { members, qdevice } = membership(lines, 'pvecm status');
  const status: PvecmStatus = {
    quorate: quorate === 'Yes',
    expectedVotes: int('Expected votes', true)!,
    totalVotes: int('Total votes', true)!,
    quorum: int('Quorum', true)!,
    flags: (fields['Flags'] ?? '').split(/\s+/).filter(Boolean),
    members,
  };
  if (qdevice) status.qdevice = qdevice;
  const nodes = int('Nodes', false);
  if (nodes !== undefined) status.nodes = nodes;
  const nodeId = int('Node ID', false);
  if (nodeId !== undefined) status.nodeId = nodeId;
  const highest = int('Highest expected', false);
  if (highest !== undefined) status.highestExpected = highest;
  return status;
}

/** `pvecm nodes`: the members, by name, the local one marked. */
export function parsePvecmNodes(text: string): PvecmMember[] {
  const lines = text.split('\n');
  if (!lines.some((l) => MEMBER_HEADER.test(l))) throw new ParseError('pvecm nodes: no "Nodeid Votes Name" header');
  return membership(lines, 'pvecm nodes').members;
}

/** The node names of corosync.conf's `nodelist { node { name: … } }`, in the file's order. */
export function parseCorosyncNodelist(text: string): string[] {
  const start = text.search(/^nodelist\s*\{/m);
  if (start < 0) throw new ParseError('corosync.conf: no nodelist section');
  const names: string[] = [];
  let depth = 0;
  for (const line of text.slice(start).split('\n')) {
    const name = /^\s*name:\s*(\S+)\s*$/.exec(line);
    if (name?.[1] && depth === 2) names.push(name[1]);
    depth += (line.match(/\{/g)?.length ?? 0) - (line.match(/\}/g)?.length ?? 0);
    if (depth === 0 && line.includes('}')) break;
  }
  return names;
}
