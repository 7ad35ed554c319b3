/**
 * `lsblk --json --bytes --output NAME,KNAME,PKNAME,TYPE,SIZE,SERIAL,MODEL,FSTYPE`: disks, their partitions,
 * and which md arrays each partition belongs to.
 */
import { z } from 'zod';
import { describeIssues } from '../../common/inventory.js';
import { ParseError } from './mdstat.js';

export interface LsblkPartition {
  name: string;
  sizeBytes: number;
  fstype: string | null;
  /** md arrays built on this partition, e.g. ['md0']. */
  arrays: string[];
}

export interface LsblkDisk {
  name: string;
  serial: string | null;
  model: string | null;
  sizeBytes: number;
  partitions: LsblkPartition[];
}

export interface Lsblk {
  disks: LsblkDisk[];
}

interface RawNode {
  name: string;
  type: string;
  size: number;
  serial?: string | null | undefined;
  model?: string | null | undefined;
  fstype?: string | null | undefined;
  children?: RawNode[] | undefined;
}

/** Sizes are numbers with --bytes; older lsblk prints them as strings of digits. */
const Size = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d+$/, { message: 'must be a byte count (run lsblk with --bytes)' }).transform(Number),
]);

const Node: z.ZodType<RawNode, unknown> = z.lazy(() =>
  z.object({
    name: z.string().min(1),
    type: z.string(),
    size: Size,
    serial: z.string().nullish().transform((s) => (s == null ? s : s.trim())),
    model: z.string().nullish().transform((s) => (s == null ? s : s.trim())),
    fstype: z.string().nullish(),
    children: z.array(Node).optional(),
  }),
);

const Output = z.object({ blockdevices: z.array(Node) });

const isArray = (node: RawNode) => /^(raid\d+|linear|md|multipath)$/.test(node.type) || /^md/.test(node.name);

export function parseLsblk(json: string | unknown): Lsblk {
  let raw: unknown = json;
  if (typeof json === 'string') {
    try {
      raw = JSON.parse(json);
    } catch (error) {
      throw new ParseError(`lsblk: output is not JSON: ${(error as Error).message}`);
    }
  }
  const parsed = Output.safeParse(raw);
  if (!parsed.success) throw new ParseError(`lsblk output is not as expected:\n${describeIssues(parsed.error, 'lsblk')}`);

  const disks = parsed.data.blockdevices
    .filter((node) => node.type === 'disk')
    .map((disk): LsblkDisk => ({
      name: disk.name,
      serial: disk.serial || null,
      model: disk.model || null,
      sizeBytes: disk.size,
      partitions: (disk.children ?? [])
        .filter((child) => child.type === 'part')
        .map((part) => ({
          name: part.name,
          sizeBytes: part.size,
          fstype: part.fstype ?? null,
          arrays: [...new Set((part.children ?? []).filter(isArray).map((md) => md.name))],
        })),
    }));
  return { disks };
}
