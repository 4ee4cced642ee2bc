import test from 'ava';
import { parseFile } from '../../agent/config/documents.js';
import { formatProblem, Problems } from '../../agent/config/problems.js';
import { isSecurityKind, parseSecurityDoc } from '../../agent/model/security/index.js';
import { ap, pa, parseObjects, type Obj } from './authz-harness.js';

/** Validation of security objects: every problem with its field path (CVE-2022-21679). */
interface ProblemCase {
  title: string;
  object: Obj;
  path: string;
  message: RegExp;
  severity?: 'error' | 'warning';
}

const rule = (r: Obj) => ap('shop', 'p', { rules: [r] });
const source = (s: Obj) => rule({ from: [{ source: s }] });
const operation = (o: Obj) => rule({ to: [{ operation: o }] });
const cond = (c: Obj) => rule({ when: [c] });

const cases: ProblemCase[] = [
  { title: 'unknown top-level spec field', object: ap('shop', 'p', { rule: [] }), path: 'spec.rule', message: /unknown field "rule"; did you mean "rules"\?/ },
  { title: 'typo in a notPorts field (the CVE)', object: operation({ notPort: ['22'] }), path: 'spec.rules[0].to[0].operation.notPort', message: /unknown field "notPort"; did you mean "notPorts"/ },
  { title: 'unknown field in a rule', object: rule({ form: [] }), path: 'spec.rules[0].form', message: /unknown field "form"/ },
  { title: 'unknown field in a source', object: source({ principal: ['x'] }), path: 'spec.rules[0].from[0].source.principal', message: /did you mean "principals"/ },
  { title: 'unknown field in a from entry', object: rule({ from: [{ sources: {} }] }), path: 'spec.rules[0].from[0].sources', message: /unknown field/ },
  { title: 'unknown field in a to entry', object: rule({ to: [{ operations: {} }] }), path: 'spec.rules[0].to[0].operations', message: /unknown field/ },
  { title: 'unknown field in a condition', object: cond({ key: 'source.ip', value: ['1.2.3.4'] }), path: 'spec.rules[0].when[0].value', message: /did you mean "values"/ },
  { title: 'unknown field in a selector', object: ap('shop', 'p', { selector: { matchLabel: { a: 'b' } } }), path: 'spec.selector.matchLabel', message: /did you mean "matchLabels"/ },
  { title: 'unknown field in metadata', object: ap('shop', 'p', {}, { annotation: {} }), path: 'metadata.annotation', message: /did you mean "annotations"/ },
  { title: 'unknown top-level field', object: { ...ap('shop', 'p', {}), specs: {} }, path: 'specs', message: /unknown field "specs"/ },
  { title: 'unknown field in a targetRef', object: ap('shop', 'p', { targetRef: { kind: 'Gateway', name: 'g', namspace: 'x' } }), path: 'spec.targetRef.namspace', message: /did you mean "namespace"/ },
  { title: 'unknown field in a provider', object: ap('shop', 'p', { action: 'CUSTOM', provider: { nam: 'x' } }), path: 'spec.provider.nam', message: /unknown field/ },
  { title: 'bad CIDR in ipBlocks', object: source({ ipBlocks: ['10.0.0.0/33'] }), path: 'spec.rules[0].from[0].source.ipBlocks[0]', message: /invalid prefix length/ },
  { title: 'not an address in notIpBlocks', object: source({ notIpBlocks: ['10.0.0'] }), path: 'spec.rules[0].from[0].source.notIpBlocks[0]', message: /not an IP address/ },
  { title: 'bad CIDR in remoteIpBlocks', object: source({ remoteIpBlocks: ['host.example'] }), path: 'spec.rules[0].from[0].source.remoteIpBlocks[0]', message: /not an IP address/ },
  { title: 'bad IPv6 prefix', object: source({ ipBlocks: ['2001:db8::/129'] }), path: 'spec.rules[0].from[0].source.ipBlocks[0]', message: /invalid prefix length/ },
  { title: 'port out of range', object: operation({ ports: ['70000'] }), path: 'spec.rules[0].to[0].operation.ports[0]', message: /port number 1-65535/ },
  { title: 'port zero', object: operation({ notPorts: ['0'] }), path: 'spec.rules[0].to[0].operation.notPorts[0]', message: /port number/ },
  { title: 'port range', object: operation({ ports: ['8000-9000'] }), path: 'spec.rules[0].to[0].operation.ports[0]', message: /no ranges or names/ },
  { title: 'port name', object: operation({ ports: ['http'] }), path: 'spec.rules[0].to[0].operation.ports[0]', message: /port number/ },
  { title: 'negative port', object: operation({ ports: [-1] }), path: 'spec.rules[0].to[0].operation.ports[0]', message: /port number/ },
  { title: 'unknown when key', object: cond({ key: 'source.ips', values: ['1.2.3.4'] }), path: 'spec.rules[0].when[0].key', message: /unknown condition key "source.ips"/ },
  { title: 'malformed header key', object: cond({ key: 'request.headers[x', values: ['1'] }), path: 'spec.rules[0].when[0].key', message: /must have the form request.headers\[NAME\]/ },
  { title: 'when without values', object: cond({ key: 'source.ip' }), path: 'spec.rules[0].when[0]', message: /at least one of values or notValues/ },
  { title: 'when without key', object: cond({ values: ['a'] }), path: 'spec.rules[0].when[0].key', message: /is required/ },
  { title: 'bad IP in a source.ip condition', object: cond({ key: 'source.ip', values: ['10.0.0.300'] }), path: 'spec.rules[0].when[0].values[0]', message: /not an IP address/ },
  { title: 'bad IP in a destination.ip notValues', object: cond({ key: 'destination.ip', notValues: ['x'] }), path: 'spec.rules[0].when[0].notValues[0]', message: /not an IP address/ },
  { title: 'bad port in a destination.port condition', object: cond({ key: 'destination.port', values: ['99999'] }), path: 'spec.rules[0].when[0].values[0]', message: /port number/ },
  { title: 'unknown action', object: ap('shop', 'p', { action: 'REJECT' }), path: 'spec.action', message: /must be one of ALLOW, DENY, AUDIT, CUSTOM/ },
  { title: 'lower-case action', object: ap('shop', 'p', { action: 'allow' }), path: 'spec.action', message: /must be one of/ },
  { title: 'CUSTOM without provider', object: ap('shop', 'p', { action: 'CUSTOM', rules: [{}] }), path: 'spec.provider', message: /required when action is CUSTOM/ },
  { title: 'provider without CUSTOM', object: ap('shop', 'p', { provider: { name: 'x' } }), path: 'spec.provider', message: /only allowed with action CUSTOM/ },
  { title: 'targetRef with selector', object: ap('shop', 'p', { selector: { matchLabels: { a: 'b' } }, targetRef: { kind: 'Gateway', name: 'g' } }), path: 'spec', message: /only one of targetRef, targetRefs or selector/ },
  { title: 'targetRef and targetRefs', object: ap('shop', 'p', { targetRef: { kind: 'Gateway', name: 'g' }, targetRefs: [{ kind: 'Gateway', name: 'g' }] }), path: 'spec.targetRefs', message: /only one of targetRef or targetRefs/ },
  { title: 'targetRef without name', object: ap('shop', 'p', { targetRef: { kind: 'Gateway' } }), path: 'spec.targetRef', message: /kind and name are required/ },
  { title: 'wildcard service account', object: source({ serviceAccounts: ['ns/*'] }), path: 'spec.rules[0].from[0].source.serviceAccounts[0]', message: /wildcards are not supported/ },
  { title: 'service account with two slashes', object: source({ notServiceAccounts: ['a/b/c'] }), path: 'spec.rules[0].from[0].source.notServiceAccounts[0]', message: /NAMESPACE\/SERVICE_ACCOUNT/ },
  { title: 'service accounts with principals', object: source({ serviceAccounts: ['a/b'], principals: ['x'] }), path: 'spec.rules[0].from[0].source', message: /cannot be combined/ },
  { title: 'non-string principal', object: source({ principals: [42] }), path: 'spec.rules[0].from[0].source.principals[0]', message: /must be a string, got number 42/ },
  { title: 'empty namespace value', object: source({ namespaces: [''] }), path: 'spec.rules[0].from[0].source.namespaces[0]', message: /empty value not allowed/ },
  { title: 'principals not a list', object: source({ principals: 'x' }), path: 'spec.rules[0].from[0].source.principals', message: /must be a list/ },
  { title: 'rules not a list', object: ap('shop', 'p', { rules: { from: [] } }), path: 'spec.rules', message: /must be a list/ },
  { title: 'spec not an object', object: ap('shop', 'p', ['x'] as unknown as Obj), path: 'spec', message: /must be an object/ },
  { title: 'label value not a string', object: ap('shop', 'p', { selector: { matchLabels: { app: 1 } } }), path: 'spec.selector.matchLabels.app', message: /must be a string/ },
  { title: 'missing name', object: { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { namespace: 'shop' }, spec: {} }, path: 'metadata.name', message: /is required/ },
  { title: 'bad creationTimestamp', object: pa('shop', 'p', {}, 'yesterday'), path: 'metadata.creationTimestamp', message: /RFC 3339/ },
  { title: 'bad mTLS mode', object: pa('shop', 'p', { mtls: { mode: 'STRICTER' } }), path: 'spec.mtls.mode', message: /must be one of UNSET, DISABLE, PERMISSIVE, STRICT/ },
  { title: 'unknown field in mtls', object: pa('shop', 'p', { mtls: { mod: 'STRICT' } }), path: 'spec.mtls.mod', message: /did you mean "mode"/ },
  { title: 'unknown PeerAuthentication spec field', object: pa('shop', 'p', { portLevelMTLS: {} }), path: 'spec.portLevelMTLS', message: /did you mean "portLevelMtls"/ },
  { title: 'portLevelMtls without selector', object: pa('shop', 'p', { portLevelMtls: { 8080: { mode: 'STRICT' } } }), path: 'spec.portLevelMtls', message: /requires a selector/ },
  { title: 'portLevelMtls with a bad port', object: pa('shop', 'p', { selector: { matchLabels: { a: 'b' } }, portLevelMtls: { http: { mode: 'STRICT' } } }), path: 'spec.portLevelMtls.http', message: /port number/ },
  { title: 'portLevelMtls with a bad mode', object: pa('shop', 'p', { selector: { matchLabels: { a: 'b' } }, portLevelMtls: { 8080: { mode: 'OFF' } } }), path: 'spec.portLevelMtls.8080.mode', message: /must be one of/ },
  { title: 'warns: DENY without rules', object: ap('shop', 'p', { action: 'DENY' }), path: 'spec.rules', message: /has no effect/, severity: 'warning' },
  { title: 'warns: empty source', object: source({}), path: 'spec.rules[0].from[0].source', message: /matches nothing at L4/, severity: 'warning' },
  { title: 'warns: missing operation', object: rule({ to: [{}] }), path: 'spec.rules[0].to[0].operation', message: /matches nothing at L4/, severity: 'warning' },
  { title: 'warns: unparseable dry-run annotation', object: ap('shop', 'p', {}, { annotations: { 'istio.io/dry-run': 'yes' } }), path: 'metadata.annotations.istio.io/dry-run', message: /policy is enforced/, severity: 'warning' },
];

for (const c of cases) {
  test(`${c.severity ?? 'error'}: ${c.title} is reported at ${c.path}`, (t) => {
    const problems = new Problems();
    parseObjects([c.object], problems);
    const found = problems.list.find((p) => p.path === c.path && c.message.test(p.message));
    t.truthy(found, problems.list.map(formatProblem).join('\n') || 'no problems reported');
    t.is(found?.severity, c.severity ?? 'error');
    if (c.severity === 'warning') t.deepEqual(problems.errors, []);
  });
}

test('every problem of a document is reported, not just the first', (t) => {
  const problems = new Problems();
  parseObjects([ap('shop', 'p', { action: 'NOPE', rules: [{ from: [{ source: { ipBlocks: ['x'], principal: ['y'] } }], to: [{ operation: { ports: ['0'] } }] }] })], problems);
  t.deepEqual(problems.errors.map((p) => p.path).sort(), [
    'spec.action', 'spec.rules[0].from[0].source.ipBlocks[0]', 'spec.rules[0].from[0].source.principal', 'spec.rules[0].to[0].operation.ports[0]',
  ]);
});

test('problems carry file, document index, object and the line of the field', (t) => {
  const text = [
    'apiVersion: v1', 'kind: Namespace', 'metadata: {name: shop}', '---',
    'apiVersion: security.istio.io/v1', 'kind: AuthorizationPolicy', 'metadata:', '  name: p', '  namespace: shop', 'spec:',
    '  rules:', '  - to:', '    - operation:', '        notPort: ["22"]',
  ].join('\n');
  const problems = new Problems();
  const docs = parseFile('mesh.yaml', text, problems).filter((d) => isSecurityKind(d.apiVersion, d.kind));
  docs.forEach((d) => parseSecurityDoc(d, problems));
  t.is(problems.errors.length, 1);
  t.regex(formatProblem(problems.errors[0]!), /^mesh\.yaml:14 \(document 1\) AuthorizationPolicy shop\/p: error: spec\.rules\[0\]\.to\[0\]\.operation\.notPort: unknown field/);
});

const kinds: [string, string, boolean][] = [
  ['security.istio.io/v1', 'AuthorizationPolicy', true],
  ['security.istio.io/v1beta1', 'AuthorizationPolicy', true],
  ['security.istio.io/v1', 'PeerAuthentication', true],
  ['security.istio.io/v1beta1', 'PeerAuthentication', true],
  ['security.istio.io/v1', 'RequestAuthentication', false],
  ['security.istio.io/v1alpha1', 'AuthorizationPolicy', false],
  ['networking.istio.io/v1', 'AuthorizationPolicy', false],
];
for (const [apiVersion, kind, want] of kinds) {
  test(`isSecurityKind(${apiVersion}, ${kind}) is ${want}`, (t) => t.is(isSecurityKind(apiVersion, kind), want));
}

test('a valid policy parses without problems and with defaults filled in', (t) => {
  const problems = new Problems();
  const [p] = parseObjects([{ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p' }, spec: { rules: [{ to: [{ operation: { ports: ['8080', 9090] } }] }] } }], problems);
  t.deepEqual(problems.list, []);
  t.is(p?.kind, 'AuthorizationPolicy');
  if (p?.kind !== 'AuthorizationPolicy') return;
  t.is(p.namespace, 'default');
  t.is(p.action, 'ALLOW');
  t.false(p.dryRun);
  t.deepEqual(p.rules[0]?.to[0]?.ports, [8080, 9090]);
});

test('a PeerAuthentication parses mode, ports and creation time', (t) => {
  const problems = new Problems();
  const [p] = parseObjects([pa('shop', 'w', { selector: { matchLabels: { app: 'web' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { '9090': { mode: 'PERMISSIVE' } } }, '2024-05-06T07:08:09Z')], problems);
  t.deepEqual(problems.list, []);
  if (p?.kind !== 'PeerAuthentication') return t.fail('not a PeerAuthentication');
  t.is(p.mode, 'STRICT');
  t.deepEqual([...p.portLevelMtls], [[9090, 'PERMISSIVE']]);
  t.is(p.creationTimestamp, Date.parse('2024-05-06T07:08:09Z'));
});
