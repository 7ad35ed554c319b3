/**
 * "Dites 33": from what the host says (/proc/mdstat, mdadm --detail, lsblk), find the failed disk, the surviving
 * one, and every array member that lives on the failed disk. Pure: the activity reads, this decides.
 *
 * Disks are named by serial number from here on: the page warns that sda and sdb can swap after the change,
 * so kernel names are only looked up at the moment a command needs one.
 */
import { partitionOf } from '../../common/commands.js';
import type { LsblkDisk } from '../parsers/lsblk.js';
import type { MdstatArray } from '../parsers/mdstat.js';

export interface DiskIdentity {
  /** null when the disk is no longer visible to the kernel at all. */
  serial: string | null;
  model: string | null;
  sizeBytes: number | null;
  /** The kernel name when the diagnosis was made: for people only, never used to target a command. */
  seenAs: string | null;
}

export interface MemberOnDisk {
  array: string;
  /** Partition number on the disk, the same on the survivor and on the clone. */
  partition: number;
  /** What mdadm says of the failed disk's member now. */
  state: 'active' | 'faulty' | 'gone';
}

export interface Diagnosis {
  failed: DiskIdentity;
  survivor: DiskIdentity & { serial: string };
  /** Members of the failed disk to fail and remove (those still in an array). */
  failedMembers: MemberOnDisk[];
  /** Every array the survivor carries, with its partition number: what the new disk must rejoin. */
  layout: { array: string; partition: number }[];
}

export class DiagnosisError extends Error {
  override name = 'DiagnosisError';
}

/** `sdb3` → `3`; `nvme0n1p3` → `3`. */
export function partitionNumber(partition: string): number {
  return Number(/(\d+)$/.exec(partition)?.[1] ?? NaN);
}

export { partitionOf };

function diskOfPartition(disks: LsblkDisk[], partition: string): LsblkDisk | undefined {
  return disks.find((disk) => disk.partitions.some((p) => p.name === partition));
}

function identity(disk: LsblkDisk): DiskIdentity {
  return { serial: disk.serial, model: disk.model, sizeBytes: disk.sizeBytes, seenAs: disk.name };
}

export function diagnose(
  arrays: MdstatArray[],
  disks: LsblkDisk[],
  request: { arrays?: string[]; failedDisk?: string },
): Diagnosis {
  const known = arrays.map((a) => a.name);
  for (const wanted of request.arrays ?? []) {
    if (!known.includes(wanted)) {
      throw new DiagnosisError(`array ${wanted} does not exist on this host (arrays: ${known.join(', ') || 'none'})`);
    }
  }
  const inScope = request.arrays ? arrays.filter((a) => request.arrays!.includes(a.name)) : arrays;
  const degraded = inScope.filter((a) => a.activeDisks < a.raidDisks || a.members.some((m) => m.faulty));

  // The survivor: the disk holding the healthy members of the degraded arrays (or, when a person names the
  // failed disk of a healthy array, the other member's disk).
  const named = request.failedDisk
    ? disks.find((d) => d.name === request.failedDisk || d.serial === request.failedDisk)
    : undefined;
  if (request.failedDisk && !named) {
    throw new DiagnosisError(`no disk "${request.failedDisk}" on this host (disks: ${disks.map((d) => `${d.name} ${d.serial ?? '?'}`).join(', ')})`);
  }
  const considered = degraded.length > 0 ? degraded : named ? inScope : [];
  if (considered.length === 0) {
    throw new DiagnosisError(`every array is healthy (${inScope.map((a) => `${a.name} [${a.health}]`).join(', ')}): no failed disk to replace`);
  }

  const survivorDisks = new Set<LsblkDisk>();
  for (const array of considered) {
    for (const member of array.members) {
      if (member.faulty || member.spare) continue;
      const disk = diskOfPartition(disks, member.device);
      if (disk && disk !== named) survivorDisks.add(disk);
    }
  }
  if (survivorDisks.size !== 1) {
    throw new DiagnosisError(
      survivorDisks.size === 0
        ? 'no healthy member left in the degraded arrays: this is not a one-disk replacement, restore from backup'
        : `the healthy members are on several disks (${[...survivorDisks].map((d) => d.name).join(', ')}): name the failed disk with "failedDisk"`,
    );
  }
  const survivor = [...survivorDisks][0]!;
  if (!survivor.serial) throw new DiagnosisError(`the surviving disk ${survivor.name} reports no serial number: cannot track it safely`);

  // The failed disk: named by the person, or the one holding faulty members, or a RAID disk that dropped out.
  const faultyDisks = new Set<LsblkDisk>();
  for (const array of considered) {
    for (const member of array.members.filter((m) => m.faulty)) {
      const disk = diskOfPartition(disks, member.device);
      if (disk) faultyDisks.add(disk);
    }
  }
  const droppedOut = disks.filter(
    (d) => d !== survivor && d.partitions.some((p) => p.fstype === 'linux_raid_member' && p.arrays.length === 0),
  );
  const failedDisk = named ?? (faultyDisks.size === 1 ? [...faultyDisks][0] : faultyDisks.size === 0 && droppedOut.length === 1 ? droppedOut[0] : undefined);
  if (faultyDisks.size > 1) throw new DiagnosisError(`faulty members on several disks (${[...faultyDisks].map((d) => d.name).join(', ')}): name the failed disk with "failedDisk"`);
  if (failedDisk === survivor) throw new DiagnosisError(`${survivor.name} carries the only healthy copy: refusing to treat it as the failed disk`);

  const layout = arrays.flatMap((array) =>
    array.members
      .filter((m) => !m.faulty && diskOfPartition(disks, m.device) === survivor)
      .map((m) => ({ array: array.name, partition: partitionNumber(m.device) })),
  ).filter((entry) => !request.arrays || request.arrays.includes(entry.array));

  // Every array using the failed disk, degraded or not: the page says to repeat the operation for each one.
  const failedMembers: MemberOnDisk[] = layout.map(({ array, partition }) => {
    const md = arrays.find((a) => a.name === array)!;
    const member = failedDisk ? md.members.find((m) => m.device === partitionOf(failedDisk.name, partition)) : undefined;
    return { array, partition, state: member ? (member.faulty ? 'faulty' : 'active') : 'gone' };
  });

  return {
    failed: failedDisk ? identity(failedDisk) : { serial: null, model: null, sizeBytes: survivor.sizeBytes, seenAs: null },
    survivor: { ...identity(survivor), serial: survivor.serial },
    failedMembers,
    layout,
  };
}
