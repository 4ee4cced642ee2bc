import test from 'ava';
import type { SpiffeId } from '../../agent/base/spiffe-id.js';
import { createLogger, setLogSink } from '../../agent/telemetry/log.js';
import type { TunnelCert } from '../../agent/tunnel/cert-source.js';
import { TunnelError, type TunnelErrorCode } from '../../agent/tunnel/errors.js';
import { eventually } from '../helpers/eventually.js';
import { dialHbone, echoHbone, rawH2Session, statusOf } from '../helpers/hbone-echo.js';
import { TestCa } from '../helpers/test-ca.js';

/**
 * Peer certificates that chain to the trust bundle but are no workload certificate — or whose
 * chain breaks a constraint — are refused by both ends of HBONE, with the reason logged (server)
 * or in the error (client). Real certificates from openssl; the root allows no intermediate
 * (pathlen:0), so anything issued through `sub` violates it.
 */
const TD = 'cluster.local';
const CLIENT_ID = `spiffe://${TD}/ns/default/sa/client` as SpiffeId;
const SERVER_ID = `spiffe://${TD}/ns/default/sa/server`;
const ca = new TestCa('strict-root', { pathLen: 0 });
const sub = new TestCa('sub-ca', { parent: ca });
test.after.always(() => { sub.dispose(); ca.dispose(); });

const lines: Record<string, unknown>[] = [];
setLogSink((line) => lines.push(JSON.parse(line) as Record<string, unknown>));

const badClients: [string, () => TunnelCert, RegExp][] = [
  ['a chain that violates the root\'s pathLen constraint', () => sub.issue([CLIENT_ID]), /PATH_LENGTH_EXCEEDED/],
  ['a leaf with an extra DNS SAN', () => ca.issue([CLIENT_ID], { dns: ['client.example'] }), /exactly one spiffe uri.*1 dns/],
  ['a leaf without an extended key usage', () => ca.issue([CLIENT_ID], { eku: null }), /lacks the clientAuth/],
  ['a leaf whose extended key usage is serverAuth only', () => ca.issue([CLIENT_ID], { eku: 'serverAuth' }), /INVALID_PURPOSE/],
  ['a leaf with basicConstraints CA:TRUE', () => ca.issue([CLIENT_ID], { ca: true }), /CA certificate/],
  ['a leaf with two SPIFFE URI SANs', () => ca.issue([CLIENT_ID, `spiffe://${TD}/ns/default/sa/admin`]), /exactly one spiffe uri and nothing else: got 2 uri/],
];

for (const [i, [what, cert, reason]] of badClients.entries()) {
  test(`the server refuses a client presenting ${what}, logging why`, async (t) => {
    const component = `peer-certs-server-${i}`;
    const h = await echoHbone({ cert: ca.issue([SERVER_ID]), rootPem: ca.rootPem, log: createLogger(component) });
    t.teardown(() => h.close());
    const session = rawH2Session(h.port, ca.rootPem, cert());
    t.teardown(() => session.destroy());
    const result = await statusOf(session, { ':method': 'CONNECT', ':authority': `127.0.0.1:${h.echoPort}` });
    t.is(typeof result, 'string', `expected a refused session, got ${String(result)}`);
    t.is(h.streams.length, 0);
    const refusal = await eventually(() => {
      const line = lines.find((l) => l.component === component && l.msg === 'hbone connection refused');
      if (!line) throw new Error('no refusal logged');
      return line;
    }, 5000);
    t.regex(String(refusal.reason), reason);
  });
}

test('the server still accepts a workload certificate issued directly under the constrained root', async (t) => {
  const h = await echoHbone({ cert: ca.issue([SERVER_ID]), rootPem: ca.rootPem });
  t.teardown(() => h.close());
  const session = rawH2Session(h.port, ca.rootPem, ca.issue([CLIENT_ID]));
  t.teardown(() => session.destroy());
  t.is(await statusOf(session, { ':method': 'CONNECT', ':authority': `127.0.0.1:${h.echoPort}` }), 200);
});

const badServers: [string, () => TunnelCert, TunnelErrorCode, RegExp][] = [
  ['a chain that violates the root\'s pathLen constraint', () => sub.issue([SERVER_ID]), 'ERR_TUNNEL_TLS', /path length/],
  ['a leaf without an extended key usage', () => ca.issue([SERVER_ID], { eku: null }), 'ERR_TUNNEL_PEER_CERT', /lacks the serverAuth/],
  ['a leaf with basicConstraints CA:TRUE', () => ca.issue([SERVER_ID], { ca: true }), 'ERR_TUNNEL_PEER_CERT', /CA certificate/],
  ['a leaf with the expected SPIFFE URI and another one', () => ca.issue([SERVER_ID, `spiffe://${TD}/ns/default/sa/other`]), 'ERR_TUNNEL_PEER_CERT', /exactly one spiffe uri and nothing else: got 2 uri/],
  ['a leaf with an extra DNS SAN', () => ca.issue([SERVER_ID], { dns: ['server.example'] }), 'ERR_TUNNEL_PEER_CERT', /exactly one spiffe uri.*1 dns/],
];

for (const [what, cert, code, reason] of badServers) {
  test(`the client refuses a server presenting ${what}, before any stream`, async (t) => {
    const h = await echoHbone({ cert: cert(), rootPem: ca.rootPem });
    t.teardown(() => h.close());
    const err = await t.throwsAsync(dialHbone({ port: h.port, cert: ca.issue([CLIENT_ID]), rootPem: ca.rootPem, expected: [SERVER_ID] }));
    t.true(err instanceof TunnelError);
    t.is((err as TunnelError).code, code);
    t.regex(err!.message, reason);
    t.is(h.streams.length, 0);
  });
}
