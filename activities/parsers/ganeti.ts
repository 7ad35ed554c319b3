/**
 * `gnt-node list` and `gnt-instance list` in the script format (--no-headers --separator='|' -o FIELDS): one line
 * per node or instance, sizes in MiB, list fields joined by commas (Ganeti's man pages gnt-node(8), gnt-instance(8)).
 */
import { ParseError } from './mdstat.js';

export interface GntNodeRow {
  name: string;
  mfreeMiB: number;
  dfreeMiB: number;
  pinst: number;
  sinst: number;
}

export interface GntInstanceRow {
  name: string;
  pnode: string;
  snodes: string[];
  status: string;
  networkPort: number | null;
  ips: string[];
  bootOrder: string;
}

function rows(text: string, fields: number, what: string): string[][] {
  return text.split('\n').filter((l) => l.trim()).map((line) => {
    const cols = line.split('|');
    if (cols.length !== fields) throw new ParseError(`${what}: expected ${fields} fields, got "${line.slice(0, 200)}"`);
    return cols;
  });
}

const int = (text: string, what: string): number => {
  if (!/^\d+$/.test(text)) throw new ParseError(`${what}: "${text.slice(0, 40)}" is not a number`);
  return Number(text);
};
const list = (text: string) => text.split(',').filter((v) => v && v !== '-');

/** `-o name,mfree,dfree,pinst_cnt,sinst_cnt` */
export function parseGntNodes(text: string): GntNodeRow[] {
  return rows(text, 5, 'gnt-node list').map(([name, mfree, dfree, pinst, sinst]) => ({
    name: name!, mfreeMiB: int(mfree!, 'mfree'), dfreeMiB: int(dfree!, 'dfree'), pinst: int(pinst!, 'pinst_cnt'), sinst: int(sinst!, 'sinst_cnt'),
  }));
}

/** `-o name,pnode,snodes,status,network_port,nic.ips,hv/boot_order` */
export function parseGntInstances(text: string): GntInstanceRow[] {
  return rows(text, 7, 'gnt-instance list').map(([name, pnode, snodes, status, port, ips, bootOrder]) => ({
    name: name!, pnode: pnode!, snodes: list(snodes!), status: status!, networkPort: /^\d+$/.test(port!) ? Number(port) : null, ips: list(ips!), bootOrder: bootOrder!,
  }));
}
