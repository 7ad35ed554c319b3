/**
 * The disk-replacement steps that touch a host. Activities are at-least-once: each one looks before it acts
 * (is the member already faulty? already removed? the table already cloned? grub already there?), so a
 * worker killed at any point resumes without applying a change twice.
 */
import { Context, log } from '@temporalio/activity';
import { disks, raid, type Command } from '../../common/commands.js';
import type { RemoteShell } from '../ssh/remote.js';
import { parseLsblk, type LsblkDisk } from '../parsers/lsblk.js';
import { parseMdstat, type MdstatArray } from '../parsers/mdstat.js';
import { parseMdadmDetail } from '../parsers/mdadm-detail.js';
import { parseSfdiskDump, renderSfdiskScript, sameLayout } from '../parsers/sfdisk.js';
import { diagnose, DiagnosisError, partitionOf, type Diagnosis } from './diagnose.js';
import { failure } from '../../common/failures.js';

export type { Diagnosis } from './diagnose.js';

export interface NewDisk {
  serial: string;
  model: string | null;
  sizeBytes: number;
  seenAs: string;
  /** True when the runbook had already cloned the table onto it (a resumed run). */
  alreadyPartitioned: boolean;
}

export interface ArrayResync {
  array: string;
  health: string;
  percent: number | null;
  speedKps: number | null;
  finishMinutes: number | null;
  waiting: boolean;
}

export type Outcome = 'done' | 'already done';

/** A partition of a disk tracked by serial: its number, and its kernel name when the plan was made. */
export interface DiskPartition {
  serial: string | null;
  partition: number;
  device: string;
}

/** A member of an array, as a planned step targets it. */
export interface ArrayMember extends DiskPartition {
  array: string;
}

export function raidActivities(remote: RemoteShell) {
  async function readArrays(host: string): Promise<MdstatArray[]> {
    return parseMdstat((await remote.run(host, raid.status())).stdout).arrays;
  }

  async function readDisks(host: string): Promise<LsblkDisk[]> {
    return parseLsblk((await remote.run(host, disks.list())).stdout).disks;
  }

  /** The disk's kernel name right now, from its serial number. */
  async function diskBySerial(host: string, serial: string): Promise<LsblkDisk | undefined> {
    return (await readDisks(host)).find((disk) => disk.serial === serial);
  }

  async function requireDisk(host: string, serial: string, role: string): Promise<LsblkDisk> {
    const disk = await diskBySerial(host, serial);
    if (!disk) throw failure('DiskNotFound', `the ${role} disk (serial ${serial}) is not visible on ${host}`);
    return disk;
  }

  /** mdadm's own view of a member: is this partition in the array, and how. */
  async function memberState(host: string, array: string, partition: string): Promise<string[] | undefined> {
    const detail = parseMdadmDetail((await remote.run(host, raid.detail(array))).stdout);
    return detail.members.find((m) => m.device === `/dev/${partition}`)?.state;
  }

  /**
   * The planned partition, if its disk is still there: the disk found by serial must still carry the kernel name
   * the plan was built with, or the plan no longer says what would run.
   */
  async function plannedPartition(host: string, target: DiskPartition): Promise<string | undefined> {
    const disk = target.serial ? await diskBySerial(host, target.serial) : undefined;
    if (!disk) return undefined;
    const now = partitionOf(disk.name, target.partition);
    if (now !== target.device) {
      throw failure('PlanChanged', `the disk with serial ${target.serial} is ${disk.name} now: its partition ${target.partition} is ${now}, not ${target.device} as planned`);
    }
    return now;
  }

  /** The planned disk's kernel name, checked against its serial. */
  async function plannedDisk(host: string, serial: string, name: string, role: string): Promise<void> {
    const disk = await requireDisk(host, serial, role);
    if (disk.name !== name) throw failure('PlanChanged', `the ${role} disk (serial ${serial}) is ${disk.name} now, not ${name} as planned`);
  }

  return {
    /** Dites "33": which disk failed, which one survives, which arrays use them. Read-only. */
    async findFailedDisk(host: string, request: { arrays?: string[]; failedDisk?: string }): Promise<Diagnosis> {
      const [arrays, disks] = [await readArrays(host), await readDisks(host)];
      try {
        return diagnose(arrays, disks, request);
      } catch (error) {
        if (error instanceof DiagnosisError) throw failure('Diagnosis', `${host}: ${error.message}`);
        throw error;
      }
    },

    /** `mdadm --manage /dev/mdN --fail` the failed disk's member, unless mdadm already sees it faulty or gone. */
    async markMemberFailed(host: string, member: ArrayMember, command: Command): Promise<Outcome> {
      const device = await plannedPartition(host, member);
      const state = device && (await memberState(host, member.array, device));
      if (!state || state.includes('faulty')) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /** `mdadm --manage /dev/mdN --remove` the member, unless it is no longer in the array. */
    async removeMember(host: string, member: ArrayMember, command: Command): Promise<Outcome> {
      const device = await plannedPartition(host, member);
      const state = device && (await memberState(host, member.array, device));
      if (!state) return 'already done';
      if (!state.includes('faulty')) {
        throw failure('UnsafeRemove', `/dev/${device} is ${state.join(' ')} in ${member.array}, not faulty: refusing to remove it`);
      }
      await remote.run(host, command);
      return 'done';
    },

    /**
     * "Commencez par vérifier que vos disques ont toujours les mêmes noms": find the new disk by serial, never
     * by name. The survivor must still be there; the new disk must be neither the survivor nor the failed disk,
     * blank (or already cloned by this runbook) and at least as large as the survivor.
     */
    async identifyNewDisk(host: string, survivorSerial: string, failedSerial: string | null): Promise<NewDisk> {
      const seen = await readDisks(host);
      const survivor = seen.find((d) => d.serial === survivorSerial);
      if (!survivor) throw failure('SurvivorMissing', `the surviving disk (serial ${survivorSerial}) is missing on ${host}: stop and look`);
      if (failedSerial && seen.some((d) => d.serial === failedSerial)) {
        throw failure('FailedDiskStillThere', `the failed disk (serial ${failedSerial}) is still in ${host}: swap it first`);
      }
      const candidates = seen.filter((d) => d.serial !== survivorSerial && !d.partitions.some((p) => p.arrays.length > 0));
      if (candidates.length !== 1) {
        throw failure('NewDiskUnclear', candidates.length === 0
            ? `no new disk on ${host}: only ${seen.map((d) => `${d.name} (${d.serial})`).join(', ')}`
            : `several candidate new disks on ${host}: ${candidates.map((d) => `${d.name} (${d.serial})`).join(', ')}`);
      }
      const fresh = candidates[0]!;
      if (!fresh.serial) throw failure('NewDiskUnclear', `the new disk ${fresh.name} reports no serial number`);
      if (fresh.sizeBytes < survivor.sizeBytes) {
        throw failure('NewDiskTooSmall', `the new disk ${fresh.serial} (${fresh.sizeBytes} bytes) is smaller than the survivor (${survivor.sizeBytes} bytes)`);
      }
      const table = await remote.run(host, disks.dumpTable(fresh.name), { allowFailure: true });
      let alreadyPartitioned = false;
      if (table.exitCode === 0) {
        const survivorTable = parseSfdiskDump((await remote.run(host, disks.dumpTable(survivor.name))).stdout);
        alreadyPartitioned = sameLayout(parseSfdiskDump(table.stdout), survivorTable);
        if (!alreadyPartitioned) {
          throw failure('NewDiskNotBlank', `the new disk ${fresh.serial} (${fresh.name}) is not blank: it has a partition table of its own. Refusing to overwrite it`);
        }
      }
      return { serial: fresh.serial, model: fresh.model, sizeBytes: fresh.sizeBytes, seenAs: fresh.name, alreadyPartitioned };
    },

    /**
     * The page's `sfdisk -d SURVIVOR | sfdisk NEW`, in two steps so the script can be checked, and without the
     * label and partition GUIDs, so the clone does not share them with the survivor.
     */
    async clonePartitionTable(host: string, which: { survivorSerial: string; newSerial: string; newName: string }, command: Command): Promise<Outcome> {
      const survivor = await requireDisk(host, which.survivorSerial, 'surviving');
      await plannedDisk(host, which.newSerial, which.newName, 'new');
      const source = parseSfdiskDump((await remote.run(host, disks.dumpTable(survivor.name))).stdout);
      const current = await remote.run(host, disks.dumpTable(which.newName), { allowFailure: true });
      if (current.exitCode === 0) {
        if (sameLayout(parseSfdiskDump(current.stdout), source)) return 'already done';
        throw failure('NewDiskNotBlank', `the new disk ${which.newSerial} (${which.newName}) gained a different partition table: stop and look`);
      }
      await remote.run(host, command, { stdin: renderSfdiskScript(source, { forDisk: `/dev/${which.newName}` }) });
      return 'done';
    },

    /** `mdadm --manage /dev/mdN --add` the new disk's partition, unless it is already in the array. */
    async addMember(host: string, member: ArrayMember & { serial: string }, command: Command): Promise<Outcome> {
      const device = await plannedPartition(host, member);
      if (!device) throw failure('DiskNotFound', `the new disk (serial ${member.serial}) is not visible on ${host}`);
      if (await memberState(host, member.array, device)) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /** One look at /proc/mdstat: how far each array's resync is (a local activity: the run's progress shows it). */
    async readResync(host: string): Promise<ArrayResync[]> {
      const arrays = (await readArrays(host)).map((a) => ({
        array: a.name,
        health: a.health,
        percent: a.recovery?.percent ?? null,
        speedKps: a.recovery?.speedKps ?? null,
        finishMinutes: a.recovery?.finishMinutes ?? null,
        waiting: Boolean(a.recovery?.delayed),
      }));
      return arrays;
    },

    /** `grub-install` on the new disk, unless its boot code is already GRUB's (a resumed run). */
    async installBootloader(host: string, target: { serial: string; name: string }, command: Command): Promise<Outcome> {
      await plannedDisk(host, target.serial, target.name, 'new');
      const bootCode = await remote.run(host, disks.bootCode(target.name));
      if (bootCode.stdout.includes('GRUB')) return 'already done';
      await remote.run(host, command);
      return 'done';
    },

    /** The end of the page: every array `[UU]`. */
    async checkArrays(host: string): Promise<{ array: string; health: string }[]> {
      const arrays = await readArrays(host);
      const unhealthy = arrays.filter((a) => a.health.includes('_') || a.members.some((m) => m.faulty));
      if (unhealthy.length > 0) log.warn('arrays not healthy', { host, arrays: unhealthy.map((a) => a.name) });
      return arrays.map((a) => ({ array: a.name, health: a.health }));
    },
  };
}

export type RaidActivities = ReturnType<typeof raidActivities>;
