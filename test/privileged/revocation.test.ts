import type { ExecutionContext } from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaServer } from '../../agent/ca/server.js';
import { createCertManager, CrlFile, Revocations } from '../../agent/identity/index.js';
import { openNetns } from '../../agent/net/index.js';
import { createLogger, setLogSink } from '../../agent/telemetry/log.js';
import { HboneConnection, secureContextFor, type TunnelCert } from '../../agent/tunnel/index.js';
import type { SpiffeId } from '../../agent/base/spiffe-id.js';
import { registry } from '../../metrics/registry.js';
import { eventually } from '../helpers/eventually.js';
import { runMeshnode } from '../helpers/meshnode-cli.js';
import { privilegedTest } from '../helpers/privileged.js';
import { IssuedCerts, TestCa } from '../helpers/test-ca.js';
import { closed, echo, ID_A, ID_B, readAll, startDataplane, TD, type Dataplane } from './dataplane-harness.js';

/**
 * Revocation on two netns nodes: certificates from the built-in CA (in this process, its
 * revocations changed by `meshnode ca revoke` processes and pushed to each node's certificate
 * manager), or from an openssl intermediate CA whose CRL reaches the server node as a file in
 * the `istio-ca-crl` ConfigMap layout.
 */

const PORT = 8080;
const TOKEN = 'revocation-test-node-token-0123';

function until(ok: boolean, what: string): void {
  if (!ok) throw new Error(`still waiting for ${what}`);
}

async function counter(name: string, labels: Record<string, string>): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

/** The built-in CA on loopback and, per node, a certificate manager subscribed to its revocations. */
async function builtInCa(t: ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-revoke-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'tokens.yaml'), `- token: ${TOKEN}\n  identity: spiffe://${TD}/ns/istio-system/sa/ztunnel\n  impersonate: ["spiffe://${TD}/ns/*/sa/*"]\n`);
  writeFileSync(join(dir, 'token'), TOKEN);
  const caDir = join(dir, 'ca');
  const server = await CaServer.start({
    dir: caDir, listen: { host: '127.0.0.1', port: 0 }, trustDomain: TD, tokensFile: join(dir, 'tokens.yaml'), hostnames: ['127.0.0.1'],
    defaultTtlMs: 3_600_000, maxTtlMs: 86_400_000, log: createLogger('test-ca'),
  });
  t.teardown(() => server.close(100));
  const node = (name: string, ids: SpiffeId[]) => {
    const certs = createCertManager({
      node: name, caAddress: { host: '127.0.0.1', port: server.port }, caRootFile: join(caDir, 'root-cert.pem'), tokenFile: join(dir, 'token'),
      clusterId: 'Kubernetes', certTtlMs: 3_600_000, log: createLogger(`certs-${name}`),
    });
    t.teardown(() => certs.close());
    const revocations = new Revocations(() => certs.trustBundle());
    certs.useRevocations(revocations, true);
    certs.setIdentities(ids);
    return { certs, revocations };
  };
  const nodes = { n1: node('n1', [ID_A as SpiffeId]), n2: node('n2', [ID_B as SpiffeId]) };
  await eventually(() => until(Object.values(nodes).every((n) => n.revocations.status().some((s) => s.source === 'ca' && s.loadedAt)), 'the first CRL push'), 5_000);
  const issuedFor = (id: string) => readFileSync(join(caDir, 'issued.jsonl'), 'utf8').split('\n').filter((l) => l.includes(`"${id}"`)).length;
  return { caDir, nodes, issuedFor };
}

/** One echo round trip over an open connection: proves it carries traffic. */
async function ping(sock: net.Socket): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    sock.once('data', () => resolve());
    sock.once('error', reject);
    sock.write('ping');
  });
}

async function roundTrip(dp: Dataplane, from: string, to: string): Promise<boolean> {
  const sock = await dp.connect(from, to, PORT);
  const got = readAll(sock);
  sock.end('hello');
  return (await got.catch(() => Buffer.alloc(0))).toString() === 'hello';
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Whether pod `to`'s 15008 accepts a CONNECT from pod `from` made with `cert` (a tunnel dialled by hand). */
async function tunnelAccepted(t: ExecutionContext, dp: Dataplane, cert: TunnelCert, bundle: readonly string[], from: string, to: string): Promise<boolean> {
  const handle = openNetns(dp.topo.pod(from).path);
  t.teardown(() => handle.close());
  const ip = dp.topo.pod(to).ip;
  try {
    const conn = await within(HboneConnection.dial({
      socket: await handle.connect(ip, 15008), peer: `${ip}:15008`, secureContext: secureContextFor(cert, bundle), expectedIdentities: [ID_B],
    }), 3_000, 'the handshake');
    t.teardown(() => conn.destroy());
    const stream = await within(conn.connect(`${ip}:${PORT}`, {}), 3_000, 'the CONNECT answer');
    stream.destroy();
    return true;
  } catch {
    return false;
  }
}

privilegedTest('revoking a client serial at the built-in CA: the far node closes its tunnel and refuses it; the client re-keys and traffic resumes', async (t) => {
  const lines: string[] = [];
  setLogSink((line) => lines.push(line));
  t.teardown(() => setLogSink((line) => process.stderr.write(line + '\n')));
  const ca = await builtInCa(t);
  const dp = await startDataplane(t, 'STRICT', (n) => ca.nodes[n as 'n1' | 'n2']);
  await dp.serve('b', PORT, echo);
  const first = await ca.nodes.n1.certs.fetch(ID_A as SpiffeId, 10_000);
  const sock = await dp.connect('a', 'b', PORT);
  await ping(sock);
  const gone = closed(sock);
  const closedBefore = await counter('meshnode_revocation_closed_total', { kind: 'connection', direction: 'inbound' });

  const run = await runMeshnode(['ca', 'revoke', '--dir', ca.caDir, '--serial', first.serial]);
  t.is(run.code, 0, run.stderr);
  await within(gone, 5_000, 'closing the open connection');
  t.true(await counter('meshnode_revocation_closed_total', { kind: 'connection', direction: 'inbound' }) > closedBefore);
  // The line is written once the agent's side of the connection has closed too, which may come
  // just after the client saw its end.
  await eventually(() => {
    if (!lines.some((l) => l.includes('"connection failed"') && l.includes('cert-revoked') && l.includes(first.serial))) throw new Error('the access log does not name the revocation yet');
  }, 5_000);

  const refusedBefore = await counter('istio_crl_policy_rejections_total', { reporter: 'destination', reason: 'revoked' });
  t.false(await tunnelAccepted(t, dp, first, ca.nodes.n1.certs.trustBundle(), 'a', 'b'), 'a tunnel with the revoked certificate');
  t.true(await counter('istio_crl_policy_rejections_total', { reporter: 'destination', reason: 'revoked' }) > refusedBefore);

  const renewed = await eventually(() => {
    const now = ca.nodes.n1.certs.current(ID_A as SpiffeId);
    until(now !== undefined && now.serial !== first.serial, 'a new certificate for a');
    return now!;
  }, 5_000);
  t.true(await roundTrip(dp, 'a', 'b'), 'traffic resumes with the new certificate');
  t.true(await tunnelAccepted(t, dp, renewed, ca.nodes.n1.certs.trustBundle(), 'a', 'b'));
}, ['ip', 'iptables-restore']);

privilegedTest('revoking an identity at the built-in CA stops its traffic on both nodes and no new certificate is issued for it', async (t) => {
  const ca = await builtInCa(t);
  const dp = await startDataplane(t, 'STRICT', (n) => ca.nodes[n as 'n1' | 'n2']);
  await dp.serve('b', PORT, echo);
  await dp.serve('a', PORT, echo);
  t.true(await roundTrip(dp, 'b', 'a'), 'b reaches a before the revocation');
  const sock = await dp.connect('a', 'b', PORT);
  await ping(sock);
  const gone = closed(sock);
  const issued = ca.issuedFor(ID_A);

  const run = await runMeshnode(['ca', 'revoke', '--dir', ca.caDir, '--identity', ID_A]);
  t.is(run.code, 0, run.stderr);
  await within(gone, 5_000, 'closing the open connection');
  t.false(await roundTrip(dp, 'a', 'b'), 'a as a client');
  t.false(await roundTrip(dp, 'b', 'a'), 'a as a server');
  t.is(ca.nodes.n1.certs.status().find((s) => s.identity === ID_A)!.state, 'revoked');
  t.is(ca.nodes.n1.certs.current(ID_A as SpiffeId), undefined);
  t.is(ca.issuedFor(ID_A), issued, 'the CA issued nothing more for the revoked identity');
  t.truthy(ca.nodes.n2.certs.current(ID_B as SpiffeId), 'other identities are untouched');
}, ['ip', 'iptables-restore']);

/** A directory as the kubelet mounts a ConfigMap: `ca-crl.pem` → `..data/ca-crl.pem`, `..data` swapped atomically. */
function configMapDir(t: ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-crl-cm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const publish = (content: string | Buffer) => {
    const version = `..2026_${++n}`;
    mkdirSync(join(dir, version));
    writeFileSync(join(dir, version, 'ca-crl.pem'), content);
    symlinkSync(version, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  return { dir, publish, init: (content: string) => { publish(content); symlinkSync('..data/ca-crl.pem', join(dir, 'ca-crl.pem')); } };
}

privilegedTest('a plug-in CA\'s CRL distributed as a ConfigMap file is enforced; a corrupt file keeps the last good CRL', async (t) => {
  const root = new TestCa('plugin-root');
  const mid = new TestCa('plugin-intermediate', { parent: root });
  t.teardown(() => { mid.dispose(); root.dispose(); });
  const certs = new IssuedCerts([root.rootPem]);
  const leafA = mid.issue([ID_A]);
  certs.set(leafA);
  certs.set(mid.issue([ID_B]));
  const cm = configMapDir(t);
  cm.init(mid.crl([]));
  const serverSide = new Revocations(() => certs.trustBundle());
  const file = await CrlFile.start(cm.dir, serverSide, createLogger('crl-test'));
  t.teardown(() => file.close());
  const dp = await startDataplane(t, 'STRICT', (n) => ({ certs, revocations: n === 'n2' ? serverSide : new Revocations(() => certs.trustBundle()) }));
  await dp.serve('b', PORT, echo);
  const sock = await dp.connect('a', 'b', PORT);
  await ping(sock);
  const gone = closed(sock);

  cm.publish(mid.crl([{ serial: leafA.serial, reason: 'keyCompromise' }]));
  await within(gone, 5_000, 'closing the open connection');
  t.false(await roundTrip(dp, 'a', 'b'), 'a new connection with the revoked certificate');

  const errors = await counter('meshnode_revocation_crl_loads_total', { source: 'file', result: 'error' });
  cm.publish('-----BEGIN X509 CRL-----\nbm90IGEgY3Js\n-----END X509 CRL-----\n');
  await eventually(async () => until(await counter('meshnode_revocation_crl_loads_total', { source: 'file', result: 'error' }) > errors, 'the corrupt file to be rejected'), 5_000);
  t.regex(serverSide.status().find((s) => s.source === 'file')!.lastError ?? '', /ca-crl\.pem/);
  t.false(await roundTrip(dp, 'a', 'b'), 'the last good CRL still refuses the revoked certificate');

  cm.publish(mid.crl([]));
  await eventually(() => until(serverSide.status().find((s) => s.source === 'file')!.lastError === null, 'the empty CRL'), 5_000);
  t.true(await roundTrip(dp, 'a', 'b'), 'an empty CRL from the same CA lifts the revocation');
}, ['ip', 'iptables-restore', 'openssl']);
