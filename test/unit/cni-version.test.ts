import test from 'ava';
import { runPlugin } from '../../cni/plugin.js';
import { compareVersions, requireCommandVersion, requireSupportedVersion, SUPPORTED_VERSIONS } from '../../cni/version.js';
import { CniError } from '../../cni/errors.js';

test('VERSION echoes the requested version and lists the supported ones', async (t) => {
  const out = await runPlugin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
  t.is(out.exitCode, 0);
  t.deepEqual(JSON.parse(out.stdout), { cniVersion: '0.4.0', supportedVersions: [...SUPPORTED_VERSIONS] });
});

test('VERSION without stdin answers for 1.0.0', async (t) => {
  const out = await runPlugin({ CNI_COMMAND: 'VERSION' }, '');
  t.is(JSON.parse(out.stdout).cniVersion, '1.0.0');
});

test('1.0.0 and 0.4.0 are supported; the set includes the spec versions runtimes use', (t) => {
  for (const v of ['0.3.1', '0.4.0', '1.0.0', '1.1.0']) t.notThrows(() => requireSupportedVersion(v));
});

for (const v of ['0.2.0', '1.2.0', '2.0.0', 'latest']) {
  test(`config cniVersion ${v} is refused with code 1 listing the supported versions`, async (t) => {
    const out = await runPlugin({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0' },
      JSON.stringify({ cniVersion: v, name: 'n', type: 'meshnode-cni' }));
    t.is(out.exitCode, 1);
    const e = JSON.parse(out.stdout);
    t.is(e.code, 1);
    t.is(e.cniVersion, v);
    t.regex(e.details, /supports 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0/);
  });
}

const gates: [string, string, boolean][] = [
  ['CHECK', '0.3.1', false], ['CHECK', '0.4.0', true], ['CHECK', '1.0.0', true],
  ['STATUS', '1.0.0', false], ['STATUS', '1.1.0', true], ['GC', '0.4.0', false], ['GC', '1.1.0', true],
  ['ADD', '0.3.0', true], ['DEL', '1.1.0', true],
];
for (const [command, v, allowed] of gates) {
  test(`${command} ${allowed ? 'is' : 'is not'} allowed at cniVersion ${v}`, (t) => {
    if (allowed) t.notThrows(() => requireCommandVersion(command, v));
    else t.is((t.throws(() => requireCommandVersion(command, v)) as CniError).cniCode, 1);
  });
}

test('versions compare numerically, not as text', (t) => {
  t.true(compareVersions('0.10.0', '0.4.0') > 0);
  t.true(compareVersions('0.4.0', '1.0.0') < 0);
  t.is(compareVersions('1.0.0', '1.0.0'), 0);
});

test('a pod without Kubernetes CNI_ARGS passes prevResult through unchanged, touching nothing', async (t) => {
  const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/x' }], ips: [{ interface: 0, address: '10.0.0.2/24', gateway: '10.0.0.1' }], dns: {} };
  const out = await runPlugin({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/nonexistent', CNI_IFNAME: 'eth0' },
    JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'meshnode-cni', agentSocket: '/nonexistent/cni.sock', logFile: '/dev/null', prevResult: prev }));
  t.is(out.exitCode, 0);
  t.is(out.stdout, JSON.stringify(prev));
});

test('ADD without prevResult prints a bare result with only cniVersion', async (t) => {
  const out = await runPlugin({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/nonexistent', CNI_IFNAME: 'eth0' },
    JSON.stringify({ cniVersion: '0.4.0', name: 'n', type: 'meshnode-cni', logFile: '/dev/null' }));
  t.deepEqual(JSON.parse(out.stdout), { cniVersion: '0.4.0' });
});

test('an excluded namespace is passed through without asking the agent', async (t) => {
  const out = await runPlugin({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/nonexistent', CNI_IFNAME: 'eth0', CNI_ARGS: 'K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=dns' },
    JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'meshnode-cni', agentSocket: '/nonexistent/cni.sock', logFile: '/dev/null', excludeNamespaces: ['kube-system'] }));
  t.is(out.exitCode, 0);
});

test('ADD for a Kubernetes pod with no agent listening fails with code 11 naming the socket', async (t) => {
  const out = await runPlugin({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/nonexistent', CNI_IFNAME: 'eth0', CNI_ARGS: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web' },
    JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'meshnode-cni', agentSocket: '/nonexistent/cni.sock', logFile: '/dev/null' }));
  t.is(out.exitCode, 1);
  const e = JSON.parse(out.stdout);
  t.is(e.code, 11);
  t.regex(e.msg, /meshnode agent unreachable/);
  t.regex(e.details, /\/nonexistent\/cni\.sock/);
});

test('STATUS (1.1.0) reports code 50 while no agent answers on the socket', async (t) => {
  const out = await runPlugin({ CNI_COMMAND: 'STATUS' },
    JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'meshnode-cni', agentSocket: '/nonexistent/cni.sock', logFile: '/dev/null' }));
  t.is(out.exitCode, 1);
  t.like(JSON.parse(out.stdout), { cniVersion: '1.1.0', code: 50 });
});

test('GC (1.1.0) succeeds with no output: the plugin keeps no per-attachment state', async (t) => {
  const out = await runPlugin({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' },
    JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'meshnode-cni', logFile: '/dev/null', 'cni.dev/valid-attachments': [] }));
  t.deepEqual(out, { exitCode: 0, stdout: '' });
});
