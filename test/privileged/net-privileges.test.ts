import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { privilegedTest } from '../helpers/privileged.js';
import { repoRoot } from '../helpers/paths.js';
import { checkNetPrivileges } from '../../agent/net/index.js';

const script = `import('${resolve(repoRoot, 'build/agent/net/index.js')}').then((m) => {
  process.stdout.write(JSON.stringify(m.checkNetPrivileges().map((e) => [e.capability, e.message])));
});`;

function privilegesWithout(caps: string[]): [string, string][] {
  const drop = caps.length ? [`--drop=${caps.join(',')}`] : [];
  const out = execFileSync('capsh', [...drop, '--', '-c', `exec ${process.execPath} --input-type=module -e "$0"`, script], { encoding: 'utf8' });
  return JSON.parse(out) as [string, string][];
}

privilegedTest('the privilege check passes for root with every capability', (t) => {
  t.deepEqual(checkNetPrivileges(), []);
  t.deepEqual(privilegesWithout([]), []);
  return Promise.resolve();
}, ['capsh']);

const cases: [string[], string[]][] = [
  [['cap_sys_admin'], ['CAP_SYS_ADMIN']],
  // Linux ≥ 5.17 lets CAP_NET_RAW set marks too, so both must go for SO_MARK to fail.
  [['cap_net_admin', 'cap_net_raw'], ['CAP_NET_ADMIN']],
  [['cap_sys_admin', 'cap_net_admin', 'cap_net_raw'], ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN']],
];

for (const [drop, expected] of cases) {
  privilegedTest(`without ${drop.join(' and ')} the privilege check names ${expected.join(' and ')}`, (t) => {
    const missing = privilegesWithout(drop);
    t.deepEqual(missing.map(([cap]) => cap), expected);
    for (const [cap, message] of missing) t.regex(message, new RegExp(`missing privilege ${cap}`));
    return Promise.resolve();
  }, ['capsh']);
}
