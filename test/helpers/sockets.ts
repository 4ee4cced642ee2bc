import type net from 'node:net';

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
