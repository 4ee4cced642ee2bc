import net from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * The load generator and application server of bench/dataplane.ts, run as separate processes
 * inside pod network namespaces so the proxy under test is measured on its own. Prints one JSON
 * line with its result.
 *
 *   serve <echoPort> <sinkPort>               echo server and byte sink (replies with the count)
 *   throughput <host> <port> <seconds> [n]    one stream (or n in parallel), as fast as possible
 *   bytes <host> <port> <megabytes>           one stream of exactly that many MB (1 MB = 2^20)
 *   latency <host> <port> <requests>          sequential 1 KB request/response on one connection
 *   connrate <host> <port> <seconds> <conc>   new connection + 1 KB exchange, `conc` in parallel
 *   connections <host> <port> <count> <conc>  as connrate, `count` connections; rate per quarter
 *   rate <host> <port> <perSecond> <seconds>  paced 1 KB exchanges over 8 connections
 *   hold <host> <port> <count>                `count` connections, 1 KB each way, then held open
 */
const MSG = 1024;

function serve(echoPort: number, sinkPort: number): void {
  const echo = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => { s.on('error', () => {}); s.pipe(s); });
  const sink = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    let n = 0;
    s.on('error', () => {});
    s.on('data', (c: Buffer) => { n += c.length; });
    s.on('end', () => s.end(String(n)));
  });
  let listening = 0;
  const ready = () => { if (++listening === 2) process.stdout.write('{"listening":true}\n'); };
  echo.listen(echoPort, '0.0.0.0', ready);
  sink.listen(sinkPort, '0.0.0.0', ready);
}

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true }, () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

async function throughput(host: string, port: number, seconds: number, streams: number): Promise<object> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const counts = await Promise.all(Array.from({ length: streams }, () => stream(host, port, deadline)));
  return { bytes: counts.reduce((a, b) => a + b, 0), seconds: (performance.now() - started) / 1000 };
}

/** The byte count the sink answers once the stream ended. */
function sinkCount(s: net.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    s.on('data', (d: Buffer) => { text += d.toString(); });
    s.on('end', () => resolve(Number(text)));
    s.on('error', reject);
  });
}

const BLOCK = Buffer.alloc(256 * 1024, 7);

/** Writes until `deadline`, then ends; resolves with the byte count the sink answered. */
async function stream(host: string, port: number, deadline: number): Promise<number> {
  const s = await connect(host, port);
  const reply = sinkCount(s);
  while (performance.now() < deadline) {
    if (!s.write(BLOCK)) await new Promise((r) => s.once('drain', r));
  }
  s.end();
  return reply;
}

/** One stream of a known size, so that per-MB counts (syscalls, allocations) can be divided out. */
async function fixedBytes(host: string, port: number, megabytes: number): Promise<object> {
  const s = await connect(host, port);
  const started = performance.now();
  const reply = sinkCount(s);
  for (let left = megabytes * 4; left > 0; left--) {
    if (!s.write(BLOCK)) await new Promise((r) => s.once('drain', r));
  }
  s.end();
  const bytes = await reply;
  if (bytes !== megabytes * 1024 * 1024) throw new Error(`the sink counted ${bytes} bytes, not ${megabytes} MB`);
  return { bytes, seconds: (performance.now() - started) / 1000 };
}

/** Sends one 1 KB message and waits until 1 KB came back. */
function roundTrip(s: net.Socket, msg: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (d: Buffer) => {
      got += d.length;
      if (got >= MSG) { s.off('data', onData); s.off('error', reject); resolve(); }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(msg);
  });
}

async function latency(host: string, port: number, requests: number): Promise<object> {
  const s = await connect(host, port);
  const msg = Buffer.alloc(MSG, 1);
  for (let i = 0; i < 50; i++) await roundTrip(s, msg);
  const samples: number[] = [];
  for (let i = 0; i < requests; i++) {
    const t0 = performance.now();
    await roundTrip(s, msg);
    samples.push((performance.now() - t0) * 1000);
  }
  s.destroy();
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!;
  return { p50us: at(0.5), p99us: at(0.99) };
}

/**
 * New connection + 1 KB exchange + close, `concurrency` at a time, while `another()` allows;
 * the completion time of each connection, in order.
 */
async function shortConnections(host: string, port: number, concurrency: number, another: () => boolean): Promise<{ started: number; done: number[]; failed: number }> {
  const msg = Buffer.alloc(MSG, 2);
  const done: number[] = [];
  let failed = 0;
  const worker = async () => {
    while (another()) {
      try {
        const s = await connect(host, port);
        await roundTrip(s, msg);
        s.destroy();
        done.push(performance.now());
      } catch {
        failed++;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { started, done, failed };
}

async function connrate(host: string, port: number, seconds: number, concurrency: number): Promise<object> {
  const deadline = performance.now() + seconds * 1000;
  const { started, done, failed } = await shortConnections(host, port, concurrency, () => performance.now() < deadline);
  return { perSecond: done.length / ((performance.now() - started) / 1000), failed };
}

/**
 * Exactly `count` short connections; the rate of each quarter of them, in completion order, and
 * when each quarter ended (`marks`, Unix ms, the start first) so another process can line its own
 * measurements up with them.
 */
async function connections(host: string, port: number, count: number, concurrency: number): Promise<object> {
  let left = count;
  const { started, done, failed } = await shortConnections(host, port, concurrency, () => left-- > 0);
  const quarter = Math.floor(done.length / 4);
  const bounds = [started, ...[1, 2, 3, 4].map((i) => done[i * quarter - 1] ?? started)];
  const quarters = [0, 1, 2, 3].map((i) => quarter / ((bounds[i + 1]! - bounds[i]!) / 1000));
  const marks = bounds.map((t) => performance.timeOrigin + t);
  return { done: done.length, failed, seconds: (bounds[4]! - started) / 1000, quarters, marks };
}

/** Opens `count` connections, 1 KB each way on each, and holds them open until killed. */
async function hold(host: string, port: number, count: number): Promise<void> {
  const msg = Buffer.alloc(MSG, 4);
  const held: net.Socket[] = [];
  while (held.length < count) {
    const batch = await Promise.all(Array.from({ length: Math.min(16, count - held.length) }, async () => {
      const s = await connect(host, port);
      await roundTrip(s, msg);
      return s;
    }));
    held.push(...batch);
  }
  process.stdout.write(JSON.stringify({ held: held.length }) + '\n');
}

async function rate(host: string, port: number, perSecond: number, seconds: number): Promise<object> {
  const conns = await Promise.all(Array.from({ length: 8 }, () => connect(host, port)));
  const msg = Buffer.alloc(MSG, 3);
  const started = performance.now();
  const interval = (1000 * conns.length) / perSecond;
  let done = 0;
  await Promise.all(conns.map(async (s, i) => {
    let next = started + (i * interval) / conns.length;
    while (next < started + seconds * 1000) {
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await roundTrip(s, msg);
      done++;
      next += interval;
    }
    s.destroy();
  }));
  return { achieved: done / ((performance.now() - started) / 1000) };
}

async function main(argv: string[]): Promise<void> {
  const [mode, ...rest] = argv;
  const n = (i: number) => Number(rest[i]);
  if (mode === 'serve') { serve(n(0), n(1)); return; }
  if (mode === 'hold') { await hold(rest[0] ?? '', n(1), n(2)); return; }
  const host = rest[0] ?? '';
  let result: object;
  if (mode === 'throughput') result = await throughput(host, n(1), n(2), rest[3] === undefined ? 1 : n(3));
  else if (mode === 'bytes') result = await fixedBytes(host, n(1), n(2));
  else if (mode === 'latency') result = await latency(host, n(1), n(2));
  else if (mode === 'connrate') result = await connrate(host, n(1), n(2), n(3));
  else if (mode === 'connections') result = await connections(host, n(1), n(2), n(3));
  else if (mode === 'rate') result = await rate(host, n(1), n(2), n(3));
  else throw new Error(`unknown mode ${String(mode)}`);
  process.stdout.write(JSON.stringify(result) + '\n');
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
