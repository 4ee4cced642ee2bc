import test from 'ava';
import { allowFrom, ap, pa, runCases, type Case, type Obj, type TestWorkload } from './authz-harness.js';

/** PeerAuthentication at mesh, namespace, workload and port level. */
const PLAIN = { plaintext: true };
const STATIC = 'istio-system/istio_converted_static_strict';
const mode = (m: string) => ({ mtls: { mode: m } });
const mesh = (m: string, name = 'mesh', created?: string) => pa('istio-system', name, mode(m), created);
const ns = (m: string, name = 'ns', created?: string) => pa('shop', name, mode(m), created);
const wl = (m: string | undefined, ports: Record<string, string> = {}, name = 'wl', labels: Record<string, string> = { app: 'web' }, created?: string): Obj =>
  pa('shop', name, {
    selector: { matchLabels: labels },
    ...(m ? mode(m) : {}),
    ...(Object.keys(ports).length ? { portLevelMtls: Object.fromEntries(Object.entries(ports).map(([p, m]) => [p, { mode: m }])) } : {}),
  }, created);
const ROOT_WL: TestWorkload = { namespace: 'istio-system', name: 'gw', labels: { app: 'gw' }, ip: '10.0.9.1' };

const c = (title: string, objects: Obj[], port: number, refused: boolean, policy?: string, extra: Partial<Case> = {}): Case => ({
  title: `${title}, plaintext to port ${port}`, objects, conn: { plaintext: true, dstPort: port },
  want: refused ? 'peer-authn-strict' : 'no-allow-policies', ...(policy ? { policy } : {}), ...extra,
});

const levels: Case[] = [
  c('no PeerAuthentication', [], 8080, false),
  c('mesh STRICT', [mesh('STRICT')], 8080, true, STATIC),
  c('mesh PERMISSIVE', [mesh('PERMISSIVE')], 8080, false),
  c('mesh DISABLE', [mesh('DISABLE')], 8080, false),
  c('mesh UNSET is PERMISSIVE', [mesh('UNSET')], 8080, false),
  c('mesh without mtls is PERMISSIVE', [pa('istio-system', 'mesh', {})], 8080, false),
  c('mesh STRICT, namespace PERMISSIVE', [mesh('STRICT'), ns('PERMISSIVE')], 8080, false),
  c('mesh STRICT, namespace DISABLE', [mesh('STRICT'), ns('DISABLE')], 8080, false),
  c('mesh STRICT, namespace UNSET inherits', [mesh('STRICT'), ns('UNSET')], 8080, true, STATIC),
  c('mesh PERMISSIVE, namespace STRICT', [mesh('PERMISSIVE'), ns('STRICT')], 8080, true, STATIC),
  c('namespace STRICT alone', [ns('STRICT')], 8080, true, STATIC),
  c('namespace STRICT of another namespace', [pa('other', 'ns', mode('STRICT'))], 8080, false),
  c('namespace STRICT, workload PERMISSIVE', [ns('STRICT'), wl('PERMISSIVE')], 8080, false),
  c('namespace STRICT, workload DISABLE', [ns('STRICT'), wl('DISABLE')], 8080, false),
  c('namespace STRICT, workload UNSET inherits', [ns('STRICT'), wl('UNSET')], 8080, true, STATIC),
  c('namespace PERMISSIVE, workload STRICT', [ns('PERMISSIVE'), wl('STRICT')], 8080, true, STATIC),
  c('workload STRICT with non-matching selector', [wl('STRICT', {}, 'wl', { app: 'db' })], 8080, false),
  c('namespace selector {} is namespace-wide', [pa('shop', 'ns', { selector: {}, ...mode('STRICT') })], 8080, true, STATIC),
  c('mesh STRICT applies to the root namespace workloads', [mesh('STRICT')], 8080, true, STATIC, { dst: ROOT_WL }),
  c('root PeerAuthentication with selector is ignored', [pa('istio-system', 'sel', { selector: { matchLabels: { app: 'web' } }, ...mode('STRICT') })], 8080, false),
  c('root PeerAuthentication with selector is ignored for root workloads', [pa('istio-system', 'sel', { selector: { matchLabels: { app: 'gw' } }, ...mode('STRICT') })], 8080, false, undefined, { dst: ROOT_WL }),
  c('root PeerAuthentication with selector {} is ignored', [pa('istio-system', 'sel', { selector: {}, ...mode('STRICT') })], 8080, false),
  c('custom root namespace', [pa('mesh-root', 'm', mode('STRICT'))], 8080, true, 'mesh-root/istio_converted_static_strict', { settings: { trustDomain: 'cluster.local', rootNamespace: 'mesh-root' } }),
];

const ports: Case[] = [
  c('workload STRICT, port 9090 PERMISSIVE', [wl('STRICT', { 9090: 'PERMISSIVE' })], 9090, false),
  c('workload STRICT, port 9090 PERMISSIVE', [wl('STRICT', { 9090: 'PERMISSIVE' })], 8080, true, 'shop/converted_peer_authentication_wl', { reason: 'PeerAuthentication shop/wl' }),
  c('workload PERMISSIVE, port 9090 STRICT', [wl('PERMISSIVE', { 9090: 'STRICT' })], 9090, true, 'shop/converted_peer_authentication_wl'),
  c('workload PERMISSIVE, port 9090 STRICT', [wl('PERMISSIVE', { 9090: 'STRICT' })], 8080, false),
  c('workload STRICT, port 9090 DISABLE', [wl('STRICT', { 9090: 'DISABLE' })], 9090, false),
  c('workload STRICT, port 9090 UNSET inherits', [wl('STRICT', { 9090: 'UNSET' })], 9090, true, STATIC),
  c('workload STRICT, port 9090 STRICT (same as workload)', [wl('STRICT', { 9090: 'STRICT' })], 9090, true, STATIC),
  c('namespace STRICT, workload UNSET, port 9090 PERMISSIVE', [ns('STRICT'), wl(undefined, { 9090: 'PERMISSIVE' })], 9090, false),
  c('namespace STRICT, workload UNSET, port 9090 PERMISSIVE', [ns('STRICT'), wl(undefined, { 9090: 'PERMISSIVE' })], 8080, true),
  c('divergence 1: mesh STRICT, workload PERMISSIVE, port 9090 STRICT is enforced', [mesh('STRICT'), wl('PERMISSIVE', { 9090: 'STRICT' })], 9090, true),
  c('divergence 1: mesh STRICT, workload DISABLE, port 9090 STRICT is enforced', [mesh('STRICT'), wl('DISABLE', { 9090: 'STRICT' })], 9090, true),
  c('divergence 1: other ports stay permissive', [mesh('STRICT'), wl('PERMISSIVE', { 9090: 'STRICT' })], 8080, false),
  c('divergence 2: mesh STRICT, workload UNSET, port 9090 DISABLE accepts plaintext', [mesh('STRICT'), wl('UNSET', { 9090: 'DISABLE' })], 9090, false),
  c('divergence 2: other ports stay STRICT', [mesh('STRICT'), wl('UNSET', { 9090: 'DISABLE' })], 8080, true),
  c('divergence 3: mesh STRICT, namespace UNSET, port 9090 PERMISSIVE', [mesh('STRICT'), ns('UNSET'), wl('UNSET', { 9090: 'PERMISSIVE' })], 9090, false),
  c('divergence 3: other ports stay STRICT', [mesh('STRICT'), ns('UNSET'), wl('UNSET', { 9090: 'PERMISSIVE' })], 8080, true),
  c('portLevelMtls keyed by the Service port does not exempt the target port', [wl('STRICT', { 80: 'PERMISSIVE' })], 8080, true),
  c('several port overrides', [wl('STRICT', { 9090: 'PERMISSIVE', 9091: 'PERMISSIVE' })], 9091, false),
];

const oldest: Case[] = [
  c('two mesh policies: the older STRICT wins', [mesh('PERMISSIVE', 'b', '2024-02-01T00:00:00Z'), mesh('STRICT', 'a', '2024-01-01T00:00:00Z')], 8080, true),
  c('two mesh policies: the older PERMISSIVE wins', [mesh('STRICT', 'a', '2024-02-01T00:00:00Z'), mesh('PERMISSIVE', 'b', '2024-01-01T00:00:00Z')], 8080, false),
  c('two namespace policies: the older wins', [ns('PERMISSIVE', 'b', '2024-01-01T00:00:00Z'), ns('STRICT', 'a', '2024-03-01T00:00:00Z')], 8080, false),
  c('two workload policies: the older wins whatever its labels', [wl('PERMISSIVE', {}, 'b', { app: 'web', version: 'v1' }, '2024-03-01T00:00:00Z'), wl('STRICT', {}, 'a', { app: 'web' }, '2024-01-01T00:00:00Z')], 8080, true),
  c('two workload policies: the newer one’s ports do not apply', [wl('STRICT', {}, 'a', { app: 'web' }, '2024-01-01T00:00:00Z'), wl('STRICT', { 8080: 'PERMISSIVE' }, 'b', { version: 'v1' }, '2024-02-01T00:00:00Z')], 8080, true),
  c('equal timestamps: the lower name wins', [ns('PERMISSIVE', 'b'), ns('STRICT', 'a')], 8080, true),
  c('equal timestamps, reversed modes: the lower name wins', [ns('STRICT', 'b'), ns('PERMISSIVE', 'a')], 8080, false),
];

const interplay: Case[] = [
  { title: 'STRICT never refuses mTLS', objects: [mesh('STRICT')], want: 'no-allow-policies' },
  { title: 'DISABLE still accepts mTLS', objects: [mesh('DISABLE')], want: 'no-allow-policies' },
  { title: 'an ALLOW matching plaintext cannot re-admit it under STRICT', objects: [ns('STRICT'), ap('shop', 'ips', allowFrom({ ipBlocks: ['10.0.0.0/8'] }))], conn: PLAIN, want: 'peer-authn-strict' },
  { title: 'PERMISSIVE allows nothing by itself: a principals ALLOW rejects plaintext', objects: [ns('PERMISSIVE'), ap('shop', 'p', allowFrom({ principals: ['*'] }))], conn: PLAIN, want: 'no-allow-matched' },
  { title: 'a matching DENY is reported before STRICT', objects: [ns('STRICT'), ap('shop', 'd', { action: 'DENY', rules: [{}] })], conn: PLAIN, want: 'deny-matched', policy: 'shop/d' },
  { title: 'STRICT reason names the port', objects: [mesh('STRICT')], conn: { plaintext: true, dstPort: 8443 }, want: 'peer-authn-strict', reason: 'PeerAuthentication STRICT for port 8443' },
];

runCases(test, [...levels, ...ports, ...oldest, ...interplay]);
