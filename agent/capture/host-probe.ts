import { createHash } from 'node:crypto';
import { run } from './exec.js';
import { parseIptablesSave } from '../base/netfilter/saved-rules.js';

/**
 * Host side of the probe exemption, as in istio-cni: connections that local host processes
 * (kubelet probes) open to an enrolled pod are SNATed to the probe address, which the in-pod rules
 * let through uncaptured. Forwarded traffic has no local socket and is untouched. Istio keeps the
 * pod IPs in an ipset; meshnode-cni keeps one rule per pod IP, tagged with the pod UID, in its own
 * chain — no ipset tool needed on the node, and DEL can find a pod's rules by UID alone.
 */
export const HOST_CHAIN = 'MESHNODE_POSTRT';

/** iptables keeps at most 255 characters of a comment; longer UIDs are tagged by their hash. */
function comment(uid: string): string {
  const plain = `meshnode pod ${uid}`;
  return plain.length <= 200 ? plain : `meshnode pod sha256:${createHash('sha256').update(uid).digest('hex')}`;
}

/** The per-pod rule exactly as iptables-save prints it. */
export function probeSnatRule(ip: string, uid: string, probeAddress: string): string {
  const prefix = ip.includes(':') ? 128 : 32;
  return `-A ${HOST_CHAIN} -d ${ip}/${prefix} -p tcp -m owner --socket-exists -m comment --comment "${comment(uid)}" -j SNAT --to-source ${probeAddress}`;
}

async function update(family: 4 | 6, lines: (saved: ReturnType<typeof parseIptablesSave>) => string[]): Promise<void> {
  const bin = family === 4 ? 'iptables' : 'ip6tables';
  const save = await run(`${bin}-save`, ['-t', 'nat']);
  if (save.code !== 0) throw new Error(`${bin}-save -t nat: ${save.stderr}`);
  const body = lines(parseIptablesSave(save.stdout));
  if (body.length === 0) return;
  const r = await run(`${bin}-restore`, ['--noflush', '--wait'], ['*nat', ...body, 'COMMIT', ''].join('\n'));
  if (r.code !== 0) throw new Error(`${bin}-restore (host probe SNAT): ${r.stderr}`);
}

/** Adds the pod's SNAT rules (and the chain and its jump on first use); idempotent. */
export async function addProbeSnat(ips: readonly string[], uid: string, probe: { v4: string; v6: string }): Promise<void> {
  for (const family of [4, 6] as const) {
    const mine = ips.filter((ip) => ip.includes(':') === (family === 6));
    if (mine.length === 0) continue;
    const attempt = () => update(family, (saved) => {
      const nat = saved.get('nat');
      const out: string[] = [];
      if (!nat?.chains.has(HOST_CHAIN)) out.push(`-N ${HOST_CHAIN}`);
      if (!nat?.rules.includes(`-A POSTROUTING -j ${HOST_CHAIN}`)) out.push(`-I POSTROUTING 1 -j ${HOST_CHAIN}`);
      for (const ip of mine) {
        const rule = probeSnatRule(ip, uid, family === 4 ? probe.v4 : probe.v6);
        if (!nat?.rules.includes(rule)) out.push(rule);
      }
      return out;
    });
    // Two pods added at once may both try to create the chain; the second try sees it.
    await attempt().catch(() => attempt());
  }
}

/** Removes every SNAT rule tagged with the pod's UID; absent rules are fine. */
export async function removeProbeSnat(uid: string): Promise<void> {
  for (const family of [4, 6] as const) {
    await update(family, (saved) => (saved.get('nat')?.rules ?? [])
      .filter((r) => r.startsWith(`-A ${HOST_CHAIN} `) && r.includes(`--comment "${comment(uid)}"`))
      .map((r) => r.replace(/^-A /, '-D ')));
  }
}

/** What is missing of the pod's host probe SNAT rules ([] = all present). */
export async function checkProbeSnat(ips: readonly string[], uid: string, probe: { v4: string; v6: string }): Promise<string[]> {
  const problems: string[] = [];
  for (const family of [4, 6] as const) {
    const mine = ips.filter((ip) => ip.includes(':') === (family === 6));
    if (mine.length === 0) continue;
    const bin = family === 4 ? 'iptables' : 'ip6tables';
    const save = await run(`${bin}-save`, ['-t', 'nat']);
    const nat = parseIptablesSave(save.stdout).get('nat');
    if (!nat?.rules.includes(`-A POSTROUTING -j ${HOST_CHAIN}`)) problems.push(`${bin}: nat POSTROUTING has no jump to ${HOST_CHAIN}`);
    for (const ip of mine) {
      if (!nat?.rules.includes(probeSnatRule(ip, uid, family === 4 ? probe.v4 : probe.v6))) problems.push(`${bin}: no probe SNAT rule for ${ip}`);
    }
  }
  return problems;
}
