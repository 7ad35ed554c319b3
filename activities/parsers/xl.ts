/**
 * `xl list`, as xl prints it:
 *
 *     Name                                        ID   Mem VCPUs	State	Time(s)
 *     Domain-0                                     0  4096     4     r-----     187.3
 *     firewall                                     1   512     1     -b----      12.0
 */
import { ParseError } from './mdstat.js';

export interface XlDomain {
  name: string;
  id: number;
  memMiB: number;
  vcpus: number;
  /** The six state letters as printed, e.g. '-b----'. */
  state: string;
  running: boolean;
  blocked: boolean;
  paused: boolean;
  /** Shut down, not yet destroyed. */
  shutdown: boolean;
  dying: boolean;
  crashed: boolean;
  cpuSeconds: number;
}

const ROW = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([-r][-b][-p][-s][-d][-c])\s+([\d.]+)\s*$/;

export function parseXlList(text: string): XlDomain[] {
  const lines = text.split('\n').filter((l) => l.trim());
  if (!lines[0] || !/^Name\s+ID\s+Mem\s+VCPUs\s+State\s+Time\(s\)/.test(lines[0])) {
    throw new ParseError('xl list: no "Name ID Mem VCPUs State Time(s)" header');
  }
  return lines.slice(1).map((line) => {
    const m = ROW.exec(line.trim());
    if (!m?.[1] || !m[5]) throw new ParseError(`xl list: cannot read line "${line.trim()}"`);
    const s = m[5];
    return {
      name: m[1], id: Number(m[2]), memMiB: Number(m[3]), vcpus: Number(m[4]), state: s,
      running: s[0] === 'r', blocked: s[1] === 'b', paused: s[2] === 'p', shutdown: s[3] === 's', dying: s[4] === 'd', crashed: s[5] === 'c',
      cpuSeconds: Number(m[6]),
    };
  });
}
