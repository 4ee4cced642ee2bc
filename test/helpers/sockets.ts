import net from 'node:net';

/** Writes `text` and resolves with the first `text.length` bytes that come back. */
export function roundTrip(sock: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (c: Buffer) => {
      got += c.toString();
      if (got.length < text.length) return;
      sock.off('data', onData);
      resolve(got);
    };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.write(text);
  });
}

/** An application server on `host`, port 0: echoes what it reads, and ends its side when the client ends. */
export async function startEchoServer(host = '127.0.0.1'): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => { s.on('error', () => {}); s.pipe(s); });
  await new Promise<void>((r) => server.listen(0, host, r));
  return server;
}
