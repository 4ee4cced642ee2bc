import test from 'ava';
import { allowFrom, allowTo, ap, denyFrom, denyTo, runCases, when, type Case } from './authz-harness.js';

/** Rule structure, degenerate shapes, HTTP-only attributes. */
const CLIENT_NS = { namespaces: ['client'] };
const NOBODY = { namespaces: ['nobody'] };
const P = (spec: Record<string, unknown>) => [ap('shop', 'p', spec)];

const structure: Case[] = [
  { title: 'ALLOW rules [{}] allows everything', objects: P({ rules: [{}] }), conn: { plaintext: true }, want: 'allow-matched', policy: 'shop/p' },
  { title: 'DENY rules [{}] denies everything', objects: P({ action: 'DENY', rules: [{}] }), want: 'deny-matched', policy: 'shop/p' },
  { title: 'ALLOW rules [] allows nothing', objects: P({ rules: [] }), want: 'no-allow-matched' },
  { title: 'ALLOW spec {} allows nothing', objects: P({}), want: 'no-allow-matched' },
  { title: 'from entries are ORed (second entry matches)', objects: P({ rules: [{ from: [{ source: NOBODY }, { source: CLIENT_NS }] }] }), want: 'allow-matched' },
  { title: 'from entries are ORed (no entry matches)', objects: P({ rules: [{ from: [{ source: NOBODY }, { source: { namespaces: ['x'] } }] }] }), want: 'no-allow-matched' },
  { title: 'to entries are ORed', objects: P({ rules: [{ to: [{ operation: { ports: ['9090'] } }, { operation: { ports: ['8080'] } }] }] }), want: 'allow-matched' },
  { title: 'fields of one source are ANDed (one fails)', objects: P(allowFrom({ namespaces: ['client'], ipBlocks: ['192.168.0.0/16'] })), want: 'no-allow-matched' },
  { title: 'fields of one source are ANDed (both hold)', objects: P(allowFrom({ namespaces: ['client'], ipBlocks: ['10.0.0.0/8'] })), want: 'allow-matched' },
  { title: 'values of one field are ORed', objects: P(allowFrom({ namespaces: ['nobody', 'client'] })), want: 'allow-matched' },
  { title: 'from AND to: both hold', objects: P({ rules: [{ from: [{ source: CLIENT_NS }], to: [{ operation: { ports: ['8080'] } }] }] }), want: 'allow-matched' },
  { title: 'from AND to: to fails', objects: P({ rules: [{ from: [{ source: CLIENT_NS }], to: [{ operation: { ports: ['9090'] } }] }] }), want: 'no-allow-matched' },
  { title: 'from AND to: from fails', objects: P({ rules: [{ from: [{ source: NOBODY }], to: [{ operation: { ports: ['8080'] } }] }] }), want: 'no-allow-matched' },
  { title: 'rules are ORed', objects: P({ rules: [{ to: [{ operation: { ports: ['1'] } }] }, { from: [{ source: CLIENT_NS }] }] }), want: 'allow-matched', reason: 'rule 1' },
  { title: 'when is ANDed with from', objects: P({ rules: [{ from: [{ source: CLIENT_NS }], when: [{ key: 'destination.port', values: ['9090'] }] }] }), want: 'no-allow-matched' },
  { title: 'several when conditions are ANDed (all hold)', objects: P({ rules: [{ when: [{ key: 'destination.port', values: ['8080'] }, { key: 'source.namespace', values: ['client'] }] }] }), want: 'allow-matched' },
  { title: 'several when conditions are ANDed (one fails)', objects: P({ rules: [{ when: [{ key: 'destination.port', values: ['8080'] }, { key: 'source.namespace', values: ['nobody'] }] }] }), want: 'no-allow-matched' },
  { title: 'when with values and notValues: both must hold', objects: P({ rules: [{ when: [{ key: 'source.ip', values: ['10.0.0.0/8'], notValues: ['10.0.2.0/24'] }] }] }), want: 'no-allow-matched' },
  { title: 'notX means none of the values', objects: P(denyFrom({ notNamespaces: ['a', 'b'] })), want: 'deny-matched' },
  { title: 'notX with the connection value listed does not match', objects: P(denyFrom({ notNamespaces: ['a', 'client'] })), want: 'no-allow-policies' },
  { title: 'DENY with a source that matches in one rule of several', objects: P({ action: 'DENY', rules: [{ from: [{ source: NOBODY }] }, { to: [{ operation: { ports: ['8080'] } }] }] }), want: 'deny-matched', reason: 'rule 1' },
];

const http: Case[] = [
  { title: 'ALLOW with only methods allows nothing', objects: P(allowTo({ methods: ['GET'] })), want: 'no-allow-matched' },
  { title: 'ALLOW rule with ports and methods is discarded entirely', objects: P(allowTo({ ports: ['8080'], methods: ['GET'] })), want: 'no-allow-matched' },
  { title: 'ALLOW rule with an HTTP to-entry discards its L4 from-entry too', objects: P({ rules: [{ from: [{ source: CLIENT_NS }], to: [{ operation: { paths: ['/x'] } }] }] }), want: 'no-allow-matched' },
  { title: 'ALLOW: other rules survive a discarded rule', objects: P({ rules: [{ to: [{ operation: { methods: ['GET'] } }] }, { from: [{ source: CLIENT_NS }] }] }), want: 'allow-matched', reason: 'rule 1' },
  { title: 'ALLOW with requestPrincipals is discarded', objects: P(allowFrom({ namespaces: ['client'], requestPrincipals: ['*'] })), want: 'no-allow-matched' },
  { title: 'ALLOW with notRequestPrincipals is discarded', objects: P(allowFrom({ namespaces: ['client'], notRequestPrincipals: ['x'] })), want: 'no-allow-matched' },
  { title: 'ALLOW with remoteIpBlocks is discarded', objects: P(allowFrom({ remoteIpBlocks: ['10.0.0.0/8'] })), want: 'no-allow-matched' },
  { title: 'ALLOW with a request.headers condition is discarded', objects: P({ rules: [{ from: [{ source: CLIENT_NS }], when: [{ key: 'request.headers[x-user]', values: ['a'] }] }] }), want: 'no-allow-matched' },
  { title: 'ALLOW with a connection.sni condition is discarded', objects: P(when('ALLOW', 'connection.sni', ['web.shop'])), want: 'no-allow-matched' },
  { title: 'ALLOW with hosts is discarded', objects: P(allowTo({ hosts: ['web.shop.svc.cluster.local'], ports: ['8080'] })), want: 'no-allow-matched' },
  { title: 'HTTP-only ALLOW does not veto an L4 ALLOW', objects: [ap('shop', 'http', allowTo({ methods: ['GET'] })), ap('shop', 'l4', allowFrom(CLIENT_NS))], want: 'allow-matched', policy: 'shop/l4' },
  { title: 'DENY with only methods is a no-op', objects: P(denyTo({ methods: ['POST'] })), want: 'no-allow-policies' },
  { title: 'DENY with methods and ports denies all TCP on that port', objects: P(denyTo({ methods: ['POST'], ports: ['8080'] })), want: 'deny-matched', policy: 'shop/p' },
  { title: 'DENY with methods and ports leaves other ports alone', objects: P(denyTo({ methods: ['POST'], ports: ['8080'] })), conn: { dstPort: 9090 }, want: 'no-allow-policies' },
  { title: 'DENY principals + requestPrincipals denies the principal outright', objects: P(denyFrom({ principals: ['cluster.local/ns/client/sa/sleep'], requestPrincipals: ['issuer/user'] })), want: 'deny-matched' },
  { title: 'DENY from principals + to methods is a no-op', objects: P({ action: 'DENY', rules: [{ from: [{ source: { principals: ['*'] } }], to: [{ operation: { methods: ['POST'] } }] }] }), want: 'no-allow-policies' },
  { title: 'DENY from principals + request.headers condition is a no-op', objects: P({ action: 'DENY', rules: [{ from: [{ source: { principals: ['*'] } }], when: [{ key: 'request.headers[x]', values: ['1'] }] }] }), want: 'no-allow-policies' },
  { title: 'DENY with only remoteIpBlocks is a no-op', objects: P(denyFrom({ remoteIpBlocks: ['0.0.0.0/0'] })), want: 'no-allow-policies' },
  { title: 'DENY with only notRemoteIpBlocks is a no-op', objects: P(denyFrom({ notRemoteIpBlocks: ['192.168.0.0/16'] })), want: 'no-allow-policies' },
  { title: 'DENY ipBlocks + remoteIpBlocks enforces the ipBlocks', objects: P(denyFrom({ ipBlocks: ['10.0.2.0/24'], remoteIpBlocks: ['1.2.3.4'] })), want: 'deny-matched' },
  { title: 'DENY to [ports 8080, methods GET] denies port 8080', objects: P({ action: 'DENY', rules: [{ to: [{ operation: { ports: ['8080'] } }, { operation: { methods: ['GET'] } }] }] }), want: 'deny-matched' },
  { title: 'DENY to [ports 8080, methods GET] leaves port 9090 alone', objects: P({ action: 'DENY', rules: [{ to: [{ operation: { ports: ['8080'] } }, { operation: { methods: ['GET'] } }] }] }), conn: { dstPort: 9090 }, want: 'no-allow-policies' },
  { title: 'DENY with only hosts is a no-op', objects: P(denyTo({ hosts: ['*'] })), want: 'no-allow-policies' },
  { title: 'DENY with only paths is a no-op', objects: P(denyTo({ paths: ['/admin'] })), want: 'no-allow-policies' },
  { title: 'DENY with only notMethods is a no-op', objects: P(denyTo({ notMethods: ['GET'] })), want: 'no-allow-policies' },
  { title: 'DENY with only notPaths and notHosts is a no-op', objects: P(denyTo({ notPaths: ['/x'], notHosts: ['y'] })), want: 'no-allow-policies' },
  ...['remote.ip', 'connection.sni', 'source.serviceAccount', 'source.trustDomain', 'request.auth.principal', 'request.auth.claims[iss]', 'experimental.envoy.filters.network.mysql_proxy[db.table]'].map((key): Case => ({
    title: `DENY with only a ${key} condition is a no-op`, objects: P(when('DENY', key, [key === 'remote.ip' ? '10.0.0.0/8' : 'x'])), want: 'no-allow-policies',
  })),
  { title: 'DENY: an HTTP-only rule does not neutralize an L4 rule', objects: P({ action: 'DENY', rules: [{ to: [{ operation: { methods: ['GET'] } }] }, { from: [{ source: CLIENT_NS }] }] }), want: 'deny-matched', reason: 'rule 1' },
];

runCases(test, [...structure, ...http]);
