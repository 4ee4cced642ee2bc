import net from 'node:net';

/**
 * A TCP forwarder on loopback between two nodes' sockets that can be cut like a network
 * partition: `partition()` stops moving bytes either way without closing anything, so neither
 * end sees a FIN or RST and each only learns of it from its own timers.
 */
export interface Partitionable {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  partition(): void;
  close(): void;
}

export async function partitionable(targetPort: number): Promise<Partitionable> {
  const pairs: [net.Socket, net.Socket][] = [];
  let accepted = 0;
  const server = net.createServer((down) => {
    accepted++;
    const up = net.connect(targetPort, '127.0.0.1');
    for (const s of [down, up]) s.on('error', () => {});
    down.pipe(up);
    up.pipe(down);
    pairs.push([down, up]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get accepted() { return accepted; },
    partition: () => {
      for (const [down, up] of pairs) {
        down.unpipe(up);
        up.unpipe(down);
        down.pause();
        up.pause();
      }
    },
    close: () => {
      server.close();
      for (const pair of pairs) for (const s of pair) s.destroy();
    },
  };
}
