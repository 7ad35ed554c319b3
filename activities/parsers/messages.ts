/** One-line confirmations printed (on stderr) by mdadm, sfdisk and grub-install. */
import { ParseError } from './mdstat.js';

export type MdadmManageAction = 'added' | 'faulty' | 'removed';

export interface MdadmManageResult {
  action: MdadmManageAction;
  partition: string;
  array?: string;
}

/**
 * `mdadm: set /dev/sda3 faulty in /dev/md1`, `mdadm: hot removed /dev/sda3 from /dev/md1`, `mdadm: added /dev/sdc3`.
 * Since mdadm 4.4 (Manage.c, 2024-09) "set … faulty" is printed only with --verbose: no line is no proof of failure;
 * read the array's state instead.
 */
export function parseMdadmManage(stderr: string): MdadmManageResult[] {
  const results: MdadmManageResult[] = [];
  for (const line of stderr.split('\n')) {
    let m = /^mdadm: set (\S+) faulty in (\S+)/.exec(line);
    if (m?.[1] && m[2]) results.push({ action: 'faulty', partition: m[1], array: m[2] });
    else if ((m = /^mdadm: hot removed (\S+) from (\S+)/.exec(line)) && m[1] && m[2]) results.push({ action: 'removed', partition: m[1], array: m[2] });
    else if ((m = /^mdadm: (?:re-)?added (\S+)/.exec(line)) && m[1]) results.push({ action: 'added', partition: m[1] });
  }
  return results;
}

/** grub-install's own success line. */
export function grubInstallSucceeded(stderr: string): boolean {
  return /Installation finished\. No error reported\./.test(stderr);
}

export interface SfdiskWritePartition {
  device: string;
  start: number;
  end: number;
  sectors: number;
  size: string;
  /** The type's name, e.g. 'Linux filesystem', 'Linux swap / Solaris'. */
  type: string;
  /** The MBR type code of a dos label's Id column, e.g. '83'. */
  id?: string;
}

export interface SfdiskWriteResult {
  label: string;
  diskId?: string;
  partitions: SfdiskWritePartition[];
  /** "The partition table has been altered." */
  altered: boolean;
}

/** The report of `sfdisk /dev/sdX < script`: the "New situation" table. */
export function parseSfdiskWrite(text: string): SfdiskWriteResult {
  const at = text.indexOf('New situation:');
  if (at < 0) throw new ParseError('sfdisk: no "New situation:" in the output; the table was probably not written');
  const rest = text.slice(at);
  const label = /Disklabel type:\s*(\S+)/.exec(rest)?.[1];
  if (!label) throw new ParseError('sfdisk: no "Disklabel type:" in the new situation');
  const result: SfdiskWriteResult = { label, partitions: [], altered: /The partition table has been altered\./.test(text) };
  const diskId = /Disk identifier:\s*(\S+)/.exec(rest)?.[1];
  if (diskId) result.diskId = diskId;
  // A dos label has an Id column (the type code) before Type: `Device Boot Start End Sectors Size Id Type`.
  const withId = /^Device\s+(?:Boot\s+)?Start\s+End\s+Sectors\s+Size\s+Id\s+Type\b/m.test(rest);
  for (const line of rest.split('\n')) {
    const m = /^(\/dev\/\S+)\s+(\*\s+)?(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(.+)$/.exec(line.trim());
    if (m?.[1]) {
      const partition: SfdiskWritePartition = {
        device: m[1], start: Number(m[3]), end: Number(m[4]), sectors: Number(m[5]), size: m[6] ?? '', type: (m[7] ?? '').trim(),
      };
      const id = withId ? /^([0-9a-fA-F]{1,2})\s+(.+)$/.exec(partition.type) : null;
      if (id?.[1] && id[2]) {
        partition.id = id[1];
        partition.type = id[2];
      }
      result.partitions.push(partition);
    }
  }
  return result;
}
