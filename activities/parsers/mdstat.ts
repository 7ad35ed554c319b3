/**
 * /proc/mdstat, as the kernel prints it.
 *
 *   md1 : active raid1 sdb3[1] sda3[0](F)
 *         7792962560 blocks super 1.2 [2/1] [_U]
 *         [====>................]  recovery = 22.4% (4694784/20954112) finish=1.3min speed=203574K/sec
 */

export interface MdstatMember {
  /** Kernel name of the component, e.g. 'sdb3'. */
  device: string;
  /** The number in brackets: the slot for active members (>= raid disks for spares). */
  role: number;
  faulty: boolean;
  spare?: boolean;
  writeMostly?: boolean;
  replacement?: boolean;
}

export type MdSyncKind = 'recovery' | 'resync' | 'check' | 'reshape' | 'repair';

export interface MdstatRecovery {
  kind: MdSyncKind;
  /** `resync=DELAYED` / `recovery=PENDING`: queued behind another array sharing a disk; no numbers yet. */
  delayed?: boolean;
  percent?: number;
  doneBlocks?: number;
  totalBlocks?: number;
  finishMinutes?: number;
  speedKps?: number;
}

export interface MdstatArray {
  name: string;
  state: 'active' | 'inactive';
  /** e.g. 'raid1'; undefined for an inactive array. */
  level?: string;
  readOnly?: boolean;
  members: MdstatMember[];
  blocks?: number;
  raidDisks: number;
  activeDisks: number;
  /** One character per slot, as mdstat prints it: 'U' up, '_' missing. E.g. '_U'. */
  health: string;
  recovery?: MdstatRecovery;
}

export interface Mdstat {
  personalities: string[];
  arrays: MdstatArray[];
}

export class ParseError extends Error {
  override name = 'ParseError';
}

const HEADER = /^(md[\w-]*)\s*:\s*(active|inactive)\b\s*(.*)$/;
// The kernel writes a '/' in a device name as '!' (cciss!c0d0p1).
const MEMBER = /^([^\s[\]()]+)\[(\d+)\]((?:\([A-Z]\))*)$/;
const PROGRESS =
  /\b(recovery|resync|check|reshape|repair)\s*=\s*([\d.]+)%\s*\((\d+)\/(\d+)\)\s*finish=([\d.]+)min\s*speed=(\d+)K\/sec/;
const DELAYED = /\b(recovery|resync|check|reshape|repair)\s*=\s*(DELAYED|PENDING)\b/;

export function parseMdstat(text: string): Mdstat {
  const lines = text.split('\n');
  const personalities = [...(lines.find((l) => l.startsWith('Personalities'))?.matchAll(/\[([^\]]+)\]/g) ?? [])].map(
    (m) => m[1] ?? '',
  );
  const arrays: MdstatArray[] = [];
  let current: MdstatArray | undefined;

  for (const line of lines) {
    const header = HEADER.exec(line);
    if (header) {
      const [, name = '', state, rest = ''] = header;
      const words = rest.split(/\s+/).filter(Boolean);
      let readOnly = false;
      while (words[0]?.startsWith('(')) {
        if (/read-only/.test(words.shift() ?? '')) readOnly = true;
      }
      let level: string | undefined;
      if (words[0] && !MEMBER.test(words[0])) level = words.shift();
      const members = words.map((word) => {
        const m = MEMBER.exec(word);
        if (!m) throw new ParseError(`mdstat: cannot read member "${word}" of ${name}`);
        const flags = m[3] ?? '';
        const member: MdstatMember = { device: m[1] ?? '', role: Number(m[2]), faulty: flags.includes('(F)') };
        if (flags.includes('(S)')) member.spare = true;
        if (flags.includes('(W)')) member.writeMostly = true;
        if (flags.includes('(R)')) member.replacement = true;
        return member;
      });
      current = { name, state: state as 'active' | 'inactive', members, raidDisks: 0, activeDisks: 0, health: '' };
      if (level) current.level = level;
      if (readOnly) current.readOnly = true;
      arrays.push(current);
      continue;
    }
    if (!current) continue;
    if (!line.startsWith(' ') && !line.startsWith('\t')) {
      if (line.trim() !== '') current = undefined; // "unused devices: ..." and anything else ends the array
      continue;
    }
    const blocks = /^\s*(\d+) blocks\b/.exec(line);
    if (blocks) {
      current.blocks = Number(blocks[1]);
      const status = /\[(\d+)\/(\d+)\]\s*\[([U_]+)\]/.exec(line);
      if (status) {
        current.raidDisks = Number(status[1]);
        current.activeDisks = Number(status[2]);
        current.health = status[3] ?? '';
      }
      continue;
    }
    const progress = PROGRESS.exec(line);
    if (progress) {
      current.recovery = {
        kind: progress[1] as MdSyncKind,
        percent: Number(progress[2]),
        doneBlocks: Number(progress[3]),
        totalBlocks: Number(progress[4]),
        finishMinutes: Number(progress[5]),
        speedKps: Number(progress[6]),
      };
      continue;
    }
    const delayed = DELAYED.exec(line);
    if (delayed) current.recovery = { kind: delayed[1] as MdSyncKind, delayed: true };
  }

  // Levels without a [n/m] status (raid0, linear, inactive arrays): count what is listed.
  for (const array of arrays) {
    if (array.health !== '') continue;
    const working = array.members.filter((m) => !m.spare);
    array.raidDisks = working.length;
    array.activeDisks = working.filter((m) => !m.faulty).length;
  }
  return { personalities, arrays };
}
