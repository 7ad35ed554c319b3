/**
 * `qm listsnapshot VMID` (PVE 8): the snapshot tree, one "`-> NAME  DATE  DESCRIPTION" line each, indented by depth,
 * ending with "`-> current  You are here!".
 */
import { ParseError } from './mdstat.js';

export function parseSnapshotNames(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split('\n').filter((l) => l.trim())) {
    const m = /^\s*`-> (\S+)/.exec(line);
    if (!m) throw new ParseError(`qm listsnapshot: unexpected line "${line}"`);
    if (m[1] !== 'current') names.push(m[1]!);
  }
  return names;
}
