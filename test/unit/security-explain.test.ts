import test from 'ava';
import { Problems } from '../../agent/config/problems.js';
import { explainPeerAuthentication } from '../../agent/model/security/index.js';
import { DEFAULT_SETTINGS, pa, parseObjects, type Obj } from './authz-harness.js';

/** Which PeerAuthentication decides a port's mode, for `authz check` reasons. */
const WEB = { namespace: 'shop', labels: { app: 'web' } };
const workloadPolicy = pa('shop', 'wl', { selector: { matchLabels: { app: 'web' } }, mtls: { mode: 'UNSET' }, portLevelMtls: { 9090: { mode: 'STRICT' } } });

const cases: [string, Obj[], number, string | undefined][] = [
  ['no PeerAuthentication', [], 8080, undefined],
  ['mesh-wide', [pa('istio-system', 'm', { mtls: { mode: 'STRICT' } })], 8080, 'PeerAuthentication istio-system/m (mesh-wide) sets STRICT'],
  ['namespace-wide overrides mesh', [pa('istio-system', 'm', { mtls: { mode: 'STRICT' } }), pa('shop', 'n', { mtls: { mode: 'PERMISSIVE' } })], 8080, 'PeerAuthentication shop/n (namespace-wide) sets PERMISSIVE'],
  ['namespace UNSET inherits the mesh', [pa('istio-system', 'm', { mtls: { mode: 'STRICT' } }), pa('shop', 'n', { mtls: { mode: 'UNSET' } })], 8080, 'PeerAuthentication istio-system/m (mesh-wide) sets STRICT'],
  ['workload', [pa('shop', 'w', { selector: { matchLabels: { app: 'web' } }, mtls: { mode: 'DISABLE' } })], 8080, 'PeerAuthentication shop/w (workload) sets DISABLE'],
  ['port-level', [workloadPolicy], 9090, 'PeerAuthentication shop/wl (port-level) sets STRICT'],
  ['other ports fall back', [pa('shop', 'n', { mtls: { mode: 'STRICT' } }), workloadPolicy], 8080, 'PeerAuthentication shop/n (namespace-wide) sets STRICT'],
];

for (const [title, objects, port, want] of cases) {
  test(`explains port ${port}: ${title}`, (t) => {
    const problems = new Problems();
    t.is(explainPeerAuthentication(parseObjects(objects, problems), WEB, port, DEFAULT_SETTINGS), want);
  });
}
