/**
 * The disks capability: disks in slots, GPT partitions and mdadm RAID1 over them, with the tools of the disk
 * replacement page (mdadm, /proc/mdstat, lsblk, sfdisk, dd, grub-install) and what people on site do to them
 * (`runbook-lab swap-disk`, `fail-disk`).
 */
import { hostWith, type Capability, type ControlOperation, type ControlParam, type LabControl, type StatusHost } from '../../core/capability.js';
import { fail, ok } from '../../core/types.js';
import { cmdMdadm, renderMdstat } from './mdadm.js';
import { bootDisks, failDisk, powerOffDisks, settleDisks, swapDisk, type Disk, type WithDisks } from './model.js';
import { cmdDd, cmdGrubInstall, cmdSfdisk, LSBLK_ARGS, renderLsblk } from './partitions.js';

export * from './model.js';
export { LSBLK_ARGS } from './partitions.js';

type DisksStatus = {
  disks: { slot: number; kname: string | null; serial: string; sizeBytes: number }[];
  arrays: { name: string; members: { serial: string; partition: number; state: string; raidDevice: number | null }[] }[];
};

const SLOT: ControlParam = {
  name: 'SLOT',
  check: (value) => (/^\d+$/.test(value) ? null : `SLOT must be a disk slot number, got ${value}`),
};

/** Hot (host up) or cold swap of the disk in `slot` for a new blank one; `renameOnBoot`: see setRenameOnNextBoot. */
export function swapDiskOf(lab: LabControl, host: string, slot: number, opts: { sizeBytes?: number; serial?: string; renameOnBoot?: boolean } = {}): Disk {
  const { renameOnBoot, ...disk } = opts;
  return lab.update<WithDisks, Disk>(hostWith(lab, host, disks), (state, now) => {
    if (renameOnBoot) state.renameOnNextBoot = true;
    return swapDisk(state, slot, now, disk);
  });
}

/** The disk in `slot` fails: its RAID members become faulty. */
export function failDiskOf(lab: LabControl, host: string, slot: number): void {
  lab.update<WithDisks, void>(hostWith(lab, host, disks), (state, now) => failDisk(state, slot, now));
}

/** The next boot enumerates the disks in reverse slot order (the page's warning: the old sdb may come back as sda). */
export function setRenameOnNextBoot(lab: LabControl, host: string, rename: boolean): void {
  lab.update<WithDisks, void>(hostWith(lab, host, disks), (state) => { state.renameOnNextBoot = rename; });
}

const controls: ControlOperation[] = [
  {
    name: 'swap-disk',
    params: [{ name: 'HOST' }, SLOT],
    flags: { 'rename-on-boot': 'the next boot enumerates disks in reverse order' },
    help: 'replace the disk in SLOT by a new blank one (hot if the host is up)',
    run: (lab, call) => swapDiskOf(lab, call.host, Number(call.args[0]), { renameOnBoot: call.flags.includes('rename-on-boot') }),
    print(result) {
      const disk = result as Disk;
      return `slot ${disk.slot}: new blank disk, serial ${disk.serial}${disk.kname ? `, now ${disk.kname}` : ' (named at next boot)'}`;
    },
  },
  {
    name: 'fail-disk',
    params: [{ name: 'HOST' }, SLOT],
    help: 'the disk in SLOT fails: its RAID members become faulty',
    run: (lab, call) => { failDiskOf(lab, call.host, Number(call.args[0])); return null; },
  },
];

export const disks: Capability<WithDisks> = {
  name: 'disks in slots',
  commands: {
    mdadm: (state, args, ctx) => cmdMdadm(state, args, ctx.now),
    lsblk: (state, args) => (args.join(' ') === LSBLK_ARGS.join(' ')
      ? ok(renderLsblk(state))
      : fail(1, `lsblk: the lab only simulates "lsblk ${LSBLK_ARGS.join(' ')}"\n`)),
    sfdisk: (state, args, ctx) => cmdSfdisk(state, args, ctx),
    dd: (state, args) => cmdDd(state, args),
    'grub-install': (state, args) => cmdGrubInstall(state, args),
  },
  files: {
    '/proc/mdstat': (state, ctx) => renderMdstat(state, ctx.now),
  },
  catHint: '/proc/mdstat',
  settle: settleDisks,
  boot: bootDisks,
  powerOff: powerOffDisks,
  status(state): DisksStatus {
    return {
      disks: state.disks.map((d) => ({ slot: d.slot, kname: d.kname, serial: d.serial, sizeBytes: d.sizeBytes })),
      arrays: state.arrays.map((a) => ({ name: a.name, members: a.members.map((m) => ({ serial: m.serial, partition: m.partition, state: m.state, raidDevice: m.raidDevice })) })),
    };
  },
  printStatus(host: StatusHost & Partial<DisksStatus>) {
    const lines = [...(host.disks ?? [])].sort((a, b) => a.slot - b.slot).map((d) => `  slot ${d.slot}: ${d.kname ?? '-'}  serial ${d.serial}`);
    for (const a of host.arrays ?? []) {
      const members = a.members.map((m) => `${host.disks?.find((d) => d.serial === m.serial)?.kname ?? m.serial}${m.partition}(${m.state})`);
      lines.push(`  ${a.name}: ${members.join(' ') || '(no members)'}`);
    }
    return lines;
  },
  controls,
};
