/**
 * runbook-lab: play the people on site for a running lab (started by `npm start` or a test).
 * Talks to the lab over its socket: $RUNBOOK_LAB_DIR/lab.sock (the name npm start reads, so a second stack's lab
 * is found), else ./.lab/lab.sock. The commands are the lab's control operations (control.ts and each capability's).
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { checkCall, controlOperation, controlOperations, synopsis } from './control.js';
import type { ControlOperation } from './core/capability.js';
import { readLines, send, type ControlReply, type ControlRequest } from './protocol.js';

const HELP_COLUMN = 39;

function usage(): string {
  const lines = ['usage: runbook-lab COMMAND', ''];
  for (const op of controlOperations()) {
    const head = `  ${synopsis(op)}`;
    const help = [...op.help.split('\n'), ...Object.entries(op.flags ?? {}).map(([flag, text]) => `--${flag}: ${text}`)];
    if (head.length < HELP_COLUMN - 1) lines.push(`${head.padEnd(HELP_COLUMN)}${help.shift()}`);
    else lines.push(head);
    for (const more of help) lines.push(`${' '.repeat(HELP_COLUMN)}${more}`);
  }
  lines.push('', 'The lab is found at $RUNBOOK_LAB_DIR/lab.sock, else ./.lab/lab.sock.', '');
  return lines.join('\n');
}

function socketPath(): string {
  const dir = process.env.RUNBOOK_LAB_DIR ? resolve(process.env.RUNBOOK_LAB_DIR) : resolve('.lab');
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

/** `swap-disk dom0-a 0 --rename-on-boot` -> the request, checked as the lab will check it. */
function parse(argv: string[]): { op: ControlOperation; message: ControlRequest } {
  const [name, ...rest] = argv;
  const op = name === undefined ? undefined : controlOperation(name);
  if (!op) die(name === undefined ? usage() : `unknown command ${name}\n\n${usage()}`, 2);
  const usageError = (error: unknown): never => die(`${(error as Error).message}\n\n${usage()}`, 2);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    const options = Object.fromEntries(Object.keys(op.flags ?? {}).map((flag) => [flag, { type: 'boolean' as const }]));
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (error) {
    return usageError(error);
  }
  const takesHost = op.params[0]?.name === 'HOST';
  const [first, ...others] = parsed.positionals;
  const message: ControlRequest = {
    type: 'control', op: op.name,
    ...(takesHost && first !== undefined ? { host: first } : {}),
    args: takesHost ? others : parsed.positionals,
    flags: Object.keys(parsed.values).filter((flag) => parsed.values[flag] === true),
  };
  try {
    checkCall(op, message);
  } catch (error) {
    usageError(error);
  }
  return { op, message };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') { process.stdout.write(usage()); return; }
  const { op, message } = parse(argv);
  const path = socketPath();
  if (!existsSync(path)) die(`no lab is running (no socket at ${path}): start one with \`npm start\`, or set RUNBOOK_LAB_DIR to its directory`);
  let reply: ControlReply;
  try {
    reply = await request(path, message);
  } catch (error) {
    die(`no lab is answering at ${path} (${(error as Error).message}): start one with \`npm start\`, or set RUNBOOK_LAB_DIR`);
  }
  if (!reply.ok) die(reply.error);
  const text = op.print ? op.print(reply.result) : 'done';
  if (text) console.log(text);
}

await main();
