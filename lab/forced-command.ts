/**
 * The ForceCommand of every lab sshd: `node forced-command.js <socket> <host> [stage]`, installed under
 * /run/runbook-lab by lab/sshd.ts (the lab user may not be able to enter the clone).
 * A tiny client: the state and the simulator live in the lab process, behind the socket.
 */
import { connect } from 'node:net';
import { readLines, send, type ExecReply } from './protocol.js';

// Every failure of ours is loud: a message on stderr (the SSH client gets it) and exit 255, never empty output.
function fail(message: string): never {
  process.stderr.write(`runbook-lab: ${message}\n`);
  process.exit(255);
}
process.on('uncaughtException', (error) => fail(`the forced command failed: ${error.stack ?? String(error)}`));
process.on('unhandledRejection', (error) => fail(`the forced command failed: ${String(error)}`));

const args = process.argv.slice(2);
// --probe (lab/sshd.ts, before the lab starts): only check that the lab user reaches the lab socket.
const probe = args.at(-1) === '--probe';
if (probe) args.pop();
const [socketPath, host, stage = 'openssh'] = args;
if (!socketPath || !host) fail('usage: forced-command.js SOCKET HOST [STAGE] [--probe]');

function readStdin(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', reject);
  });
}

const socket = connect(socketPath);
let done = false;
socket.on('error', (error) => fail(`the lab is not answering on ${socketPath} (uid ${process.getuid?.()}): ${error.message}`));
socket.on('close', () => {
  if (!done) fail('the lab closed the connection before answering');
});
socket.on('connect', () => {
  if (probe) {
    done = true;
    socket.end();
    process.exit(0);
  }
  send(socket, { type: 'exec', host, stage, command: process.env.SSH_ORIGINAL_COMMAND ?? null, pid: process.pid });
});
readLines(socket, (message) => {
  const reply = message as ExecReply;
  if ('needStdin' in reply) {
    void readStdin().then((data) => send(socket, { type: 'stdin', data: data.toString('base64') }));
    return;
  }
  done = true;
  socket.end();
  process.stderr.write(reply.stderr);
  process.stdout.write(Buffer.from(reply.stdout, 'base64'), () => process.exit(reply.exitCode));
});
