import test from 'ava';
import { runMeshnode } from '../helpers/meshnode-cli.js';

/** `--kube` is a mesh source like `--config` and `--xds-address`: exactly one, or a usage error (exit 2). */
const cases: Array<[string, string[], RegExp]> = [
  ['--kube with --config', ['--kube', '--config', '/etc/mesh.yaml'], /--config and --kube are alternative mesh sources; give one/],
  ['--kubeconfig without --kube', ['--config', '/etc/mesh.yaml', '--kubeconfig', '/root/.kube/config'], /--kubeconfig needs --kube/],
];
for (const [title, flags, message] of cases) {
  test(`meshnode agent: ${title} is a usage error`, async (t) => {
    const run = await runMeshnode(['agent', ...flags, '--node', 'n1']);
    t.is(run.code, 2, run.stderr);
    t.regex(run.stderr, message);
  });
}

/** `--workers` is a count of event loops: a whole number from 1 to 64, or a usage error naming it. */
for (const bad of ['0', '65', '2.5', 'two', '-1', ' 2', '0x2', '']) {
  test(`meshnode agent: --workers "${bad}" is a usage error`, async (t) => {
    const run = await runMeshnode(['agent', '--config', '/etc/mesh.yaml', '--node', 'n1', '--ca-address', '127.0.0.1:1', `--workers=${bad}`]);
    t.is(run.code, 2, run.stderr);
    t.regex(run.stderr, new RegExp(`--workers must be a whole number from 1 to 64, got "${bad.replace('.', '\\.')}"`));
  });
}
