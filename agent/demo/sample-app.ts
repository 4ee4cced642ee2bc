#!/usr/bin/env node
/**
 * The demo's sample workloads, run inside pod network namespaces (`ip netns exec <pod> node
 * sample-app.js ...`). Plain TCP and HTTP with no mesh awareness at all:
 *   serve --name NS/NAME --port PORT   greet each connection with who we saw, then echo
 *   call HOST:PORT [--timeout MS]      connect, send a line, print what happened as one JSON line
 *   get URL [--wait MS]                HTTP GET (retried until 200 or the wait ends), print the body
 */
import { createServer, connect } from 'node:net';
import { get as httpGet } from 'node:http';
import { parseArgs } from 'node:util';

function serve(name: string, port: number): void {
  const server = createServer((socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    process.stdout.write(JSON.stringify({ event: 'connection', from: peer, time: new Date().toISOString() }) + '\n');
    socket.on('error', () => socket.destroy());
    socket.write(`hello from ${name}; I see you as ${peer}\n`);
    socket.pipe(socket);
  });
  server.listen(port, () => process.stdout.write(JSON.stringify({ event: 'listening', port }) + '\n'));
}

interface CallResult {
  connected: boolean;
  reply: string;
  ended: 'closed' | 'reset' | 'timeout' | 'refused' | 'error';
  error?: string;
}

function call(target: string, timeoutMs: number): Promise<CallResult> {
  const i = target.lastIndexOf(':');
  const [host, port] = [target.slice(0, i).replace(/^\[|\]$/g, ''), Number(target.slice(i + 1))];
  return new Promise((resolve) => {
    const result: CallResult = { connected: false, reply: '', ended: 'closed' };
    const socket = connect({ host, port });
    const timer = setTimeout(() => { result.ended = 'timeout'; socket.destroy(); }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => { result.connected = true; socket.write('ping from the demo\n'); });
    socket.on('data', (d: string) => {
      result.reply += d;
      if (result.reply.includes('ping from the demo\n')) socket.end();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      result.ended = err.code === 'ECONNRESET' ? 'reset' : err.code === 'ECONNREFUSED' ? 'refused' : 'error';
      result.error = err.code ?? err.message;
    });
    socket.on('close', () => { clearTimeout(timer); resolve(result); });
  });
}

function getOnce(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function getUntilOk(url: string, waitMs: number): Promise<number> {
  const deadline = Date.now() + waitMs;
  let last = '';
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    try {
      const r = await getOnce(url);
      if (r.status === 200) {
        process.stdout.write(r.body);
        return 0;
      }
      last = `HTTP ${r.status}: ${r.body.trim().slice(0, 300)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() + delay > deadline) {
      process.stderr.write(`GET ${url} did not succeed: ${last}\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest, allowPositionals: true,
    options: { name: { type: 'string' }, port: { type: 'string' }, timeout: { type: 'string' }, wait: { type: 'string' } },
  });
  if (command === 'serve' && values.name && values.port) {
    serve(values.name, Number(values.port));
    return new Promise(() => { /* serves until killed */ });
  }
  if (command === 'call' && positionals[0]) {
    process.stdout.write(JSON.stringify(await call(positionals[0], Number(values.timeout ?? 5000))) + '\n');
    return 0;
  }
  if (command === 'get' && positionals[0]) return getUntilOk(positionals[0], Number(values.wait ?? 0));
  process.stderr.write('usage: sample-app serve --name NS/NAME --port PORT | call HOST:PORT [--timeout MS] | get URL [--wait MS]\n');
  return 2;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
