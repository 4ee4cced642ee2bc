import { createHash } from 'node:crypto';
import type net from 'node:net';
import { privilegedTest } from '../helpers/privileged.js';
import { startDataplane } from './dataplane-harness.js';

/**
 * Backpressure end to end: a reader that stops must stop the writer at the other end of the
 * mesh, and what the two agents hold meanwhile must be bounded by the flow-control windows, not
 * by what the writer offers. Both agents, the application and the client run in this process,
 * so its memory is theirs together. Between the writer and the stopped reader the agents may
 * hold at most: an HTTP/2 stream window (4 MiB) of received DATA the inbound agent cannot write
 * on, plus each Node stream's high-water mark and the TLS records in flight; the kernel's socket
 * buffers (several MB per hop) are not process memory. 64 MB leaves room for the garbage
 * collector's lag while far below the 1 GB offered.
 */
const PORT = 8080;
const OFFERED = 1024 * 1024 * 1024;
const BLOCK = 1024 * 1024;
const BOUND = 64 * 1024 * 1024;
const STALL_MS = 2_000;

const used = () => { const m = process.memoryUsage(); return m.heapUsed + m.external; };

interface Writer { readonly written: () => number; readonly stalled: Promise<void>; readonly hash: () => string; readonly done: Promise<void> }

/** Writes up to OFFERED bytes, honouring `drain`; `stalled` resolves once no drain came for STALL_MS. */
function writeAll(sock: net.Socket): Writer {
  const hash = createHash('sha256');
  let written = 0;
  let markStalled!: () => void;
  const stalled = new Promise<void>((resolve) => { markStalled = resolve; });
  const done = (async () => {
    const block = Buffer.alloc(BLOCK);
    for (let i = 0; written < OFFERED; i++) {
      block.writeUInt32LE(i, 0);
      hash.update(block);
      written += BLOCK;
      if (!sock.write(Buffer.from(block))) {
        const timer = setTimeout(markStalled, STALL_MS);
        await new Promise((r) => sock.once('drain', r));
        clearTimeout(timer);
      }
    }
    sock.end();
  })();
  return { written: () => written, stalled, hash: () => hash.digest('hex'), done };
}

/** Counts and hashes what `sock` reads; paused until `resume()`. */
function slowReader(sock: net.Socket) {
  const hash = createHash('sha256');
  let read = 0;
  sock.pause();
  sock.on('data', (c: Buffer) => { read += c.length; hash.update(c); });
  const ended = new Promise<void>((resolve) => sock.once('end', () => resolve()));
  return { read: () => read, resume: () => sock.resume(), ended, hash: () => hash.digest('hex') };
}

/** Samples `used()` every 50 ms; `peak()` is the highest above `base`. */
function sampler(base: number) {
  let peak = 0;
  const timer = setInterval(() => { peak = Math.max(peak, used() - base); }, 50);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

privilegedTest('a stopped reader stops the writer across the mesh, both ways, with the agents\' memory bounded by the windows; every byte arrives once it reads again', async (t) => {
  const dp = await startDataplane(t);
  const accepted: net.Socket[] = [];
  const arrived = new Promise<net.Socket>((resolve) => {
    void dp.serve('b', PORT, (s) => { s.on('error', () => {}); accepted.push(s); resolve(s); });
  });

  // Client → server, the application not reading.
  const client = await dp.connect('a', 'b', PORT);
  const server = await arrived;
  const reader = slowReader(server);
  global.gc?.();
  const base = used();
  const memory = sampler(base);
  const writer = writeAll(client);
  await writer.stalled;
  const held = writer.written() - reader.read();
  t.log(`upload: the writer stalled after ${(writer.written() / 2 ** 20).toFixed(0)} MB of ${OFFERED / 2 ** 20} MB; memory peak +${(memory.peak() / 2 ** 20).toFixed(1)} MB`);
  t.true(writer.written() < OFFERED / 4, `the writer went on to ${writer.written()} bytes with nobody reading`);
  t.true(memory.peak() < BOUND, `the agents held ${memory.peak()} bytes more (bound ${BOUND}) with ${held} bytes between writer and reader`);
  // Once it reads again everything arrives, in order.
  reader.resume();
  await Promise.all([writer.done, reader.ended]);
  memory.stop();
  t.is(reader.read(), OFFERED);
  t.is(reader.hash(), writer.hash());

  // Server → client, the client not reading.
  const down = slowReader(client);
  const base2 = used();
  const memory2 = sampler(base2);
  const serverWriter = writeAll(server);
  await serverWriter.stalled;
  t.log(`download: the writer stalled after ${(serverWriter.written() / 2 ** 20).toFixed(0)} MB; memory peak +${(memory2.peak() / 2 ** 20).toFixed(1)} MB`);
  t.true(serverWriter.written() < OFFERED / 4, `the server went on to ${serverWriter.written()} bytes with nobody reading`);
  t.true(memory2.peak() < BOUND, `the agents held ${memory2.peak()} bytes more (bound ${BOUND})`);
  down.resume();
  await Promise.all([serverWriter.done, down.ended]);
  memory2.stop();
  t.is(down.read(), OFFERED);
  t.is(down.hash(), serverWriter.hash());
}, ['ip', 'iptables']);
