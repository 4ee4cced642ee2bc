import test from 'ava';
import { renderHostRules, type HostCaptureSpec } from '../../agent/hostnet/index.js';
import { hostCaptureSpec } from '../../agent/host/index.js';
import { parseHostFlags } from '../../agent/cli/host-flags.js';
import { UsageError } from '../../agent/cli/usage-error.js';
import type { MeshSnapshot, Workload } from '../../agent/model/types.js';

const spec: HostCaptureSpec = {
  agentUid: 41337, inboundPorts: [8080, 22, 15020], excludeInboundPorts: [2222], agentPorts: [15000, 15020, 15021],
  outbound: ['10.1.2.3/32', 'fd00::5/128'], excludeOutbound: ['10.9.0.0/16'],
};

test('host rules: HBONE, SSH, the agent\'s ports and exclusions are never captured; listed ports go to 15006', (t) => {
  const [v4] = renderHostRules(spec);
  t.deepEqual(v4!.tables[0]!.jumps, ['-A PREROUTING -p tcp -j MESHNODE_HOST_INBOUND', '-A OUTPUT -p tcp -j MESHNODE_HOST_OUTPUT']);
  t.deepEqual(v4!.tables[0]!.rules.filter((r) => r.startsWith('-A MESHNODE_HOST_INBOUND')), [
    ...[22, 2222, 15000, 15008, 15020, 15021].map((p) => `-A MESHNODE_HOST_INBOUND -p tcp -m tcp --dport ${p} -j RETURN`),
    '-A MESHNODE_HOST_INBOUND -m addrtype ! --dst-type LOCAL -j RETURN',
    '-A MESHNODE_HOST_INBOUND -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15006',
  ]);
});

test('host rules: the agent\'s uid and loopback are exempt outbound (no hairpin into 15006); each family gets its own CIDRs', (t) => {
  const [v4, v6] = renderHostRules(spec);
  const out = (f: typeof v4) => f!.tables[0]!.rules.filter((r) => r.startsWith('-A MESHNODE_HOST_OUTPUT'));
  t.deepEqual(out(v4), [
    '-A MESHNODE_HOST_OUTPUT -o lo -j RETURN',
    '-A MESHNODE_HOST_OUTPUT -m owner --uid-owner 41337 -j RETURN',
    '-A MESHNODE_HOST_OUTPUT -d 10.9.0.0/16 -j RETURN',
    '-A MESHNODE_HOST_OUTPUT -d 10.1.2.3/32 -p tcp -j REDIRECT --to-ports 15001',
  ]);
  t.deepEqual(out(v6).slice(2), ['-A MESHNODE_HOST_OUTPUT -d fd00::5/128 -p tcp -j REDIRECT --to-ports 15001']);
  t.false([...out(v4), ...out(v6)].some((r) => r.includes('15006')), 'no outbound rule leads into the inbound listener');
});

test('host rules: * captures every inbound port and every outbound destination, exemptions first', (t) => {
  const [v4] = renderHostRules({ ...spec, inboundPorts: '*', outbound: '*' });
  const rules = v4!.tables[0]!.rules;
  t.is(rules.at(-1), '-A MESHNODE_HOST_OUTPUT -p tcp -j REDIRECT --to-ports 15001');
  t.true(rules.includes('-A MESHNODE_HOST_INBOUND -p tcp -j REDIRECT --to-ports 15006'));
  t.true(rules.indexOf('-A MESHNODE_HOST_INBOUND -p tcp -m tcp --dport 22 -j RETURN') < rules.indexOf('-A MESHNODE_HOST_INBOUND -p tcp -j REDIRECT --to-ports 15006'));
});

const wl = (over: Partial<Workload>): Workload => ({
  uid: over.name ?? 'w', kind: 'Pod', name: 'w', namespace: 'shop', serviceAccount: 'w', trustDomain: 'cluster.local', addresses: [],
  labels: {}, node: '', protocol: 'HBONE', status: 'Healthy', services: new Map(), namedPorts: new Map(), authorizationPolicies: [], ...over,
});

test('default capture: only the node\'s WorkloadEntry ports inbound; only mesh workloads elsewhere and service VIPs outbound', (t) => {
  const mesh: MeshSnapshot = {
    settings: { trustDomain: 'cluster.local', rootNamespace: 'istio-system' },
    workloads: new Map([
      ['vm', wl({ name: 'vm', kind: 'WorkloadEntry', node: 'vm-1', addresses: ['10.0.0.9'], namedPorts: new Map([['http', 8080]]), services: new Map([['shop/x', new Map([[80, 9090]])]]) })],
      ['other-vm', wl({ name: 'other-vm', kind: 'WorkloadEntry', node: 'vm-2', addresses: ['10.0.0.8'], namedPorts: new Map([['db', 5432]]) })],
      ['pod', wl({ name: 'pod', node: 'n1', addresses: ['10.1.0.5', 'fd00::5'] })],
      ['plain', wl({ name: 'plain', node: 'n1', addresses: ['10.1.0.6'], protocol: 'TCP' })],
    ]),
    services: new Map([['shop/x', { kind: 'Service', name: 'x', namespace: 'shop', hostname: 'x.shop.svc.cluster.local', vips: ['10.96.0.1'], ports: [], subjectAltNames: [] }]]),
    authorizations: new Map(), ambientNamespaces: new Set(['shop']),
  } as MeshSnapshot;
  const s = hostCaptureSpec('vm-1', { excludeInboundPorts: [], excludeOutboundCidrs: [] }, mesh, { uid: 5, ports: [15020] });
  t.deepEqual(s.inboundPorts, [8080, 9090]);
  t.deepEqual(s.outbound, ['10.0.0.8', '10.1.0.5', '10.96.0.1', 'fd00::5']);
  t.deepEqual(hostCaptureSpec('vm-1', { inboundPorts: '*', outboundCidrs: ['10.0.0.0/8'], excludeInboundPorts: [], excludeOutboundCidrs: [] }, mesh, { uid: 5, ports: [] }).outbound, ['10.0.0.0/8']);
});

test('host flags: lists and * parse; bad entries and flags without --host-mode are usage errors naming the flag', (t) => {
  t.is(parseHostFlags({}), undefined);
  t.deepEqual(parseHostFlags({ 'host-mode': true, 'inbound-ports': '8080,9090', 'outbound-cidrs': '10.0.0.0/8,FD00::1', 'exclude-outbound-cidrs': '10.9.0.1' }), {
    inboundPorts: [8080, 9090], excludeInboundPorts: [], outboundCidrs: ['10.0.0.0/8', 'fd00::1/128'], excludeOutboundCidrs: ['10.9.0.1/32'],
  });
  t.deepEqual(parseHostFlags({ 'host-mode': true, 'inbound-ports': '*', 'outbound-cidrs': '*' }), { inboundPorts: '*', excludeInboundPorts: [], outboundCidrs: '*', excludeOutboundCidrs: [] });
  t.throws(() => parseHostFlags({ 'inbound-ports': '80' }), { instanceOf: UsageError, message: /--inbound-ports applies only with --host-mode/ });
  t.throws(() => parseHostFlags({ 'host-mode': true, 'inbound-ports': '80,,81' }), { instanceOf: UsageError, message: /--inbound-ports.*empty entry/ });
  t.throws(() => parseHostFlags({ 'host-mode': true, 'exclude-inbound-ports': '70000' }), { instanceOf: UsageError, message: /--exclude-inbound-ports/ });
  t.throws(() => parseHostFlags({ 'host-mode': true, 'outbound-cidrs': '10.0.0.0/33' }), { instanceOf: UsageError, message: /--outbound-cidrs.*prefix length/ });
});
