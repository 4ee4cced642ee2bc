import test from 'ava';
import { parseCniArgs, parseCniEnv } from '../../cni/env.js';
import { CniError } from '../../cni/errors.js';
import { DEFAULT_AGENT_SOCKET, parseNetConf } from '../../cni/netconf.js';

const base = { cniVersion: '1.0.0', name: 'k8s-pod-network', type: 'meshnode-cni' };

function cniError(t: import('ava').ExecutionContext, fn: () => unknown): CniError {
  const err = t.throws(fn);
  t.true(err instanceof CniError, String(err));
  return err as CniError;
}

test('a minimal config gets the documented defaults', (t) => {
  const c = parseNetConf(JSON.stringify(base));
  t.is(c.agentSocket, DEFAULT_AGENT_SOCKET);
  t.is(c.agentTimeoutMs, 10_000);
  t.is(c.logLevel, 'info');
  t.is(c.logFile, undefined);
  t.deepEqual(c.excludeNamespaces, []);
  t.is(c.probeAddress, '169.254.7.127');
  t.true(c.hostProbeSnat);
  t.is(c.prevResult, undefined);
});

test('own keys are read and pod IPs come from prevResult in canonical form', (t) => {
  const c = parseNetConf(JSON.stringify({
    ...base, agentSocket: '/run/m/cni.sock', agentTimeoutSeconds: 2, logFile: '/var/log/m.log', logLevel: 'debug',
    excludeNamespaces: ['kube-system'], probeAddressV6: 'FD16:0::1',
    prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24', interface: 2 }, { address: 'FD00::0005/64' }] },
  }));
  t.is(c.agentSocket, '/run/m/cni.sock');
  t.is(c.agentTimeoutMs, 2000);
  t.is(c.logFile, '/var/log/m.log');
  t.is(c.logLevel, 'debug');
  t.deepEqual(c.excludeNamespaces, ['kube-system']);
  t.is(c.probeAddressV6, 'fd16::1');
  t.deepEqual(c.prevResult!.ips, ['10.1.0.5', 'fd00::5']);
});

test('unknown keys (ipam, runtimeConfig, other plugins\' fields) are accepted', (t) => {
  t.notThrows(() => parseNetConf(JSON.stringify({ ...base, ipam: {}, runtimeConfig: { portMappings: [] }, somethingElse: 1 })));
});

test('bad JSON is a decode failure (code 6)', (t) => {
  const err = cniError(t, () => parseNetConf('{"cniVersion": '));
  t.is(err.cniCode, 6);
  t.regex(err.details, /not valid JSON/);
});

const invalid: [string, Record<string, unknown>, RegExp][] = [
  ['missing cniVersion', { name: 'n', type: 't' }, /^cniVersion: required$/],
  ['empty name', { ...base, name: '' }, /^name: must be a non-empty string/],
  ['relative agentSocket', { ...base, agentSocket: 'cni.sock' }, /^agentSocket: must be an absolute path, got "cni.sock"$/],
  ['non-string agentSocket', { ...base, agentSocket: 5 }, /^agentSocket: must be a non-empty string, got 5$/],
  ['zero timeout', { ...base, agentTimeoutSeconds: 0 }, /^agentTimeoutSeconds: must be a positive number/],
  ['unknown log level', { ...base, logLevel: 'verbose' }, /^logLevel: must be one of debug, info, warn, error, got "verbose"$/],
  ['relative log file', { ...base, logFile: 'cni.log' }, /^logFile: must be an absolute path/],
  ['excludeNamespaces not a list', { ...base, excludeNamespaces: 'kube-system' }, /^excludeNamespaces: must be a list of strings/],
  ['excludeNamespaces entry', { ...base, excludeNamespaces: ['a', 3] }, /^excludeNamespaces\[1\]: must be a non-empty string, got 3$/],
  ['hostProbeSnat as a string', { ...base, hostProbeSnat: 'yes' }, /^hostProbeSnat: must be true or false, got "yes"$/],
  ['IPv6 probeAddress', { ...base, probeAddress: 'fd00::1' }, /^probeAddress: must be an IPv4 address/],
  ['prevResult not an object', { ...base, prevResult: [] }, /^prevResult: must be an object/],
  ['prevResult.ips not a list', { ...base, prevResult: { ips: {} } }, /^prevResult.ips: must be a list$/],
  ['address without prefix', { ...base, prevResult: { ips: [{ address: '10.0.0.1' }] } }, /^prevResult.ips\[0\].address: must be an address in CIDR form/],
  ['garbage address', { ...base, prevResult: { ips: [{ address: '10.0.0.1/24' }, { address: 'x/1' }] } }, /^prevResult.ips\[1\].address/],
];

for (const [what, doc, pattern] of invalid) {
  test(`invalid config is code 7 with a path-qualified message: ${what}`, (t) => {
    const err = cniError(t, () => parseNetConf(JSON.stringify(doc)));
    t.is(err.cniCode, 7);
    t.regex(err.details, pattern);
  });
}

test('every problem in the config is reported at once', (t) => {
  const err = cniError(t, () => parseNetConf(JSON.stringify({ ...base, agentSocket: 'x', logLevel: 'loud', probeAddress: 'nope' })));
  t.is(err.details.split('; ').length, 3);
});

test('CNI_ARGS yields the pod namespace, name and uid, ignoring unknown keys', (t) => {
  t.deepEqual(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=11-22'),
    { namespace: 'default', name: 'pod1', uid: '11-22' });
  t.deepEqual(parseCniArgs('K8S_POD_NAME=x;FOO=bar'), { namespace: undefined, name: 'x', uid: undefined });
  t.deepEqual(parseCniArgs(''), { namespace: undefined, name: undefined, uid: undefined });
});

test('a CNI_ARGS pair without "=" is an environment error (code 4)', (t) => {
  const err = cniError(t, () => parseCniArgs('K8S_POD_NAME'));
  t.is(err.cniCode, 4);
});

const envCases: [string, NodeJS.ProcessEnv, RegExp | undefined][] = [
  ['VERSION needs nothing else', { CNI_COMMAND: 'VERSION' }, undefined],
  ['ADD lists every missing variable', { CNI_COMMAND: 'ADD' }, /^required env variables \[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME\] missing$/],
  ['CHECK needs the netns', { CNI_COMMAND: 'CHECK', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0' }, /\[CNI_NETNS\]/],
  ['DEL does not need the netns', { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0' }, undefined],
  ['GC needs CNI_PATH', { CNI_COMMAND: 'GC' }, /\[CNI_PATH\]/],
  ['missing command', {}, /CNI_COMMAND/],
  ['unknown command', { CNI_COMMAND: 'UPDATE' }, /unknown CNI_COMMAND "UPDATE"/],
  ['bad container id', { CNI_COMMAND: 'DEL', CNI_CONTAINERID: '-bad', CNI_IFNAME: 'eth0' }, /invalid CNI_CONTAINERID/],
];

for (const [what, env, pattern] of envCases) {
  test(`environment: ${what}`, (t) => {
    if (!pattern) {
      t.notThrows(() => parseCniEnv(env));
      return;
    }
    const err = cniError(t, () => parseCniEnv(env));
    t.is(err.cniCode, 4);
    t.regex(err.message, pattern);
  });
}
