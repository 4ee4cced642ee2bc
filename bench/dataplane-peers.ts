import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installedNodeFlags } from '../agent/demo/control-plane.js';
import { startDaemon, waitFor, type Daemon, type Resources } from '../agent/demo/system.js';
import type { TestCa } from '../test/helpers/test-ca.js';
import type { TopoPod } from '../test/helpers/topology.js';

/**
 * The TLS pairs the data-plane bench measures beside meshnode, one proxy in each pod: stunnel,
 * and the same pair written with Node's `tls` alone (bench/tls-relay.ts). Both use the same
 * certificates and TLS settings (TLS 1.3, AES-GCM, the chain verified both ways) and forward to
 * the bench application's ECHO and SINK ports in pod b.
 */
export const ECHO = 7000;
export const SINK = 7002;
/** Where the client side of each pair listens in pod a (127.0.0.1). */
export const STUNNEL_PORTS = { echo: ECHO + 100, sink: SINK + 100 } as const;
export const RELAY_PORTS = { echo: ECHO + 200, sink: SINK + 200 } as const;

const TLS_RELAY = fileURLToPath(new URL('./tls-relay.js', import.meta.url));
const CIPHERSUITES = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';

/** The pairs' certificate files in `dir`, named as bench/tls-relay.ts expects them. */
export interface PeerCerts {
  /** The directory holding them all (bench/tls-relay.ts reads them by name from it). */
  readonly dir: string;
  readonly ca: string;
  readonly client: { readonly cert: string; readonly key: string };
  readonly server: { readonly cert: string; readonly key: string };
}

export function writePeerCerts(dir: string, ca: TestCa): PeerCerts {
  const files = (name: string, id: string) => {
    const c = ca.issue([id]);
    const [cert, key] = [join(dir, `${name}.crt`), join(dir, `${name}.key`)];
    writeFileSync(cert, c.chainPem.join('\n'));
    writeFileSync(key, c.keyPem);
    return { cert, key };
  };
  writeFileSync(join(dir, 'ca.crt'), ca.rootPem);
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    client: files('st-client', 'spiffe://cluster.local/ns/shop/sa/a'),
    server: files('st-server', 'spiffe://cluster.local/ns/shop/sa/b'),
  };
}

/** Waits until every daemon has logged `ready`; one that exits first fails with its log. */
async function untilReady(daemons: Daemon[], ready: RegExp): Promise<Daemon[]> {
  for (const d of daemons) {
    await waitFor(d.label, 10_000, () => {
      if (d.exited) throw new Error(`${d.label} exited: ${d.log().slice(-500)}`);
      return ready.test(d.log()) ? true : undefined;
    });
  }
  return daemons;
}

function stunnelConf(dir: string, name: string, services: string[]): string {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, ['foreground = yes', 'pid =', 'debug = 5', ...services].join('\n') + '\n');
  return file;
}

/** stunnel: client side in pod a on STUNNEL_PORTS, server side in pod b on 7443/7444. */
export function startStunnel(res: Resources, dir: string, certs: PeerCerts, a: TopoPod, b: TopoPod): Promise<Daemon[]> {
  const tlsOpts = `CAfile = ${certs.ca}\nverifyChain = yes\nsslVersionMin = TLSv1.3\nciphersuites = ${CIPHERSUITES}`;
  const keys = (k: PeerCerts['client']) => `cert = ${k.cert}\nkey = ${k.key}`;
  const client = stunnelConf(dir, 'st-client', [
    `[echo]\nclient = yes\naccept = 127.0.0.1:${STUNNEL_PORTS.echo}\nconnect = ${b.ip}:7443\n${keys(certs.client)}\n${tlsOpts}`,
    `[sink]\nclient = yes\naccept = 127.0.0.1:${STUNNEL_PORTS.sink}\nconnect = ${b.ip}:7444\n${keys(certs.client)}\n${tlsOpts}`,
  ]);
  const server = stunnelConf(dir, 'st-server', [
    `[echo]\naccept = 0.0.0.0:7443\nconnect = 127.0.0.1:${ECHO}\n${keys(certs.server)}\n${tlsOpts}`,
    `[sink]\naccept = 0.0.0.0:7444\nconnect = 127.0.0.1:${SINK}\n${keys(certs.server)}\n${tlsOpts}`,
  ]);
  return untilReady([
    startDaemon(res, 'stunnel client', a.netns, ['stunnel', client], join(dir, 'st-client.log')),
    startDaemon(res, 'stunnel server', b.netns, ['stunnel', server], join(dir, 'st-server.log')),
  ], /Configuration successful|bound/);
}

/** The Node TLS relay: client side in pod a on RELAY_PORTS, server side in pod b on 7543/7544. */
export function startTlsRelay(res: Resources, dir: string, certs: PeerCerts, a: TopoPod, b: TopoPod): Promise<Daemon[]> {
  const node = [process.execPath, ...installedNodeFlags(), TLS_RELAY];
  return untilReady([
    startDaemon(res, 'node tls relay client', a.netns, [...node, 'client', certs.dir, `${RELAY_PORTS.echo}:${b.ip}:7543`, `${RELAY_PORTS.sink}:${b.ip}:7544`], join(dir, 'relay-client.log')),
    startDaemon(res, 'node tls relay server', b.netns, [...node, 'server', certs.dir, `7543:${ECHO}`, `7544:${SINK}`], join(dir, 'relay-server.log')),
  ], /listening/);
}
