import test from 'ava';
import { allowFrom, ap, denyFrom, runCases, when, type Case } from './authz-harness.js';

/** String value syntax (exact, prefix, suffix, presence); each matcher, with not-forms and plaintext. */
const P = (spec: Record<string, unknown>) => [ap('shop', 'p', spec)];
const PLAIN = { plaintext: true };
const SLEEP = 'cluster.local/ns/client/sa/sleep';

const principalCases: [string, string[], string, boolean][] = [
  ['exact principal', [SLEEP], SLEEP, true],
  ['exact principal mismatch', ['cluster.local/ns/client/sa/other'], SLEEP, false],
  ['prefix principal', ['cluster.local/ns/client/*'], SLEEP, true],
  ['prefix principal mismatch', ['cluster.local/ns/shop/*'], SLEEP, false],
  ['suffix principal', ['*/sa/sleep'], SLEEP, true],
  ['suffix principal mismatch', ['*/sa/curl'], SLEEP, false],
  ['presence principal', ['*'], SLEEP, true],
  ['leading and trailing * is a suffix with a literal *', ['*sleep*'], SLEEP, false],
  ['leading and trailing * matches a literal trailing *', ['*sleep*'], 'cluster.local/ns/client/sa/sleep*', true],
  ['principals are case-sensitive', ['cluster.local/ns/client/sa/Sleep'], SLEEP, false],
  ['trust domain is part of the principal', ['cluster.local/ns/client/sa/sleep'], 'example.org/ns/client/sa/sleep', false],
  ['principal written with spiffe:// never matches', ['spiffe://cluster.local/ns/client/sa/sleep'], SLEEP, false],
  ['one of several principals', ['a/ns/b/sa/c', SLEEP], SLEEP, true],
];

const namespaceCases: [string, string[], string, boolean][] = [
  ['exact namespace', ['client'], 'client', true],
  ['exact namespace mismatch', ['clients'], 'client', false],
  ['prefix namespace', ['cli*'], 'client', true],
  ['suffix namespace', ['*ent'], 'client', true],
  ['suffix namespace mismatch', ['*ant'], 'client', false],
  ['presence namespace', ['*'], 'client', true],
  ['inner * is literal', ['b*r'], 'bar', false],
  ['inner * matches only itself', ['b*r'], 'b*r', true],
  ['namespaces are case-sensitive', ['Client'], 'client', false],
];

const identity = (principal: string) => `spiffe://${principal}`;

const strings: Case[] = [
  ...principalCases.map(([title, values, principal, hit]): Case => ({
    title: `${title}: ${values.join(',')} vs ${principal}`, objects: P(allowFrom({ principals: values })),
    conn: { identity: identity(principal) }, want: hit ? 'allow-matched' : 'no-allow-matched',
  })),
  ...principalCases.map(([title, values, principal, hit]): Case => ({
    title: `notPrincipals inverts ${title}`, objects: P(denyFrom({ notPrincipals: values })),
    conn: { identity: identity(principal) }, want: hit ? 'no-allow-policies' : 'deny-matched',
  })),
  ...namespaceCases.map(([title, values, ns, hit]): Case => ({
    title: `${title}: ${values.join(',')} vs ${ns}`, objects: P(allowFrom({ namespaces: values })),
    conn: { identity: `spiffe://cluster.local/ns/${ns}/sa/sleep` }, want: hit ? 'allow-matched' : 'no-allow-matched',
  })),
  ...namespaceCases.map(([title, values, ns, hit]): Case => ({
    title: `source.namespace condition: ${title}`, objects: P(when('ALLOW', 'source.namespace', values)),
    conn: { identity: `spiffe://cluster.local/ns/${ns}/sa/sleep` }, want: hit ? 'allow-matched' : 'no-allow-matched',
  })),
  { title: 'source.principal condition with prefix', objects: P(when('ALLOW', 'source.principal', ['cluster.local/ns/client/*'])), want: 'allow-matched' },
  { title: 'source.principal notValues excludes', objects: P(when('DENY', 'source.principal', [], [SLEEP])), want: 'no-allow-policies' },
  { title: 'plaintext fails a positive principal', objects: P(allowFrom({ principals: [SLEEP] })), conn: PLAIN, want: 'no-allow-matched' },
  { title: 'plaintext fails principal presence', objects: P(allowFrom({ principals: ['*'] })), conn: PLAIN, want: 'no-allow-matched' },
  { title: 'notPrincipals alone admits plaintext', objects: P(allowFrom({ notPrincipals: [SLEEP] })), conn: PLAIN, want: 'allow-matched' },
  { title: 'DENY notPrincipals ["*"] denies plaintext', objects: P(denyFrom({ notPrincipals: ['*'] })), conn: PLAIN, want: 'deny-matched' },
  { title: 'DENY notPrincipals ["*"] lets mTLS through', objects: P(denyFrom({ notPrincipals: ['*'] })), want: 'no-allow-policies' },
  { title: 'plaintext fails namespace presence', objects: P(allowFrom({ namespaces: ['*'] })), conn: PLAIN, want: 'no-allow-matched' },
  { title: 'notNamespaces is satisfied by plaintext', objects: P(allowFrom({ notNamespaces: ['client'] })), conn: PLAIN, want: 'allow-matched' },
  { title: 'notNamespaces excludes the listed namespace', objects: P(allowFrom({ notNamespaces: ['client'] })), want: 'no-allow-matched' },
  { title: 'namespace comes from the identity, not the source IP', objects: P(allowFrom({ namespaces: ['shop'] })), conn: { srcIp: '10.0.1.6' }, want: 'no-allow-matched' },
];

const serviceAccounts: Case[] = [
  { title: 'ns/sa matches', objects: P(allowFrom({ serviceAccounts: ['client/sleep'] })), want: 'allow-matched' },
  { title: 'ns/sa with another sa does not match', objects: P(allowFrom({ serviceAccounts: ['client/curl'] })), want: 'no-allow-matched' },
  { title: 'bare sa resolves in the policy namespace (mismatch)', objects: P(allowFrom({ serviceAccounts: ['sleep'] })), want: 'no-allow-matched' },
  { title: 'bare sa resolves in the policy namespace (match)', objects: P(allowFrom({ serviceAccounts: ['sleep'] })), conn: { identity: 'spiffe://cluster.local/ns/shop/sa/sleep' }, want: 'allow-matched' },
  { title: 'service account ignores the trust domain', objects: P(allowFrom({ serviceAccounts: ['client/sleep'] })), conn: { identity: 'spiffe://foreign.example/ns/client/sa/sleep' }, want: 'allow-matched' },
  { title: 'plaintext fails a positive service account', objects: P(allowFrom({ serviceAccounts: ['client/sleep'] })), conn: PLAIN, want: 'no-allow-matched' },
  { title: 'notServiceAccounts is satisfied by plaintext', objects: P(allowFrom({ notServiceAccounts: ['client/sleep'] })), conn: PLAIN, want: 'allow-matched' },
  { title: 'notServiceAccounts excludes the listed account', objects: P(denyFrom({ notServiceAccounts: ['client/sleep'] })), want: 'no-allow-policies' },
  { title: 'notServiceAccounts denies other accounts', objects: P(denyFrom({ notServiceAccounts: ['client/curl'] })), want: 'deny-matched' },
];

const ip = (ipBlocks: string[], srcIp: string, hit: boolean, title: string): Case => ({
  title: `${title}: ${ipBlocks.join(',')} vs ${srcIp}`, objects: P(allowFrom({ ipBlocks })),
  conn: { srcIp }, want: hit ? 'allow-matched' : 'no-allow-matched',
});

const ips: Case[] = [
  ip(['10.0.0.0/16'], '10.0.2.7', true, 'IPv4 CIDR contains'),
  ip(['10.1.0.0/16'], '10.0.2.7', false, 'IPv4 CIDR does not contain'),
  ip(['10.0.2.7'], '10.0.2.7', true, 'bare address is a /32'),
  ip(['10.0.2.7'], '10.0.2.8', false, 'bare address is only itself'),
  ip(['0.0.0.0/0'], '2001:db8::7', false, '0.0.0.0/0 does not cover IPv6'),
  ip(['::/0'], '10.0.2.7', false, '::/0 does not cover IPv4'),
  ip(['2001:db8::/32'], '10.0.2.7', false, 'IPv6 CIDR vs IPv4 source'),
  ip(['2001:db8::/32'], '2001:db8:1::7', true, 'IPv6 CIDR contains'),
  ip(['2001:db8::/32'], '2001:db9::7', false, 'IPv6 CIDR does not contain'),
  ip(['2001:db8::7'], '2001:DB8:0:0::7', true, 'bare IPv6 address is a /128, compared canonically'),
  ip(['10.0.0.0/16'], '::ffff:10.0.2.7', true, 'IPv4-mapped source is canonicalized'),
  ip(['::ffff:10.0.0.0/104'], '10.0.2.7', false, 'IPv4-mapped CIDR never matches'),
  ip(['::ffff:10.0.0.0/104'], '::ffff:10.0.2.7', false, 'IPv4-mapped CIDR never matches a mapped source'),
  ip(['::ffff:0:0/96'], '10.0.2.7', false, 'the whole IPv4-mapped range never matches'),
  ip(['10.0.2.99/16'], '10.0.9.1', true, 'CIDR with host bits acts as the network'),
  ip(['10.0.2.99/24'], '10.0.3.1', false, 'CIDR with host bits keeps its prefix'),
  ip(['10.0.2.0/24', '192.168.0.0/16'], '192.168.4.4', true, 'one of several blocks'),
  { title: 'ipBlocks work for plaintext', objects: P(allowFrom({ ipBlocks: ['10.0.0.0/8'] })), conn: { plaintext: true }, want: 'allow-matched' },
  { title: 'notIpBlocks excludes', objects: P(allowFrom({ notIpBlocks: ['10.0.2.0/24'] })), want: 'no-allow-matched' },
  { title: 'notIpBlocks admits others', objects: P(allowFrom({ notIpBlocks: ['10.0.3.0/24'] })), want: 'allow-matched' },
  { title: 'ipBlocks and notIpBlocks together carve a hole', objects: P(allowFrom({ ipBlocks: ['10.0.0.0/8'], notIpBlocks: ['10.0.2.0/24'] })), want: 'no-allow-matched' },
  { title: 'source.ip condition', objects: P(when('ALLOW', 'source.ip', ['10.0.2.0/24'])), want: 'allow-matched' },
  { title: 'source.ip notValues', objects: P(when('DENY', 'source.ip', [], ['10.0.2.0/24'])), want: 'no-allow-policies' },
  { title: 'destination.ip matches the workload address', objects: P(when('DENY', 'destination.ip', ['10.0.1.5'])), want: 'deny-matched' },
  { title: 'destination.ip set to a Service VIP never matches', objects: P(when('DENY', 'destination.ip', ['10.96.0.10'])), want: 'no-allow-policies' },
  { title: 'destination.ip notValues', objects: P(when('ALLOW', 'destination.ip', [], ['10.0.1.0/24'])), want: 'no-allow-matched' },
  { title: 'destination.ip with an IPv4-mapped destination address', objects: P(when('ALLOW', 'destination.ip', ['10.0.1.0/24'])), conn: { dstIp: '::ffff:10.0.1.5' }, want: 'allow-matched' },
];

const ports: Case[] = [
  { title: 'port matches exactly', objects: P({ rules: [{ to: [{ operation: { ports: ['8080'] } }] }] }), want: 'allow-matched' },
  { title: 'port mismatch', objects: P({ rules: [{ to: [{ operation: { ports: ['8081'] } }] }] }), want: 'no-allow-matched' },
  { title: 'Service port never matches the target port', objects: P({ rules: [{ to: [{ operation: { ports: ['80'] } }] }] }), want: 'no-allow-matched' },
  { title: 'notPorts excludes', objects: P({ rules: [{ to: [{ operation: { notPorts: ['8080'] } }] }] }), want: 'no-allow-matched' },
  { title: 'notPorts admits other ports', objects: P({ rules: [{ to: [{ operation: { notPorts: ['9090'] } }] }] }), want: 'allow-matched' },
  { title: 'ports written as YAML integers', objects: P({ action: 'DENY', rules: [{ to: [{ operation: { ports: [8080] } }] }] }), want: 'deny-matched' },
  { title: 'destination.port condition', objects: P(when('DENY', 'destination.port', ['8080'])), want: 'deny-matched' },
  { title: 'destination.port notValues', objects: P(when('DENY', 'destination.port', [], ['8080'])), want: 'no-allow-policies' },
];

const trustDomains: Case[] = [
  { title: 'trustDomains exact', objects: P(allowFrom({ trustDomains: ['cluster.local'] })), want: 'allow-matched' },
  { title: 'trustDomains mismatch', objects: P(allowFrom({ trustDomains: ['example.org'] })), want: 'no-allow-matched' },
  { title: 'trustDomains suffix', objects: P(allowFrom({ trustDomains: ['*.local'] })), want: 'allow-matched' },
  { title: 'trustDomains presence fails for plaintext', objects: P(allowFrom({ trustDomains: ['*'] })), conn: PLAIN, want: 'no-allow-matched' },
  { title: 'notTrustDomains excludes', objects: P(denyFrom({ notTrustDomains: ['cluster.local'] })), want: 'no-allow-policies' },
  { title: 'notTrustDomains denies foreign domains', objects: P(denyFrom({ notTrustDomains: ['cluster.local'] })), conn: { identity: 'spiffe://evil.example/ns/client/sa/sleep' }, want: 'deny-matched' },
  { title: 'trustDomains is ANDed with namespaces', objects: P(allowFrom({ namespaces: ['client'], trustDomains: ['example.org'] })), want: 'no-allow-matched' },
];

runCases(test, [...strings, ...serviceAccounts, ...ips, ...ports, ...trustDomains]);
