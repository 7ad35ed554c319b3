/**
 * The lab socket protocol: one JSON object per line, over dir/lab.sock.
 *
 * Forced command (lab/forced-command.c, run by sshd and dropbear for every SSH command):
 *   -> {type:'exec', host, stage, command, pid}
 *   <- {needStdin:true}                 then -> {type:'stdin', data: base64}
 *   <- {stdout: base64, stderr, exitCode}
 * Control (the runbook-lab CLI; the operations are in control.ts and the capabilities):
 *   -> {type:'control', op, host?, args?, flags?}
 *   <- {ok:true, result} | {ok:false, error}
 */
import type { Socket } from 'node:net';

export type Stage = 'openssh' | 'dropbear';

/** `pid`: the forced command's, so that a test can drop the SSH session carrying it (lab/faults.ts). */
export interface ExecRequest { type: 'exec'; host: string; stage: Stage; command: string | null; pid?: number }
export interface StdinMessage { type: 'stdin'; data: string }
/** A control operation: `op` its name, `host` the lab host it acts on, `args` its other parameters, `flags` its options given. */
export interface ControlRequest { type: 'control'; op: string; host?: string; args?: string[]; flags?: string[] }
export type ClientMessage = ExecRequest | StdinMessage | ControlRequest;

export type ExecReply = { needStdin: true } | { stdout: string; stderr: string; exitCode: number };
export type ControlReply = { ok: true; result: unknown } | { ok: false; error: string };

/** Call `onLine` with each parsed JSON line received on the socket. */
export function readLines(socket: Socket, onLine: (message: unknown) => void): void {
  let buffer = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) onLine(JSON.parse(line));
    }
  });
}

export function send(socket: Socket, message: unknown): void {
  socket.write(`${JSON.stringify(message)}\n`);
}
