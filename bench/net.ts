import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { BenchResult } from './result.js';
import { currentNetns, openNetns, type NetnsHandle } from '../agent/net/index.js';

/**
 * The native boundary's cost: making a socket inside a pod netns (setns in and out, socket,
 * options) and connecting through it, against Node's own net.connect in one namespace. Needs root
 * for the netns; without it only the agent-netns numbers are reported.
 */
const ROUNDS = 2_000;

async function connectRate(label: string, connect: () => Promise<net.Socket>): Promise<BenchResult> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) (await connect()).destroy();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { name: `sequential connects, ${label}`, value: Math.round(ROUNDS / seconds), unit: 'conn/s' };
}

function plainConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

async function sinkServer(ns: NetnsHandle): Promise<{ server: net.Server; port: number }> {
  const server = await ns.listen(0, { host: '127.0.0.1' });
  server.on('connection', (s: net.Socket) => s.on('error', () => undefined).resume());
  return { server, port: (server.address() as net.AddressInfo).port };
}

async function podNetnsResults(): Promise<BenchResult[]> {
  const name = `d1bench${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  const handle = openNetns(`/run/netns/${name}`);
  try {
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    const { server, port } = await sinkServer(handle);
    const listenStart = process.hrtime.bigint();
    const extra: net.Server[] = [];
    for (let i = 0; i < 100; i++) extra.push(await handle.listen(0, { host: '127.0.0.1' }));
    const listenUs = Number(process.hrtime.bigint() - listenStart) / 1e3 / 100;
    for (const s of extra) s.close();
    const rate = await connectRate('pod netns, marked (setns per socket)', () => handle.connect('127.0.0.1', port));
    server.close();
    return [{ name: 'open a listener in a pod netns (setns window + bind + listen)', value: Math.round(listenUs), unit: 'µs' }, rate];
  } finally {
    handle.close();
    execFileSync('ip', ['netns', 'del', name]);
  }
}

export async function run(): Promise<BenchResult[]> {
  const own = currentNetns();
  const { server, port } = await sinkServer(own);
  const results = [
    await connectRate('agent netns, Node net.connect', () => plainConnect(port)),
    await connectRate('agent netns, FFI socket adopted by Node', () => own.connect('127.0.0.1', port)),
  ];
  server.close();
  if (process.getuid?.() !== 0) {
    results.push({ name: 'pod netns numbers', value: 0, unit: '', note: 'skipped: requires root' });
    return results;
  }
  return [...results, ...(await podNetnsResults())];
}
