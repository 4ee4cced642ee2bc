import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

/**
 * A bench peer: a TLS 1.3 mTLS relay pair written with Node's `tls` and `net` and nothing else —
 * the stunnel pair's configuration (same certificates, chain verified both ways, AES-GCM), in
 * the same runtime as meshnode but without HTTP/2. Beside stunnel and meshnode it shows how much
 * of the data plane's cost is the runtime's TLS and sockets and how much the HBONE layer above.
 *
 *   node tls-relay.js client <certdir> <listenPort>:<host>:<port> ...   plain in, TLS out
 *   node tls-relay.js server <certdir> <listenPort>:<port> ...          TLS in, plain to 127.0.0.1
 *
 * Certificates: <certdir>/st-client.{crt,key} or st-server.{crt,key}, and ca.crt.
 */

/** Both directions, each ending on its own (half-close), an error on either resetting both. */
function join(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  const reset = () => { a.destroy(); b.destroy(); };
  a.on('error', reset);
  b.on('error', reset);
}

function main(): void {
  const [mode, dir, ...routes] = process.argv.slice(2);
  if ((mode !== 'client' && mode !== 'server') || !dir || routes.length === 0) {
    process.stderr.write('usage: tls-relay.js client|server <certdir> <route>...\n');
    process.exit(2);
  }
  const name = mode === 'client' ? 'st-client' : 'st-server';
  const creds = {
    cert: readFileSync(`${dir}/${name}.crt`), key: readFileSync(`${dir}/${name}.key`), ca: readFileSync(`${dir}/ca.crt`),
    minVersion: 'TLSv1.3' as const, ciphers: 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256',
  };
  let listening = 0;
  const ready = () => { if (++listening === routes.length) process.stdout.write('{"listening":true}\n'); };
  for (const route of routes) {
    const parts = route.split(':');
    const listenPort = Number(parts[0]);
    if (mode === 'client') {
      const [host, port] = [parts[1]!, Number(parts[2])];
      net.createServer({ allowHalfOpen: true, noDelay: true }, (plain) => {
        // The certificates name SPIFFE ids, not hosts: the chain is verified, the name is not.
        // tls.connect honours allowHalfOpen (it is handed to the socket); the typings omit it.
        const options: tls.ConnectionOptions & { allowHalfOpen: boolean } = { ...creds, host, port, allowHalfOpen: true, checkServerIdentity: () => undefined };
        const secure = tls.connect(options);
        secure.setNoDelay(true);
        join(plain, secure);
      }).listen(listenPort, '127.0.0.1', ready);
    } else {
      const port = Number(parts[1]);
      tls.createServer({ ...creds, requestCert: true, rejectUnauthorized: true, allowHalfOpen: true }, (secure) => {
        secure.setNoDelay(true);
        join(secure, net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true }));
      }).listen(listenPort, '0.0.0.0', ready);
    }
  }
}

main();
