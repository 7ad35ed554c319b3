/**
 * The lab socket protocol: one JSON object per line, over dir/lab.sock.
 *
 * Forced command (run by sshd for every SSH command):
 *   -> {type:'exec', host, stage, command}
 *   <- {needStdin:true}                 then -> {type:'stdin', data: base64}
 *   <- {stdout: base64, stderr, exitCode}
 * Control (the runbook-lab CLI):
 *   -> {type:'control', op, host?, slot?, renameOnBoot?, value?}
 *   <- {ok:true, result} | {ok:false, error}
 */
import type { Socket } from 'node:net';

export type Stage = 'openssh' | 'dropbear';

export interface ExecRequest { type: 'exec'; host: string; stage: Stage; command: string | null }
export interface StdinMessage { type: 'stdin'; data: string }
export type ControlOp = 'status' | 'swap-disk' | 'fail-disk' | 'power-on' | 'power-cycle' | 'never-comes-back' | 'audit';
/** `value`: for never-comes-back, set (true, the default) or clear the flag. */
export interface ControlRequest { type: 'control'; op: ControlOp; host?: string; slot?: number; renameOnBoot?: boolean; value?: boolean }
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
