import test from 'ava';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { meshnodeBin, repoRoot } from '../helpers/paths.js';
import { missingTools } from '../helpers/privileged.js';

/**
 * The unit files verified by systemd itself, at the paths they are installed to: a throwaway root
 * laid out as `npm install -g` and the packages leave a Debian host (/usr/bin/meshnode → the
 * package's dist/agent/main.js under /usr/lib/node_modules, /bin/kill, /etc/default), with the
 * system's own unit library so the default dependencies resolve.
 */
const run = promisify(execFile);
const UNITS = readdirSync(join(repoRoot, 'systemd')).filter((f) => f.endsWith('.service'));
const missing = missingTools(['systemd-analyze']);

function installedRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'meshnode-units-'));
  const pkg = join(root, 'usr/lib/node_modules/meshnode/dist/agent');
  mkdirSync(pkg, { recursive: true });
  for (const d of ['usr/bin', 'usr/lib/systemd', 'etc/systemd/system', 'etc/default', 'bin']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(meshnodeBin, join(pkg, 'main.js'));
  chmodSync(join(pkg, 'main.js'), 0o755);
  symlinkSync('../lib/node_modules/meshnode/dist/agent/main.js', join(root, 'usr/bin/meshnode'));
  cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
  copyFileSync('/bin/kill', join(root, 'bin/kill'));
  chmodSync(join(root, 'bin/kill'), 0o755);
  for (const f of ['meshnode-agent', 'meshnode-ca']) writeFileSync(join(root, 'etc/default', f), '');
  for (const u of UNITS) copyFileSync(join(repoRoot, 'systemd', u), join(root, 'etc/systemd/system', u));
  return root;
}

for (const unit of UNITS) {
  const title = `systemd-analyze verify passes for ${unit} installed in /etc/systemd/system`;
  if (missing.length > 0) {
    test.skip(`${title} [skipped: missing ${missing.join(', ')}]`, () => {});
    continue;
  }
  test(title, async (t) => {
    const root = installedRoot();
    t.teardown(() => rmSync(root, { recursive: true, force: true }));
    const result = await run('systemd-analyze', ['verify', `--root=${root}`, `/etc/systemd/system/${unit}`]).then(
      (r) => ({ code: 0, stderr: r.stderr }), (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }));
    t.is(result.stderr.trim(), '', 'systemd-analyze reported problems');
    t.is(result.code, 0);
  });
}

test('the host-mode unit runs the agent as a dedicated user with only the capabilities it needs, Type=notify', (t) => {
  const unit = readFileSync(join(repoRoot, 'systemd', 'meshnode-agent-host.service'), 'utf8');
  t.regex(unit, /^Type=notify$/m);
  t.regex(unit, /^User=meshnode$/m);
  t.regex(unit, /^AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW$/m);
  t.regex(unit, /^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW$/m);
  t.regex(unit, /^ExecStart=\/usr\/bin\/meshnode agent --host-mode /m);
});
