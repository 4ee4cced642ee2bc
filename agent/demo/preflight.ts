import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** What the demo needs on the machine, and the Debian package that provides it. */
function requirements(cniDir: string): { what: string; paths: string[]; pkg: string }[] {
  return [
    { what: 'ip', paths: ['ip'], pkg: 'iproute2' },
    { what: 'nsenter and setpriv', paths: ['nsenter', 'setpriv'], pkg: 'util-linux' },
    { what: 'iptables-restore and ip6tables-restore', paths: ['iptables-restore', 'iptables-save', 'ip6tables-restore', 'ip6tables-save'], pkg: 'iptables' },
    { what: 'CNI plugins bridge, static, loopback', paths: ['bridge', 'static', 'loopback'].map((p) => `${cniDir}/${p}`), pkg: 'containernetworking-plugins' },
  ];
}

const SEARCH = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];

function executable(path: string): boolean {
  const candidates = path.startsWith('/') ? [path] : SEARCH.filter(Boolean).map((d) => join(d, path));
  return candidates.some((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Problems that stop the demo before it touches anything, each with the fix; [] when ready. */
export function preflight(cniDir = '/usr/lib/cni', isRoot = process.getuid?.() === 0): string[] {
  const problems: string[] = [];
  if (!isRoot) {
    problems.push('meshnode demo creates network namespaces and iptables rules, so it must run as root: sudo meshnode demo');
  }
  const missing = requirements(cniDir).filter((r) => !r.paths.every(executable));
  for (const r of missing) problems.push(`${r.what} not found: install the Debian package ${r.pkg}`);
  if (missing.length > 0) {
    problems.push(`for example, as root: apt-get install -y ${missing.map((r) => r.pkg).join(' ')}`);
  }
  return problems;
}
