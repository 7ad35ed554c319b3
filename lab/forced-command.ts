/**
 * The ForceCommand of every lab sshd: `node forced-command.js <socket> <host> [stage]`.
 * A tiny client: the state and the simulator live in the lab process, behind the socket.
 */
import { connect } from 'node:net';
import { readLines, send, type ExecReply } from './protocol.js';

const [socketPath, host, stage = 'openssh'] = process.argv.slice(2);
if (!socketPath || !host) {
  process.stderr.write('usage: forced-command.js SOCKET HOST [STAGE]\n');
  process.exit(255);
}

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
socket.on('error', (error) => {
  process.stderr.write(`runbook-lab: the lab is not answering (${error.message})\n`);
  process.exit(255);
});
socket.on('close', () => {
  if (!done) {
    process.stderr.write('runbook-lab: the lab closed the connection\n');
    process.exit(255);
  }
});
socket.on('connect', () => {
  send(socket, { type: 'exec', host, stage, command: process.env.SSH_ORIGINAL_COMMAND ?? null });
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
