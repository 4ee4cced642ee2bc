import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ADDRESS_TYPE, AUTHORIZATION_TYPE, type OutgoingPayload } from '../../agent/sources/xds/api.js';
import { XdsSource } from '../../agent/sources/xds/source.js';
import { StateStore } from '../../agent/state/store.js';
import { AdsServer } from '../helpers/ads-server.js';
import { eventually } from '../helpers/eventually.js';
import { TestCa } from '../helpers/test-ca.js';
import { denyAllResource, serviceResource, staticStrictResource, workloadResource } from '../helpers/xds-fixtures.js';
import { recordingLogger } from './ca-support.js';

const ca = new TestCa();
// The SAN istiod's serving certificate carries (no .svc.cluster.local form).
const serving = ca.issue(['spiffe://cluster.local/ns/istio-system/sa/istiod,DNS:istiod.istio-system.svc']);
const dir = mkdtempSync(join(tmpdir(), 'meshnode-xds-'));
const rootFile = join(dir, 'root.pem');
const tokenFile = join(dir, 'token');
writeFileSync(rootFile, ca.rootPem);
writeFileSync(tokenFile, 'token-1');
test.after.always(() => ca.dispose());

/** Waits until `check` returns something truthy. */
const until = <T>(check: () => T, timeoutMs?: number) => eventually(() => {
  const v = check();
  if (!v) throw new Error('condition not met yet');
  return v;
}, timeoutMs);

const tls = () => grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(serving.keyPem), cert_chain: Buffer.from(serving.chainPem.join('')) }], false);

async function setup(records: Record<string, unknown>[] = []) {
  const server = new AdsServer(tls);
  server.set(ADDRESS_TYPE, [workloadResource('web-1', '10.0.0.1'), serviceResource('web.default.svc.cluster.local', '10.96.0.10')]);
  server.set(AUTHORIZATION_TYPE, [staticStrictResource()]);
  const port = await server.start();
  const store = new StateStore({ trustDomain: 'cluster.local', rootNamespace: 'istio-system' });
  const source = new XdsSource({
    address: `127.0.0.1:${port}`, serverName: 'istiod.istio-system.svc', rootFile, tokenFile, plaintext: false, clusterId: 'Kubernetes',
    node: { nodeName: 'n1', podName: 'meshnode-abc', podNamespace: 'istio-system', instanceIp: '10.0.0.100' },
    store, log: recordingLogger(records), readyDeadlineMs: 10_000,
  });
  return { server, store, source };
}

test('initial sync over TLS: node, token, both types applied and ACKed', async (t) => {
  const { server, store, source } = await setup();
  t.teardown(() => { source.close(); server.stop(); });
  await source.start();
  t.is(store.workloadByIp('10.0.0.1')?.uid, 'Kubernetes//Pod/default/web-1');
  t.is(store.serviceByVip('10.96.0.10')?.hostname, 'web.default.svc.cluster.local');
  t.deepEqual(store.endpoints('default/web.default.svc.cluster.local').map((w) => w.name), ['web-1']);
  t.is(store.snapshot().authorizations.get('istio-system/istio_converted_static_strict')?.origin, 'PeerAuthentication');
  t.is(store.podEnrollment('default', 'web-1').enrolled, true);
  const first = server.requests[0]!;
  t.is(first.node?.id, 'ztunnel~10.0.0.100~meshnode-abc.istio-system~istio-system.svc.cluster.local');
  t.is(first.node?.metadata?.fields.NODE_NAME?.stringValue, 'n1');
  t.is(first.node?.metadata?.fields.ISTIO_VERSION?.stringValue, '1.28.0', 'the release whose workload API is implemented, unless --xds-istio-version says otherwise');
  t.is(server.metadata[0]!.get('authorization')[0], 'Bearer token-1');
  t.is(server.metadata[0]!.get('clusterid')[0], 'Kubernetes');
  await until(() => server.acks().length === 2);
  const status = source.status();
  t.is(status.state, 'synced');
  t.deepEqual(status.counts, { workloads: 1, services: 1, policies: 1 });
  t.truthy(status.xds.connectedSince);
  t.truthy(status.xds.types[ADDRESS_TYPE]!.lastAck?.nonce);
});

test('a later workload, a new DENY and a removal are applied; a malformed resource is NACKed with its reason while the rest applies', async (t) => {
  const { server, store, source } = await setup();
  t.teardown(() => { source.close(); server.stop(); });
  await source.start();
  server.push(ADDRESS_TYPE, [workloadResource('web-2', '10.0.0.2')]);
  await until(() => store.workloadByIp('10.0.0.2'));
  server.push(AUTHORIZATION_TYPE, [denyAllResource('default', 'deny-all')]);
  await until(() => store.snapshot().authorizations.get('default/deny-all'));
  t.is(store.snapshot().authorizations.get('default/deny-all')?.action, 'Deny');

  const bad = workloadResource('web-1', '10.0.0.1', { version: 'v2' });
  (bad.resource as { workload: { addresses: Buffer[] } }).workload.addresses = [Buffer.from([10, 0, 0])];
  // An enum value newer than the .proto files: not a valid input value, so only a cast can send it.
  const badEnum = { ...denyAllResource('default', 'odd'), resource: { ...denyAllResource('default', 'odd').resource, scope: 7 } as unknown as OutgoingPayload };
  server.push(ADDRESS_TYPE, [bad, workloadResource('web-3', '10.0.0.3')]);
  server.push(AUTHORIZATION_TYPE, [badEnum]);
  await until(() => server.nacks().length === 2);
  const [addrNack, authNack] = server.nacks();
  t.regex(addrNack!.error_detail!.message, /Kubernetes\/\/Pod\/default\/web-1: addresses\[0\]: an IP address must be 4 or 16 bytes, got 3/);
  t.regex(authNack!.error_detail!.message, /default\/odd: scope: unsupported value 7/);
  t.truthy(store.workloadByIp('10.0.0.3'));
  t.is(store.workloadByIp('10.0.0.1')?.name, 'web-1', 'the rejected update did not replace the good workload');
  t.falsy(store.snapshot().authorizations.get('default/odd'));
  t.regex(source.status().xds.types[ADDRESS_TYPE]!.lastNack!.error, /4 or 16 bytes/);

  server.push(ADDRESS_TYPE, [], ['Kubernetes//Pod/default/web-2']);
  await until(() => store.workloadByIp('10.0.0.2') === undefined);
  t.is(store.workloadByUid('Kubernetes//Pod/default/web-2'), undefined);
});

test('istiod going away keeps state; on return the deletions made meanwhile arrive via initial_resource_versions', async (t) => {
  const records: Record<string, unknown>[] = [];
  const { server, store, source } = await setup(records);
  t.teardown(() => { source.close(); server.stop(); });
  await source.start();
  const port = server.port;
  server.stop();
  await until(() => source.status().xds.connectedSince === undefined);
  t.truthy(store.workloadByIp('10.0.0.1'), 'state kept while disconnected');
  server.set(ADDRESS_TYPE, [workloadResource('web-4', '10.0.0.4')], ['Kubernetes//Pod/default/web-1']);
  const before = server.requests.length;
  writeFileSync(tokenFile, 'token-2');
  await server.start(port);
  await until(() => store.workloadByIp('10.0.0.4'), 20_000);
  t.is(store.workloadByIp('10.0.0.1'), undefined);
  const reconnect = server.requests.slice(before).find((r) => r.type_url === ADDRESS_TYPE && r.node)!;
  t.deepEqual(Object.keys(reconnect.initial_resource_versions ?? {}).sort(), ['Kubernetes//Pod/default/web-1', 'default/web.default.svc.cluster.local']);
  t.is(server.metadata.at(-1)!.get('authorization')[0], 'Bearer token-2', 'token re-read on connect');
  writeFileSync(tokenFile, 'token-1');
});

test('a response larger than 4 MiB (10,000 workloads) is accepted', async (t) => {
  const { server, store, source } = await setup();
  t.teardown(() => { source.close(); server.stop(); });
  const many = Array.from({ length: 10_000 }, (_, i) => workloadResource(`big-${i}`, `10.1.${i >> 8}.${i & 255}`, { pad: 400 }));
  server.set(ADDRESS_TYPE, many);
  await source.start();
  t.is(source.status().counts.workloads, 10_001);
  t.truthy(store.workloadByIp('10.1.39.15'));
});
