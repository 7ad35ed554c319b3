/**
 * The LUKS commands: cryptroot-unlock in the initramfs, and blkid, cryptsetup, dmsetup, vgchange and vgs in the
 * running system, with /etc/crypttab. Outputs follow the real tools (test/fixtures/outputs/).
 */
import { fail, ok, type CommandResult, type NeedStdin } from '../../core/types.js';
import { matchingSlot, rootVolume, sealKey, type LuksState, type LuksVolume, type WithLuks } from './volumes.js';

/** From a successful cryptroot-unlock to OpenSSH answering, when the host's LUKS state does not say. */
const DEFAULT_UNLOCK_BOOT_DELAY_MS = 300;

/**
 * cryptroot-unlock, in the initramfs behind dropbear (BusyBox). It reads the whole of stdin as the passphrase, as
 * the askpass does: a trailing newline is part of it. On success the root volume is open and its VG active, and
 * the boot goes on to the system. null (not found) on a host without a LUKS root.
 */
export function cryptrootUnlock(state: WithLuks, args: string[], stdin: Buffer | undefined): CommandResult | NeedStdin | null {
  const root = rootVolume(state);
  const luks = state.luks;
  if (args.length !== 0 || !root || !luks) return null;
  if (root.open) return fail(1, `cryptsetup: ${root.name}: the device is already unlocked, the boot goes on\n`);
  if (luks.unlockTries >= luks.maxUnlockTries) return fail(1, `cryptsetup: ERROR: ${root.name}: maximum number of tries exceeded\n`);
  if (!stdin) return { needStdin: true };
  if (matchingSlot(root, stdin) >= 0) {
    root.open = true;
    root.openedFrom = root.paths[0]!;
    if (root.vg) root.vgActive = true;
    return { ...ok(`cryptsetup: ${root.name} set up successfully\n`), after: 'continue-boot', restOfBootMs: luks.unlockBootDelayMs ?? DEFAULT_UNLOCK_BOOT_DELAY_MS };
  }
  luks.unlockTries += 1;
  const gaveUp = luks.unlockTries >= luks.maxUnlockTries ? `cryptsetup: ERROR: ${root.name}: maximum number of tries exceeded\n` : '';
  return fail(1, `cryptsetup: ERROR: ${root.name}: cryptsetup failed, bad password or options?\n${gaveUp}`);
}

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

export function blkid(state: WithLuks, args: string[]): CommandResult | null {
  if (args.join(' ') !== '-t TYPE=crypto_LUKS') return null;
  const lines = (state.luks?.volumes ?? [])
    .flatMap((v) => v.paths.map((path) => ({ path, v })))
    .sort((x, y) => blkidOrder(x.path, y.path))
    .map(({ path, v }) => `${path}: UUID="${v.uuid}" TYPE="crypto_LUKS"${v.partuuid && path === v.paths[0] ? ` PARTUUID="${v.partuuid}"` : ''}\n`);
  return lines.length ? ok(lines.join('')) : fail(2, '');
}

export function crypttab(luks: LuksState): string {
  return '# <target name> <source device> <key file> <options>\n'
    + luks.volumes.map((v) => `${v.name} UUID=${v.uuid} none ${v.root ? 'luks,discard,initramfs' : 'luks,noauto'}\n`).join('');
}

export function dmsetupLs(luks: LuksState): CommandResult {
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

export function cryptsetup(state: WithLuks, luks: LuksState, args: string[], stdin: Buffer | undefined): CommandResult | NeedStdin {
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

export function vgchange(luks: LuksState, args: string[]): CommandResult {
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

/** `lvs --noheadings -o vg_name,lv_attr`: one line per logical volume of the open volumes; attr[4] 'a' when active. */
export function lvs(luks: LuksState, args: string[]): CommandResult | null {
  if (args.join(' ') !== '--noheadings -o vg_name,lv_attr') return null;
  const visible = luks.volumes.filter((v) => v.open && v.vg);
  const width = Math.max(0, ...visible.map((v) => v.vg!.length));
  return ok(visible.flatMap((v) => Array.from({ length: v.lvCount ?? 1 }, () => `  ${v.vg!.padEnd(width)} -wi-${v.vgActive ? 'a' : '-'}-----\n`)).join(''));
}

export function vgs(luks: LuksState, args: string[]): CommandResult | null {
  if (args.join(' ') !== '--noheadings -o vg_name,lv_count') return null;
  const visible = luks.volumes.filter((v) => v.open && v.vg);
  const width = Math.max(0, ...visible.map((v) => v.vg!.length));
  return ok(visible.map((v) => `  ${v.vg!.padEnd(width)} ${String(v.lvCount ?? 1).padStart(3)}\n`).join(''));
}
