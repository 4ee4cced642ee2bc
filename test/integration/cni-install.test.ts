import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';

function install(t: import('ava').ExecutionContext, conf: Record<string, string>): { bin: string; confDir: string; run: () => string } {
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-install-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [bin, confDir] = [join(dir, 'bin'), join(dir, 'conf')];
  mkdirSync(bin);
  mkdirSync(confDir);
  for (const [name, text] of Object.entries(conf)) writeFileSync(join(confDir, name), text);
  const env = { ...process.env, CNI_BIN_DIR: bin, CNI_CONF_DIR: confDir, MESHNODE_HOME: repoRoot, NODE_BIN: process.execPath,
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  return { bin, confDir, run: () => execFileSync('sh', [join(repoRoot, 'deploy/install-cni.sh')], { env, encoding: 'utf8' }) };
}

test('the install step appends meshnode-cni to the first conflist and keeps its cniVersion', (t) => {
  const { confDir, run } = install(t, {
    '10-flannel.conflist': JSON.stringify({ cniVersion: '0.3.1', name: 'cbr0', plugins: [{ type: 'flannel' }, { type: 'portmap' }] }),
    '99-later.conflist': JSON.stringify({ cniVersion: '1.0.0', name: 'x', plugins: [{ type: 'ptp' }] }),
  });
  run();
  const list = JSON.parse(readFileSync(join(confDir, '10-flannel.conflist'), 'utf8'));
  t.is(list.cniVersion, '0.3.1');
  t.deepEqual(list.plugins.map((p: { type: string }) => p.type), ['flannel', 'portmap', 'meshnode-cni']);
  t.is(list.plugins[2].agentSocket, '/var/run/meshnode/cni.sock');
  t.deepEqual(list.plugins[2].excludeNamespaces, ['kube-system']);
  t.deepEqual(JSON.parse(readFileSync(join(confDir, '99-later.conflist'), 'utf8')).plugins, [{ type: 'ptp' }]);
});

test('a single-plugin .conf becomes a .conflist with the old plugin first', (t) => {
  const { confDir, run } = install(t, { '10-bridge.conf': JSON.stringify({ cniVersion: '0.4.0', name: 'k8s', type: 'bridge', bridge: 'cni0' }) });
  run();
  t.deepEqual(readdirSync(confDir), ['10-bridge.conflist']);
  const list = JSON.parse(readFileSync(join(confDir, '10-bridge.conflist'), 'utf8'));
  t.deepEqual(list.plugins[0], { type: 'bridge', bridge: 'cni0' });
  t.is(list.name, 'k8s');
});

test('running the install twice leaves one meshnode-cni entry, and the installed plugin runs on its own', (t) => {
  const { bin, confDir, run } = install(t, { '05-net.conflist': JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'bridge' }] }) });
  run();
  run();
  const list = JSON.parse(readFileSync(join(confDir, '05-net.conflist'), 'utf8'));
  t.is(list.plugins.filter((p: { type: string }) => p.type === 'meshnode-cni').length, 1);
  const out = execFileSync(join(bin, 'meshnode-cni'), { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}', encoding: 'utf8' });
  t.is(JSON.parse(out).cniVersion, '1.0.0');
});

test('with no CNI config yet the install fails with a message saying why', (t) => {
  const { run } = install(t, {});
  const err = t.throws(run) as Error & { stderr: string };
  t.regex(err.stderr, /no CNI config in .* yet/);
});
