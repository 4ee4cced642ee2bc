import test from 'ava';
import { ADDRESS_TYPE, AUTHORIZATION_TYPE, type OutgoingPayload } from '../../agent/sources/xds/api.js';
import { HeldResources } from '../../agent/sources/xds/resources.js';
import { parseXdsOptions } from '../../agent/cli/xds-options.js';
import { UsageError } from '../../agent/cli/usage-error.js';
import { decodedResponse, serviceResource, staticStrictResource, workloadResource } from '../helpers/xds-fixtures.js';

const addr = (name: string, resource: object) => ({ name, version: 'v', resource: { '@type': ADDRESS_TYPE, ...resource } as OutgoingPayload });

test('each malformed address is rejected alone with a reason naming the field', (t) => {
  const held = new HeldResources();
  const out = held.translate(decodedResponse({ type_url: ADDRESS_TYPE, resources: [
    workloadResource('ok', '10.0.0.1'),
    addr('Kubernetes//Pod/default/e', { workload: { uid: 'Kubernetes//Pod/default/e', name: 'e', namespace: 'default', tunnel_protocol: 'LEGACY_ISTIO_MTLS' } }),
    addr('Kubernetes//Pod/default/f', { workload: { uid: 'Kubernetes//Pod/default/f', namespace: 'default' } }),
    addr('default/svc', { service: { namespace: 'default', hostname: 'svc', addresses: [{ address: Buffer.from([10, 0, 0, 0]), length: 40 }] } }),
    addr('x', {}),
    { name: 'y' },
  ] }));
  t.deepEqual(out.rejected.map((r) => `${r.name}: ${r.reason}`), [
    'Kubernetes//Pod/default/e: tunnel_protocol: unsupported value LEGACY_ISTIO_MTLS',
    'Kubernetes//Pod/default/f: name is missing',
    'default/svc: addresses[0]: "10.0.0.0/40" has an invalid prefix length (0-32, without leading zeros)',
    'x: address has neither a workload nor a service',
    'y: resource has no payload',
  ]);
  t.is(out.batch.workloads?.upsert?.length, 1);
  out.commit();
  t.deepEqual(held.versions(ADDRESS_TYPE), { 'Kubernetes//Pod/default/ok': 'v1' }, 'rejected resources are never recorded');
});

test('services keep CIDR VIPs apart; the static strict policy is a DENY of identity-less peers', (t) => {
  const held = new HeldResources();
  const svc = held.translate(decodedResponse({ type_url: ADDRESS_TYPE, resources: [serviceResource('web.default.svc.cluster.local', '10.96.0.1')] }));
  t.deepEqual(svc.batch.services?.upsert?.[0]?.vips, ['10.96.0.1']);
  const authz = held.translate(decodedResponse({ type_url: AUTHORIZATION_TYPE, resources: [staticStrictResource()] }));
  const policy = authz.batch.authorizations?.upsert?.[0];
  t.like(policy, { action: 'Deny', scope: 'WorkloadSelector', origin: 'PeerAuthentication' });
  t.deepEqual(policy?.rules[0]?.clauses[0]?.matches[0]?.notPrincipals, [{ kind: 'presence' }]);
});

test('--xds flags: defaults from the CA flags; the helper flags need --xds-address', (t) => {
  const ca = { rootFile: '/r.pem', tokenFile: '/t', node: 'n1' };
  const base = { 'xds-server-name': 'istiod.istio-system.svc', 'xds-plaintext': false, 'xds-istio-version': '1.28.0' };
  t.like(parseXdsOptions({ ...base, 'xds-address': 'istiod.istio-system.svc:15012' }, ca, {}), { rootFile: '/r.pem', tokenFile: '/t', serverName: 'istiod.istio-system.svc', instanceIp: '1.1.1.1' });
  t.is(parseXdsOptions(base, ca, {}), undefined);
  t.throws(() => parseXdsOptions({ ...base, 'xds-plaintext': true }, ca, {}), { instanceOf: UsageError });
  t.throws(() => parseXdsOptions({ ...base, 'xds-address': 'nope' }, ca, {}), { instanceOf: UsageError });
  t.is(parseXdsOptions({ ...base, 'xds-address': 'istiod:15012', 'xds-istio-version': '1.27.2' }, ca, {})?.istioVersion, '1.27.2');
  t.throws(() => parseXdsOptions({ ...base, 'xds-address': 'istiod:15012', 'xds-istio-version': 'latest' }, ca, {}), { instanceOf: UsageError, message: /--xds-istio-version: "latest"/ });
});
