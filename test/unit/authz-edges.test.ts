import test from 'ava';
import { allowFrom, ap, denyFrom, pa, runCases, when, type Case } from './authz-harness.js';

/** Edge cases of the L4 semantics: at least one case per edge. */
const PLAIN = { plaintext: true };
const P = (spec: Record<string, unknown>, meta: Record<string, unknown> = {}) => [ap('shop', 'p', spec, meta)];

const edges: Case[] = [
  { title: 'empty list principals: [] is the same as absent', objects: P(allowFrom({ principals: [], namespaces: ['client'] })), want: 'allow-matched' },
  { title: 'negative-only source (notPrincipals) is satisfied by plaintext', objects: P(allowFrom({ notPrincipals: ['a/ns/b/sa/c'] })), conn: PLAIN, want: 'allow-matched' },
  { title: 'negative-only source (notNamespaces) is satisfied by plaintext', objects: P(allowFrom({ notNamespaces: ['b'] })), conn: PLAIN, want: 'allow-matched' },
  { title: 'negative-only source (notServiceAccounts) is satisfied by plaintext', objects: P(allowFrom({ notServiceAccounts: ['b/c'] })), conn: PLAIN, want: 'allow-matched' },
  { title: 'presence * on principal of plaintext is false', objects: P(allowFrom({ principals: ['*'] })), conn: PLAIN, want: 'no-allow-matched' },
  { title: 'presence * on namespace of plaintext is false', objects: P(allowFrom({ namespaces: ['*'] })), conn: PLAIN, want: 'no-allow-matched' },
  { title: 'DENY notPrincipals ["*"] denies plaintext only', objects: P(denyFrom({ notPrincipals: ['*'] })), conn: PLAIN, want: 'deny-matched' },
  { title: 'spiffe:// written in a principal never matches', objects: P(allowFrom({ principals: ['spiffe://cluster.local/ns/client/sa/sleep'] })), want: 'no-allow-matched' },
  { title: 'inner * (b*r) is literal', objects: P(allowFrom({ namespaces: ['cl*nt'] })), want: 'no-allow-matched' },
  { title: 'unqualified service account resolves in the policy namespace', objects: P(allowFrom({ serviceAccounts: ['sleep'] })), conn: { identity: 'spiffe://cluster.local/ns/shop/sa/sleep' }, want: 'allow-matched' },
  { title: 'service account with a foreign trust domain still matches', objects: P(allowFrom({ serviceAccounts: ['client/sleep'] })), conn: { identity: 'spiffe://other.domain/ns/client/sa/sleep' }, want: 'allow-matched' },
  { title: 'IPv6 CIDR vs IPv4 source does not match', objects: P(allowFrom({ ipBlocks: ['fd00::/8'] })), want: 'no-allow-matched' },
  { title: '0.0.0.0/0 vs IPv6 source does not match', objects: P(allowFrom({ ipBlocks: ['0.0.0.0/0'] })), conn: { srcIp: 'fd00::7' }, want: 'no-allow-matched' },
  { title: 'IPv4-mapped source is canonicalized to IPv4', objects: P(denyFrom({ ipBlocks: ['10.0.2.7'] })), conn: { srcIp: '::ffff:10.0.2.7' }, want: 'deny-matched' },
  { title: 'IPv4-mapped CIDR in a policy never matches', objects: P(denyFrom({ ipBlocks: ['::ffff:10.0.2.7'] })), conn: { srcIp: '10.0.2.7' }, want: 'no-allow-policies' },
  { title: 'CIDR with host bits (10.0.2.99/16) acts as the network', objects: P(denyFrom({ ipBlocks: ['10.0.2.99/16'] })), conn: { srcIp: '10.0.200.1' }, want: 'deny-matched' },
  { title: 'destination.ip = Service VIP never matches', objects: P(when('ALLOW', 'destination.ip', ['10.96.12.34'])), want: 'no-allow-matched' },
  { title: 'policy port = Service port never matches the target port', objects: P({ action: 'DENY', rules: [{ to: [{ operation: { ports: ['80'] } }] }] }), conn: { dstPort: 8080 }, want: 'no-allow-policies' },
  { title: 'DENY without rules is a no-op', objects: P({ action: 'DENY' }), want: 'no-allow-policies' },
  { title: 'from: [{source: {}}] matches nothing', objects: P({ rules: [{ from: [{ source: {} }] }] }), want: 'no-allow-matched' },
  { title: 'from: [{source: {}}] in DENY denies nothing', objects: P({ action: 'DENY', rules: [{ from: [{ source: {} }] }] }), want: 'no-allow-policies' },
  { title: 'unparseable dry-run annotation is enforced', objects: P({ action: 'DENY', rules: [{}] }, { annotations: { 'istio.io/dry-run': 'yes' } }), want: 'deny-matched' },
  { title: 'ALLOW with only HTTP rules is allow-nothing', objects: P({ rules: [{ to: [{ operation: { methods: ['GET'], paths: ['/'] } }] }] }), want: 'no-allow-matched' },
  { title: 'DENY with only HTTP attributes has no effect', objects: P({ action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] }), want: 'no-allow-policies' },
  { title: 'CUSTOM action is ignored', objects: P({ action: 'CUSTOM', provider: { name: 'opa' }, rules: [{}] }), want: 'no-allow-policies' },
  { title: 'AUDIT action is ignored', objects: P({ action: 'AUDIT', rules: [{}] }), want: 'no-allow-policies' },
  { title: 'targetRefs policy is ignored at L4', objects: P({ action: 'DENY', rules: [{}], targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'wp' }] }), want: 'no-allow-policies' },
  { title: 'PeerAuthentication DISABLE = PERMISSIVE for plaintext', objects: [pa('shop', 'd', { mtls: { mode: 'DISABLE' } })], conn: PLAIN, want: 'no-allow-policies' },
  { title: 'PeerAuthentication DISABLE still accepts mTLS', objects: [pa('shop', 'd', { mtls: { mode: 'DISABLE' } })], want: 'no-allow-policies' },
  { title: 'root-namespace PeerAuthentication with selector is ignored', objects: [pa('istio-system', 's', { selector: { matchLabels: { app: 'web' } }, mtls: { mode: 'STRICT' } })], conn: PLAIN, want: 'no-allow-policies' },
  { title: 'portLevelMtls key = Service port does not exempt the target port', objects: [pa('shop', 'w', { selector: { matchLabels: { app: 'web' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { 80: { mode: 'DISABLE' } } })], conn: { plaintext: true, dstPort: 8080 }, want: 'peer-authn-strict' },
];

runCases(test, edges);
