import test from 'ava';
import { preflight } from '../../agent/demo/preflight.js';

test('without the CNI plugins the demo names the Debian package to install', (t) => {
  const problems = preflight('/nonexistent/cni', true);
  t.true(problems.includes('CNI plugins bridge, static, loopback not found: install the Debian package containernetworking-plugins'), problems.join('\n'));
  t.regex(problems.at(-1)!, /^for example, as root: apt-get install -y .*containernetworking-plugins$/);
});

test('not being root is reported first, with the command to use', (t) => {
  t.regex(preflight('/nonexistent/cni', false)[0]!, /must run as root: sudo meshnode demo/);
});
