import net from 'node:net';
import { openNetns } from '../../agent/net/index.js';
import { roundTrip } from './sockets.js';

export interface TrafficReport {
  /** Connections that opened, echoed and closed cleanly. */
  readonly ok: number;
  /** What went wrong with the others: error codes (ECONNRESET, ECONNREFUSED…) or a description. */
  readonly failures: readonly string[];
}

/**
 * A stream of short connections, one after another with `gapMs` between them, each sending a line
 * to an echo server and waiting (at most `timeoutMs`) for it to come back. `stop()` ends the stream and reports.
 */
export function startTraffic(connect: () => Promise<net.Socket>, gapMs = 20, timeoutMs = 3_000): { stop(): Promise<TrafficReport>; count(): number } {
  let ok = 0;
  const failures: string[] = [];
  let running = true;
  const once = async (i: number) => {
    const sock = await connect();
    try {
      const line = `request ${i}\n`;
      const got = await roundTrip(sock, line);
      if (got !== line) throw new Error(`echo mismatch: ${JSON.stringify(got)}`);
      ok++;
    } finally {
      sock.destroy();
    }
  };
  const bounded = (i: number) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no echo within ${timeoutMs} ms`)), timeoutMs); });
    return Promise.race([once(i), timeout]).finally(() => clearTimeout(timer));
  };
  const loop = (async () => {
    for (let i = 0; running; i++) {
      await bounded(i).catch((err: NodeJS.ErrnoException) => failures.push(err.code ?? err.message));
      await new Promise((r) => setTimeout(r, gapMs));
    }
  })();
  return {
    count: () => ok + failures.length,
    async stop() {
      running = false;
      await loop;
      return { ok, failures };
    },
  };
}

/** An echo server on `port` inside the network namespace at `netnsPath`, closed at teardown. */
export async function echoServerIn(t: { teardown(fn: () => void): void }, netnsPath: string, port: number): Promise<void> {
  const h = openNetns(netnsPath);
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => { accepted.push(s); s.on('error', () => undefined); s.pipe(s); });
  await h.listen(port, { server });
  t.teardown(() => { server.close(); for (const s of accepted) s.destroy(); h.close(); });
}
