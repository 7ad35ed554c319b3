/**
 * runbook-lab: play the people on site for a running lab (started by `npm start` or a test).
 * Talks to the lab over its socket: $LAB_DIR/lab.sock, else ./.lab/lab.sock.
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { readLines, send, type ControlReply, type ControlRequest } from './protocol.js';

const USAGE = `usage: runbook-lab COMMAND

  status                               hosts, power (stage), disks and arrays, LUKS volumes
  swap-disk HOST SLOT [--rename-on-boot]
                                       replace the disk in SLOT by a new blank one (hot if the host is up);
                                       --rename-on-boot: the next boot enumerates disks in reverse order
  fail-disk HOST SLOT                  the disk in SLOT fails: its RAID members become faulty
  power-on HOST                        press the power button of a host that is off; also repairs a host
                                       that never comes back (clears the flag)
  power-cycle HOST                     hard reset: down at once, then boots (unless it never comes back);
                                       unsticks an initramfs that gave up after too many wrong passphrases
  never-comes-back HOST [--clear]      after its next reboot or poweroff the host stays down until power-on
  audit HOST                           every command the host received, with its exit code

The lab is found at $LAB_DIR/lab.sock, else ./.lab/lab.sock.
`;

function socketPath(): string {
  const dir = process.env.LAB_DIR ? resolve(process.env.LAB_DIR) : resolve('.lab');
  return join(dir, 'lab.sock');
}

function request(path: string, message: ControlRequest): Promise<ControlReply> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect(path);
    socket.on('error', reject);
    socket.on('connect', () => send(socket, message));
    readLines(socket, (reply) => {
      socket.end();
      resolvePromise(reply as ControlReply);
    });
  });
}

function die(message: string, code = 1): never {
  process.stderr.write(`runbook-lab: ${message}\n`);
  process.exit(code);
}

function slotArg(value: string | undefined): number {
  const slot = Number(value);
  if (value === undefined || !Number.isInteger(slot) || slot < 0) die(`SLOT must be a disk slot number, got ${value ?? 'nothing'}\n\n${USAGE}`, 2);
  return slot;
}

function parse(argv: string[]): ControlRequest {
  const [op, ...rest] = argv;
  const flags = rest.filter((a) => a.startsWith('--'));
  const args = rest.filter((a) => !a.startsWith('--'));
  const unknown = flags.filter((f) => !(op === 'swap-disk' && f === '--rename-on-boot') && !(op === 'never-comes-back' && f === '--clear'));
  if (unknown.length) die(`unknown option ${unknown[0]}\n\n${USAGE}`, 2);
  const host = () => args[0] ?? die(`${op} needs a HOST\n\n${USAGE}`, 2);
  switch (op) {
    case 'status':
      return { type: 'control', op };
    case 'swap-disk':
      return { type: 'control', op, host: host(), slot: slotArg(args[1]), renameOnBoot: flags.includes('--rename-on-boot') };
    case 'fail-disk':
      return { type: 'control', op, host: host(), slot: slotArg(args[1]) };
    case 'power-on':
    case 'power-cycle':
    case 'audit':
      return { type: 'control', op, host: host() };
    case 'never-comes-back':
      return { type: 'control', op, host: host(), value: !flags.includes('--clear') };
    default:
      die(op ? `unknown command ${op}\n\n${USAGE}` : USAGE, 2);
  }
}

interface StatusHost {
  name: string; address: string; power: string; up: boolean; neverComesBack?: boolean;
  disks?: { slot: number; kname: string | null; serial: string }[];
  arrays?: { name: string; members: { serial: string; partition: number; state: string }[] }[];
  luks?: { unlockTries: number; maxUnlockTries: number; volumes: { name: string; root: boolean; open: boolean; vg: string | null; vgActive: boolean; keys: number }[] };
}

function print(op: ControlRequest['op'], result: unknown): void {
  if (op === 'status') {
    const status = result as { dir: string; inventory: string; hosts: StatusHost[] };
    console.log(`lab ${status.dir} (SIMULATED hosts), inventory ${status.inventory}`);
    for (const h of status.hosts) {
      console.log(`\n${h.name}  ${h.address}  ${h.up ? 'up' : 'DOWN'} (${h.power})${h.neverComesBack ? '  NEVER COMES BACK until power-on' : ''}`);
      for (const d of [...(h.disks ?? [])].sort((a, b) => a.slot - b.slot)) console.log(`  slot ${d.slot}: ${d.kname ?? '-'}  serial ${d.serial}`);
      for (const a of h.arrays ?? []) {
        const members = a.members.map((m) => `${h.disks?.find((d) => d.serial === m.serial)?.kname ?? m.serial}${m.partition}(${m.state})`);
        console.log(`  ${a.name}: ${members.join(' ') || '(no members)'}`);
      }
      if (h.luks) {
        for (const v of h.luks.volumes) {
          console.log(`  luks ${v.name}${v.root ? ' (root)' : ''}: ${v.open ? 'open' : 'closed'}, ${v.keys} key(s)${v.vg ? `, vg ${v.vg} ${v.vgActive ? 'active' : 'inactive'}` : ''}`);
        }
        if (h.power === 'dropbear') console.log(`  cryptroot-unlock tries: ${h.luks.unlockTries}/${h.luks.maxUnlockTries}`);
      }
    }
  } else if (op === 'audit') {
    for (const e of result as { time: string; stage: string; command: string; exitCode: number }[]) {
      console.log(`${e.time}  ${e.stage.padEnd(8)}  exit ${String(e.exitCode).padEnd(3)}  ${e.command}`);
    }
  } else if (op === 'power-on' || op === 'power-cycle') {
    console.log(`now ${(result as { power: string }).power}`);
  } else if (op === 'swap-disk') {
    const disk = result as { slot: number; serial: string; kname: string | null };
    console.log(`slot ${disk.slot}: new blank disk, serial ${disk.serial}${disk.kname ? `, now ${disk.kname}` : ' (named at next boot)'}`);
  } else {
    console.log('done');
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') { process.stdout.write(USAGE); return; }
  const message = parse(argv);
  const path = socketPath();
  if (!existsSync(path)) die(`no lab is running (no socket at ${path}): start one with \`npm start\`, or set LAB_DIR to its directory`);
  let reply: ControlReply;
  try {
    reply = await request(path, message);
  } catch (error) {
    die(`no lab is answering at ${path} (${(error as Error).message}): start one with \`npm start\`, or set LAB_DIR`);
  }
  if (!reply.ok) die(reply.error);
  print(message.op, reply.result);
}

await main();
