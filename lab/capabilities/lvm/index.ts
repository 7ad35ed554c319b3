/**
 * The LVM capability, for a Xen dom0 of the page: `vgs`, `lvs`, `lvresize -r`, `lvcreate -s`, `lvremove`,
 * `lvconvert --merge`, and the read-only root with `mount -o remount,rw|ro /` and `findmnt`. A host whose state has
 * no `lvm` has none of it (its `vgs` is another capability's, e.g. the LUKS volumes').
 */
import { hostWith, type Capability, type LabControl, type StatusHost } from '../../core/capability.js';
import { findLv, freeExtents, lvBytes, settleSnapshots, snapPercent, type WithLvm } from './model.js';
import { findmnt, lvconvert, lvcreate, lvremove, lvresize, mount } from './changes.js';
import { lvsCommand, vgsCommand } from './report.js';
import { jobArgs, simulateJobs } from '../jobs/index.js';

/** How long the lab's `lvresize -r` runs as a job unless the host says (resizeJobMs): fsadm growing the filesystem. */
const RESIZE_JOB_MS = 2_000;

// `lvresize -r` run as a detached job (vmDiskResize): the volume changes at the start, the job ends a while later.
simulateJobs({
  matches: (command) => jobArgs(command, 'lvresize') !== null,
  start(state, command) {
    const host = state as WithLvm;
    if (!host.lvm) return { durationMs: 0, exitStatus: 127, output: 'bash: line 1: lvresize: command not found\n' };
    const result = lvresize(host, jobArgs(command, 'lvresize')!);
    return { durationMs: host.resizeJobMs ?? RESIZE_JOB_MS, exitStatus: result.exitCode, output: result.exitCode ? result.stderr : result.stdout.toString('utf8') };
  },
});

export * from './model.js';

interface LvmStatus {
  rootReadOnly: boolean;
  volumeGroups: { name: string; freeExtents: number }[];
  volumes: { name: string; sizeBytes: number; origin?: string; snapPercent?: string; content: string }[];
}

export const lvm: Capability<WithLvm> = {
  name: 'LVM volumes',
  commands: {
    vgs: (state, args) => (state.lvm ? vgsCommand(state, args) : null),
    lvs: (state, args) => (state.lvm ? lvsCommand(state, args) : null),
    lvresize: (state, args) => (state.lvm ? lvresize(state, args) : null),
    lvcreate: (state, args, ctx) => (state.lvm ? lvcreate(state, args, ctx.now) : null),
    lvremove: (state, args) => (state.lvm ? lvremove(state, args) : null),
    lvconvert: (state, args) => (state.lvm ? lvconvert(state, args) : null),
    mount: (state, args) => (state.lvm ? mount(state, args) : null),
    findmnt: (state, args) => (state.lvm ? findmnt(state, args) : null),
  },
  settle(state, now) {
    if (state.power !== 'down') settleSnapshots(state, now);
  },
  boot(state) {
    // fstab mounts the page's dom0 root read-only at every boot.
    if (state.lvm) state.rootReadOnly = true;
  },
  status(state): { lvm?: LvmStatus } {
    if (!state.lvm) return {};
    return {
      lvm: {
        rootReadOnly: !!state.rootReadOnly,
        volumeGroups: state.lvm.vgs.map((g) => ({ name: g.name, freeExtents: freeExtents(state.lvm!, g.name) })),
        volumes: state.lvm.lvs.map((l) => ({ name: `${l.vg}/${l.name}`, sizeBytes: lvBytes(l), content: l.content, ...(l.origin ? { origin: l.origin, snapPercent: snapPercent(l) } : {}) })),
      },
    };
  },
  printStatus(host: StatusHost & { lvm?: LvmStatus }) {
    if (!host.lvm) return [];
    return [
      `  root: ${host.lvm.rootReadOnly ? 'read-only' : 'READ-WRITE'}`,
      ...host.lvm.volumes.map((v) => `  lv ${v.name}: ${v.sizeBytes} bytes${v.origin ? `, snapshot of ${v.origin}, ${v.snapPercent}% full` : ''}`),
    ];
  },
};

/** Make the next `lvresize` fail with `stderr` (a filesystem check finding errors), or succeed again with null. */
export function setResizeFailure(lab: LabControl, host: string, stderr: string | null): void {
  lab.update<WithLvm, void>(hostWith(lab, host, lvm), (state) => {
    if (stderr) state.lvm!.resizeFails = stderr;
    else delete state.lvm!.resizeFails;
  });
}

/** The guest writes to its volume: its content label changes (a restore must bring the older one back). */
export function writeVolume(lab: LabControl, host: string, volume: string, content: string): void {
  lab.update<WithLvm, void>(hostWith(lab, host, lvm), (state) => {
    const lv = findLv(state.lvm!, volume);
    if (!lv) throw new Error(`no logical volume ${volume} on ${host}`);
    lv.content = content;
  });
}

/** How fast a snapshot fills from now on, in bytes per second. */
export function setSnapshotFill(lab: LabControl, host: string, volume: string, bytesPerSecond: number): void {
  lab.update<WithLvm, void>(hostWith(lab, host, lvm), (state) => {
    const lv = findLv(state.lvm!, volume);
    if (!lv?.origin) throw new Error(`no snapshot ${volume} on ${host}`);
    lv.fillBytesPerSecond = bytesPerSecond;
  });
}
