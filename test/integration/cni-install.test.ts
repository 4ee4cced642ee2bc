import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { eventually } from '../helpers/eventually.js';
import { repoRoot } from '../helpers/paths.js';

interface Install {
  bin: string;
  confDir: string;
  run: () => string;
  /** Starts `install-cni.sh --watch` (repair every 0.1 s); resolves with a stop that sends SIGTERM and waits. */
  watch: () => Promise<{ stop: () => Promise<{ code: number | null; out: string }> }>;
}

function install(t: import('ava').ExecutionContext, conf: Record<string, string>): Install {
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-install-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [bin, confDir] = [join(dir, 'bin'), join(dir, 'conf')];
  mkdirSync(bin);
  mkdirSync(confDir);
  for (const [name, text] of Object.entries(conf)) writeFileSync(join(confDir, name), text);
  const env = { ...process.env, CNI_BIN_DIR: bin, CNI_CONF_DIR: confDir, MESHNODE_HOME: repoRoot, NODE_BIN: process.execPath,
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  const watchEnv = { ...env, CNI_REPAIR_INTERVAL: '0.1', INSTALL_LOCK: join(dir, 'run', 'cni-install.lock') };
  return {
    bin, confDir,
    run: () => execFileSync('sh', [join(repoRoot, 'deploy/install-cni.sh')], { env, encoding: 'utf8' }),
    async watch() {
      const child = spawn('sh', [join(repoRoot, 'deploy/install-cni.sh'), '--watch'], { env: watchEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
      child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      t.teardown(() => { child.kill('SIGKILL'); });
      await eventually(() => { if (!out.includes('install-cni: watching') || !hasEntry(confDir)) throw new Error(`not watching yet: ${out}`); });
      return { stop: async () => { child.kill('SIGTERM'); return { code: await exited, out }; } };
    },
  };
}

/** Whether the first conflist in `confDir` has the meshnode-cni entry. */
function hasEntry(confDir: string): boolean {
  const first = readdirSync(confDir).filter((f) => f.endsWith('.conflist')).sort()[0];
  if (!first) return false;
  const list = JSON.parse(readFileSync(join(confDir, first), 'utf8')) as { plugins: { type: string }[] };
  return list.plugins.some((p) => p.type === 'meshnode-cni');
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

const FLANNEL = JSON.stringify({ cniVersion: '1.0.0', name: 'cbr0', plugins: [{ type: 'flannel' }, { type: 'portmap' }] });

test('the watching install step repairs the entry after the primary CNI rewrites the file, and removes it on SIGTERM', async (t) => {
  const { confDir, watch } = install(t, { '10-flannel.conflist': FLANNEL });
  const installer = await watch();
  // The primary CNI writes its own config again, without our entry (as flannel does on restart).
  writeFileSync(join(confDir, '10-flannel.conflist'), FLANNEL);
  t.false(hasEntry(confDir));
  await eventually(() => { if (!hasEntry(confDir)) throw new Error('entry not repaired'); }, 5_000);
  // A half-written file (not JSON) is survived and repaired once it is whole again.
  writeFileSync(join(confDir, '10-flannel.conflist'), FLANNEL.slice(0, 20));
  writeFileSync(join(confDir, '10-flannel.conflist'), FLANNEL);
  await eventually(() => { if (!hasEntry(confDir)) throw new Error('entry not repaired'); }, 5_000);
  const { code, out } = await installer.stop();
  t.is(code, 0, out);
  t.false(hasEntry(confDir), out);
  t.deepEqual(JSON.parse(readFileSync(join(confDir, '10-flannel.conflist'), 'utf8')).plugins, [{ type: 'flannel' }, { type: 'portmap' }]);
});

test('during a rolling update the old install step leaves the entry to the new one; the last one removes it', async (t) => {
  const { confDir, watch } = install(t, { '10-flannel.conflist': FLANNEL });
  const old = await watch();
  const next = await watch();
  const first = await old.stop();
  t.is(first.code, 0, first.out);
  t.regex(first.out, /another install-cni runs on this node/);
  t.true(hasEntry(confDir), 'the new install step still needs the entry');
  const last = await next.stop();
  t.is(last.code, 0, last.out);
  t.false(hasEntry(confDir), last.out);
});
