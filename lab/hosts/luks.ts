/**
 * LUKS volumes of a simulated host, shared by every host kind that has them (Proxmox nodes, encrypted dom0s):
 * the root volume that `cryptroot-unlock` opens in the initramfs (dropbear stage), and the network LUNs that
 * `cryptsetup luksOpen` opens once the system runs. Only salted hashes of passphrases are kept, so no lab file
 * (state, audit, logs) ever holds a passphrase.
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { fail, ok, type BaseHostState, type CommandResult, type ExecContext, type NeedStdin } from './types.js';

export interface LuksVolume {
  uuid: string;
  /** Every block device that shows this LUKS header: the multipath paths of one LUN share it (/dev/sdb, /dev/sde, /dev/mapper/3600…). */
  paths: string[];
  /** The dm-crypt name from /etc/crypttab: `sda5_crypt`, `vg_fma_luks`. */
  name: string;
  /** The root volume is opened by cryptroot-unlock in the initramfs; the others by luksOpen after boot. */
  root: boolean;
  /** Key slots: salted hashes of the passphrases (null = empty slot). LUKS has 8 (LUKS1) or 32 (LUKS2). */
  keySlots: ({ salt: string; hash: string } | null)[];
  /** The volume group inside, activated by `vgchange -ay` once open. */
  vg?: string;
  /** Logical volumes in `vg` (for vgchange's and vgs's counts); 1 when absent. */
  lvCount?: number;
  /** blkid's PARTUUID, for a volume on a partition (the root's /dev/sda5). */
  partuuid?: string;
  open: boolean;
  /** The path it was opened from, for `cryptsetup status`. */
  openedFrom?: string;
  vgActive: boolean;
}

export interface LuksState {
  volumes: LuksVolume[];
  /** cryptroot-unlock tries used in this boot; the initramfs gives up at maxUnlockTries. */
  unlockTries: number;
  maxUnlockTries: number;
  /** From a successful cryptroot-unlock to OpenSSH answering (the rest of the boot); 300 ms when absent. */
  unlockBootDelayMs?: number;
}

/** A host state that may carry LUKS volumes. */
export interface WithLuks extends BaseHostState {
  luks?: LuksState;
}

// ---------------------------------------------------------------- keys

// Cheap scrypt: the point is that no lab file holds a passphrase, not to resist offline cracking.
const SCRYPT = { N: 1024, r: 8, p: 1 } as const;

function hashKey(passphrase: Buffer, salt: Buffer): Buffer {
  return scryptSync(passphrase, salt, 32, SCRYPT);
}

function sealKey(passphrase: Buffer): { salt: string; hash: string } {
  const salt = randomBytes(16);
  return { salt: salt.toString('base64'), hash: hashKey(passphrase, salt).toString('base64') };
}

/** The index of the first key slot the passphrase opens, or -1. The passphrase is every byte given. */
export function matchingSlot(volume: LuksVolume, passphrase: Buffer | string): number {
  const key = typeof passphrase === 'string' ? Buffer.from(passphrase) : passphrase;
  return volume.keySlots.findIndex((slot) => slot !== null
    && timingSafeEqual(hashKey(key, Buffer.from(slot.salt, 'base64')), Buffer.from(slot.hash, 'base64')));
}

/** A LUKS volume for presets and tests; passphrases fill the first slots of 8 (LUKS1). Closed, as at boot. */
export function luksVolume(o: { uuid: string; paths: string[]; name: string; root?: boolean; vg?: string; lvCount?: number; partuuid?: string; passphrases: string[]; slots?: number }): LuksVolume {
  const slots = o.slots ?? 8;
  if (o.passphrases.length === 0 || o.passphrases.length > slots) throw new Error(`a LUKS volume needs 1..${slots} passphrases`);
  if (o.paths.length === 0) throw new Error('a LUKS volume needs at least one path');
  const root = o.root ?? false;
  const partuuid = o.partuuid ?? (root ? derivedPartuuid(o.uuid, o.paths[0]!) : undefined);
  return {
    uuid: o.uuid,
    paths: [...o.paths],
    name: o.name,
    root,
    keySlots: Array.from({ length: slots }, (_, i) => (o.passphrases[i] === undefined ? null : sealKey(Buffer.from(o.passphrases[i]!)))),
    ...(o.vg ? { vg: o.vg } : {}),
    ...(o.lvCount !== undefined ? { lvCount: o.lvCount } : {}),
    ...(partuuid ? { partuuid } : {}),
    open: false,
    vgActive: false,
  };
}

/** An MBR disk id plus the partition number, as blkid prints it: `46a561e0-05`. */
function derivedPartuuid(uuid: string, path: string): string | undefined {
  const part = /(\d+)$/.exec(path)?.[1];
  if (!part) return undefined;
  return `${createHash('sha256').update(uuid).digest('hex').slice(0, 8)}-${part.padStart(2, '0')}`;
}

export function luksState(volumes: LuksVolume[], opts: { maxUnlockTries?: number; unlockBootDelayMs?: number } = {}): LuksState {
  if (volumes.filter((v) => v.root).length > 1) throw new Error('at most one root LUKS volume');
  return { volumes, unlockTries: 0, maxUnlockTries: opts.maxUnlockTries ?? 3, ...(opts.unlockBootDelayMs !== undefined ? { unlockBootDelayMs: opts.unlockBootDelayMs } : {}) };
}

export function rootVolume(state: WithLuks): LuksVolume | undefined {
  return state.luks?.volumes.find((v) => v.root);
}

// ---------------------------------------------------------------- boot

/** Power off or reset: every mapping is gone. */
export function luksPowerOff(state: WithLuks): void {
  for (const v of state.luks?.volumes ?? []) { v.open = false; v.vgActive = false; delete v.openedFrom; }
}

/** A new boot: everything is closed, the initramfs counts its tries from zero. */
export function luksBoot(state: WithLuks): void {
  luksPowerOff(state);
  if (state.luks) state.luks.unlockTries = 0;
}

/** The kernel's boot id: a UUID per boot, from the host and its boot count; every host kind answers with it. */
export function kernelBootId(state: BaseHostState): string {
  const hex = createHash('sha256').update(`${state.name}/${state.bootCount}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The initramfs behind dropbear (BusyBox): only the boot id and cryptroot-unlock. cryptroot-unlock reads the
 * whole of stdin as the passphrase, as the askpass does: a trailing newline is part of it. On success the root
 * volume is open and its VG active; the lab then continues the boot.
 */
export function initramfsExec(state: WithLuks, argv: string[], ctx: Pick<ExecContext, 'stdin'>): CommandResult | NeedStdin {
  const [cmd, ...args] = argv;
  const root = rootVolume(state);
  if (cmd === 'cat' && args.length === 1 && args[0] === '/proc/sys/kernel/random/boot_id') return ok(`${kernelBootId(state)}\n`);
  if ((cmd === 'cryptroot-unlock' || cmd === '/usr/bin/cryptroot-unlock') && args.length === 0 && root && state.luks) {
    const luks = state.luks;
    if (root.open) return fail(1, `cryptsetup: ${root.name}: the device is already unlocked, the boot goes on\n`);
    if (luks.unlockTries >= luks.maxUnlockTries) return fail(1, `cryptsetup: ERROR: ${root.name}: maximum number of tries exceeded\n`);
    if (!ctx.stdin) return { needStdin: true };
    if (matchingSlot(root, ctx.stdin) >= 0) {
      root.open = true;
      root.openedFrom = root.paths[0]!;
      if (root.vg) root.vgActive = true;
      return ok(`cryptsetup: ${root.name} set up successfully\n`);
    }
    luks.unlockTries += 1;
    const gaveUp = luks.unlockTries >= luks.maxUnlockTries ? `cryptsetup: ERROR: ${root.name}: maximum number of tries exceeded\n` : '';
    return fail(1, `cryptsetup: ERROR: ${root.name}: cryptsetup failed, bad password or options?\n${gaveUp}`);
  }
  return fail(127, `sh: ${cmd ?? ''}: not found\n`);
}

// ---------------------------------------------------------------- the running system

function byPath(state: WithLuks, device: string): LuksVolume | undefined {
  const volumes = state.luks?.volumes ?? [];
  const uuid = /^(?:UUID=|\/dev\/disk\/by-uuid\/)(.+)$/.exec(device)?.[1];
  return uuid ? volumes.find((v) => v.uuid === uuid) : volumes.find((v) => v.paths.includes(device));
}

/** blkid's device order: plain disks first (sorted), then device-mapper nodes. */
function blkidOrder(a: string, b: string): number {
  const ma = a.startsWith('/dev/mapper/') ? 1 : 0;
  const mb = b.startsWith('/dev/mapper/') ? 1 : 0;
  return ma - mb || (a < b ? -1 : a > b ? 1 : 0);
}

function blkid(state: WithLuks, args: string[]): CommandResult | null {
  if (args.join(' ') !== '-t TYPE=crypto_LUKS') return null;
  const lines = (state.luks?.volumes ?? [])
    .flatMap((v) => v.paths.map((path) => ({ path, v })))
    .sort((x, y) => blkidOrder(x.path, y.path))
    .map(({ path, v }) => `${path}: UUID="${v.uuid}" TYPE="crypto_LUKS"${v.partuuid && path === v.paths[0] ? ` PARTUUID="${v.partuuid}"` : ''}\n`);
  return lines.length ? ok(lines.join('')) : fail(2, '');
}

function crypttab(luks: LuksState): string {
  return '# <target name> <source device> <key file> <options>\n'
    + luks.volumes.map((v) => `${v.name} UUID=${v.uuid} none ${v.root ? 'luks,discard,initramfs' : 'luks,noauto'}\n`).join('');
}

function dmsetupLs(luks: LuksState): CommandResult {
  const open = luks.volumes.map((v, i) => ({ v, minor: i })).filter(({ v }) => v.open).sort((a, b) => (a.v.name < b.v.name ? -1 : 1));
  if (!open.length) return ok('No devices found\n');
  return ok(open.map(({ v, minor }) => `${v.name}\t(254:${minor})\n`).join(''));
}

/** cryptsetup's passphrase from stdin: every byte with --key-file=-, else the first line (no tty: line mode). */
function lines(stdin: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < stdin.length; i++) if (stdin[i] === 0x0a) { out.push(stdin.subarray(start, i)); start = i + 1; }
  if (start < stdin.length) out.push(stdin.subarray(start));
  return out;
}

interface CryptsetupArgs { action: string; positional: string[]; keyFile: string | null; testPassphrase: boolean; luksType: boolean }

function parseCryptsetup(args: string[]): CryptsetupArgs | string {
  const parsed: CryptsetupArgs = { action: '', positional: [], keyFile: null, testPassphrase: false, luksType: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--key-file=')) parsed.keyFile = a.slice('--key-file='.length);
    else if (a === '--key-file' || a === '-d') { const v = args[++i]; if (v === undefined) return `${a} needs a value`; parsed.keyFile = v; }
    else if (a === '--test-passphrase') parsed.testPassphrase = true;
    else if (a === '--type' || a === '-M') { const v = args[++i]; if (v !== 'luks' && v !== 'luks1' && v !== 'luks2') return `the lab only simulates --type luks`; parsed.luksType = true; }
    else if (a === '-q' || a === '--batch-mode') { /* no prompt to skip: stdin is never a tty here */ }
    else if (a.startsWith('-')) return `option ${a} is not simulated`;
    else if (!parsed.action) parsed.action = a;
    else parsed.positional.push(a);
  }
  return parsed;
}

const NO_KEY = 'No key available with this passphrase.\n';

function deviceError(state: WithLuks, device: string): CommandResult {
  const mapped = state.luks?.volumes.some((v) => v.open && device === `/dev/mapper/${v.name}`);
  return fail(4, mapped ? `Device ${device} is not a valid LUKS device.\n` : `Device ${device} does not exist or access denied.\n`);
}

function cryptsetup(state: WithLuks, luks: LuksState, args: string[], stdin: Buffer | undefined): CommandResult | NeedStdin {
  const p = parseCryptsetup(args);
  if (typeof p === 'string') return fail(1, `cryptsetup: ${p} (runbook-lab)\n`);
  if (p.keyFile !== null && p.keyFile !== '-') return fail(1, `cryptsetup: the lab only simulates --key-file=- (stdin), got ${p.keyFile}\n`);
  const action = p.action === 'open' && p.luksType ? 'luksOpen' : p.action;
  const [device, name] = p.positional;

  if (action === 'status') {
    if (!device || p.positional.length !== 1) return fail(1, 'Usage: cryptsetup status <name>\n');
    const dm = device.replace(/^\/dev\/mapper\//, '');
    const v = luks.volumes.find((x) => x.open && x.name === dm);
    if (!v) return fail(4, '', `/dev/mapper/${dm} is inactive.\n`);
    return ok(`/dev/mapper/${dm} is active${v.vgActive ? ' and is in use' : ''}.\n`
      + '  type:    LUKS1\n  cipher:  aes-xts-plain64\n  keysize: 512 bits\n  key location: dm-crypt\n'
      + `  device:  ${v.openedFrom ?? v.paths[0]}\n  sector size:  512\n  offset:  4096 sectors\n  mode:    read/write\n`);
  }
  if (action !== 'luksOpen' && action !== 'luksAddKey' && action !== 'luksRemoveKey') {
    return fail(1, `cryptsetup: the lab only simulates luksOpen, open --type luks, luksAddKey, luksRemoveKey and status, not ${action || 'nothing'}\n`);
  }
  if (!device) return fail(1, `cryptsetup: ${action} needs a device\n`);
  const wantName = action === 'luksOpen' && !p.testPassphrase;
  if (p.positional.length !== (wantName ? 2 : 1)) return fail(1, `cryptsetup: ${action} takes ${wantName ? 'DEVICE NAME' : 'DEVICE'} (runbook-lab)\n`);
  const v = byPath(state, device);
  if (!v) return deviceError(state, device);
  if (action === 'luksAddKey' && p.keyFile !== null) return fail(1, 'cryptsetup: the lab simulates luksAddKey with both passphrases on stdin, one per line, without --key-file\n');
  if (wantName) {
    if (luks.volumes.some((x) => x.open && x.name === name)) return fail(5, `Device ${name} already exists.\n`);
    if (v.open) return fail(5, `Cannot use device ${device} which is in use (already mapped or mounted).\n`);
  }
  if (!stdin) return { needStdin: true };

  const keys = p.keyFile === '-' ? [stdin] : lines(stdin);
  const key = keys[0];
  if (!key || (p.keyFile === null && key.length === 0)) return fail(2, 'Nothing to read on input.\n');
  const slot = matchingSlot(v, key);
  if (slot < 0) return fail(2, NO_KEY);

  if (action === 'luksOpen') {
    if (p.testPassphrase) return ok();
    v.open = true;
    v.openedFrom = device;
    return ok();
  }
  if (action === 'luksAddKey') {
    const fresh = keys[1];
    if (!fresh || fresh.length === 0) return fail(2, 'Nothing to read on input.\n');
    const free = v.keySlots.indexOf(null);
    if (free < 0) return fail(1, 'All key slots full.\n');
    v.keySlots[free] = sealKey(fresh);
    return ok();
  }
  // luksRemoveKey: the first slot this passphrase opens, as cryptsetup does; never the last one.
  if (v.keySlots.filter((s) => s !== null).length === 1) {
    return fail(1, 'WARNING!\n========\nThis is the last keyslot. Device will become unusable after purging this key.\n\n'
      + 'Operation aborted, the keyslot was NOT wiped (runbook-lab never removes the last key).\n');
  }
  v.keySlots[slot] = null;
  return ok();
}

function vgchange(luks: LuksState, args: string[]): CommandResult {
  if (args[0] !== '-ay' && !(args[0] === '-a' && args[1] === 'y')) return fail(3, `  the lab only simulates vgchange -ay [VG...]\n`);
  const wanted = args.slice(args[0] === '-ay' ? 1 : 2);
  const visible = luks.volumes.filter((v) => v.open && v.vg);
  let stdout = '';
  let stderr = '';
  for (const name of wanted) {
    if (!visible.some((v) => v.vg === name)) stderr += `  Volume group "${name}" not found\n  Cannot process volume group ${name}\n`;
  }
  for (const v of visible) {
    if (wanted.length && !wanted.includes(v.vg!)) continue;
    v.vgActive = true;
    stdout += `  ${v.lvCount ?? 1} logical volume(s) in volume group "${v.vg}" now active\n`;
  }
  return stderr ? fail(5, stderr, stdout) : ok(stdout);
}

function vgs(luks: LuksState, args: string[]): CommandResult | null {
  if (args.join(' ') !== '--noheadings -o vg_name,lv_count') return null;
  const visible = luks.volumes.filter((v) => v.open && v.vg);
  const width = Math.max(0, ...visible.map((v) => v.vg!.length));
  return ok(visible.map((v) => `  ${v.vg!.padEnd(width)} ${String(v.lvCount ?? 1).padStart(3)}\n`).join(''));
}

/**
 * The LUKS commands of the running system, for any host kind: returns null when argv is not one of them, so
 * the kind's own interpreter goes on. The lab calls it before the kind's simulator.
 */
export function luksExec(state: WithLuks, argv: string[], ctx: ExecContext): CommandResult | NeedStdin | null {
  const [cmd0, ...args] = argv;
  const cmd = (cmd0 ?? '').replace(/^\/(usr\/)?s?bin\//, '');
  if (cmd === 'blkid') return blkid(state, args);
  const luks = state.luks;
  if (!luks) return null;
  switch (cmd) {
    case 'cat':
      return args.length === 1 && args[0] === '/etc/crypttab' ? ok(crypttab(luks)) : null;
    case 'dmsetup':
      return args.join(' ') === 'ls --target crypt' ? dmsetupLs(luks) : null;
    case 'cryptsetup':
      return cryptsetup(state, luks, args, ctx.stdin);
    case 'vgchange':
      return vgchange(luks, args);
    case 'vgs':
      return vgs(luks, args);
    default:
      return null;
  }
}
